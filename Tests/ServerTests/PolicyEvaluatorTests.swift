import Foundation
import Scan
import Server
import Testing

/// The policy evaluator: one table per rule type, exceptions and their expiry, and the "no
/// data" report of enrichment rules.
@Suite struct PolicyEvaluatorTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)
    static let day: TimeInterval = 86_400
    static let full = PolicyEnrichment(kev: true, epss: true)

    static func finding(
        _ id: String, _ vuln: String, _ severity: Severity, fixable: Bool = false, purl: String = "pkg:deb/debian/openssl@3.0.1",
        version: String = "3.0.1", kev: Bool = false, epss: Double? = nil, firstSeen: Date? = nil
    ) -> PolicyFinding {
        PolicyFinding(
            id: id, vulnerabilityId: vuln, severity: severity, fixable: fixable, packageName: "p", packageVersion: version, purl: purl,
            kev: kev, epssPercentile: epss, firstSeen: firstSeen)
    }

    static func verdict(
        _ rule: PolicyRule, _ findings: [PolicyFinding], action: PolicyAction = .fail, exceptions: [PolicyException] = [],
        enrichment: PolicyEnrichment = full
    ) -> PolicyEvaluation {
        PolicyEvaluator.evaluate(
            policies: [Policy(id: "pol_1", name: "gate", action: action, rules: [rule])], findings: findings, exceptions: exceptions,
            enrichment: enrichment, now: now)
    }

    struct Case: Sendable, CustomStringConvertible {
        var rule: PolicyRule
        var findings: [PolicyFinding]
        var expected: PolicyVerdict
        var violating: [String]
        var note: String
        var description: String { note }
    }

    static let cases: [Case] = [
        Case(rule: .severity(level: .high, fixableOnly: false), findings: [finding("1", "CVE-1", .medium)], expected: .pass, violating: [], note: "severity below level"),
        Case(rule: .severity(level: .high, fixableOnly: false), findings: [finding("1", "CVE-1", .high), finding("2", "CVE-2", .critical), finding("3", "CVE-3", .low)],
             expected: .fail, violating: ["1", "2"], note: "severity at and above level"),
        Case(rule: .severity(level: .high, fixableOnly: true), findings: [finding("1", "CVE-1", .critical), finding("2", "CVE-2", .high, fixable: true)],
             expected: .fail, violating: ["2"], note: "fixableOnly skips findings without a fix"),
        Case(rule: .kev, findings: [finding("1", "CVE-1", .low), finding("2", "CVE-2", .low, kev: true)], expected: .fail, violating: ["2"], note: "kev"),
        Case(rule: .kev, findings: [finding("1", "CVE-1", .critical)], expected: .pass, violating: [], note: "kev: none in the catalog"),
        Case(rule: .epss(percentile: 0.9), findings: [finding("1", "CVE-1", .low, epss: 0.89), finding("2", "CVE-2", .low, epss: 0.9), finding("3", "CVE-3", .low)],
             expected: .fail, violating: ["2"], note: "epss at or above; a finding without a score never matches"),
        Case(rule: .sla(severity: .critical, days: 7),
             findings: [finding("1", "CVE-1", .critical, firstSeen: now - 8 * day), finding("2", "CVE-2", .critical, firstSeen: now - 6 * day),
                        finding("3", "CVE-3", .high, firstSeen: now - 30 * day), finding("4", "CVE-4", .critical)],
             expected: .fail, violating: ["1"], note: "sla: older than the days, at or above the severity; unknown first-seen is now"),
        Case(rule: .package(purl: "pkg:pypi/pyyaml", versions: try! VersionRange.parse("<5.4").get()),
             findings: [finding("1", "CVE-1", .low, purl: "pkg:pypi/pyyaml@5.3.1", version: "5.3.1"),
                        finding("2", "CVE-2", .low, purl: "pkg:pypi/pyyaml@5.4", version: "5.4"),
                        finding("3", "CVE-3", .low, purl: "pkg:pypi/pyyaml-include@1.0", version: "1.0")],
             expected: .fail, violating: ["1"], note: "package below a bound (PEP 440)"),
        Case(rule: .package(purl: "pkg:pypi/pyyaml", versions: try! VersionRange.parse("<5.4").get()),
             findings: [finding("1", "CVE-1", .low, purl: "pkg:pypi/pyyaml@5.10", version: "5.10")],
             expected: .pass, violating: [], note: "package: 5.10 is above 5.4 in the package's ordering, not the string's"),
        Case(rule: .package(purl: "pkg:deb/debian/openssl", versions: try! VersionRange.parse(">=3.0.0, <3.0.11-1~deb12u1").get()),
             findings: [finding("1", "CVE-1", .low, purl: "pkg:deb/debian/openssl@3.0.11-1~deb12u1?arch=amd64", version: "3.0.11-1~deb12u1"),
                        finding("2", "CVE-2", .low, purl: "pkg:deb/debian/openssl@3.0.11~rc1?arch=amd64", version: "3.0.11~rc1")],
             expected: .fail, violating: ["2"], note: "package: a range in dpkg ordering (~ sorts first)"),
        Case(rule: .package(purl: "pkg:npm/lodash", versions: nil),
             findings: [finding("1", "CVE-1", .low, purl: "pkg:npm/lodash@4.17.20", version: "4.17.20")],
             expected: .fail, violating: ["1"], note: "package without a range denies every version"),
        Case(rule: .count(severity: .high, max: 2), findings: [finding("1", "CVE-1", .high), finding("2", "CVE-2", .critical), finding("3", "CVE-3", .medium)],
             expected: .pass, violating: [], note: "count at max"),
        Case(rule: .count(severity: .high, max: 1), findings: [finding("1", "CVE-1", .high), finding("2", "CVE-2", .critical)],
             expected: .fail, violating: [""], note: "count over max: one image-wide violation"),
    ]

    @Test(arguments: cases) func eachRule(_ c: Case) {
        let result = Self.verdict(c.rule, c.findings)
        #expect(result.verdict == c.expected)
        #expect(result.violations.map { $0.findingId ?? "" } == c.violating)
        #expect(result.violations.allSatisfy { $0.policyId == "pol_1" && $0.policyName == "gate" && $0.ruleIndex == 0 && $0.ruleType == c.rule.type })
        #expect(result.noData.isEmpty)
    }

    @Test func warnPoliciesWarnAndFailWins() {
        let f = [Self.finding("1", "CVE-1", .critical)]
        #expect(Self.verdict(.severity(level: .high, fixableOnly: false), f, action: .warn).verdict == .warn)
        let both = PolicyEvaluator.evaluate(
            policies: [Policy(id: "w", name: "w", action: .warn, rules: [.kev]),
                       Policy(id: "f", name: "f", action: .fail, rules: [.severity(level: .low, fixableOnly: false)]),
                       Policy(id: "off", name: "off", enabled: false, action: .fail, rules: [.count(severity: .low, max: 0)])],
            findings: [Self.finding("1", "CVE-1", .critical, kev: true)], exceptions: [], enrichment: Self.full, now: Self.now)
        #expect(both.verdict == .fail)
        #expect(Set(both.violations.map(\.policyId)) == ["w", "f"])
        #expect(both.policyIds == ["w", "f"])
    }

    @Test func exceptionsInForceNeverViolateAndExpiredOnesDo() {
        let f = [Self.finding("1", "CVE-1", .critical, kev: true), Self.finding("2", "CVE-2", .low)]
        let rule = PolicyRule.severity(level: .high, fixableOnly: false)
        #expect(Self.verdict(rule, f, exceptions: [PolicyException(vulnerabilityId: "CVE-1", expiresAt: nil)]).verdict == .pass)
        #expect(Self.verdict(rule, f, exceptions: [PolicyException(vulnerabilityId: "CVE-1", expiresAt: Self.now + 60)]).verdict == .pass)
        let expired = Self.verdict(rule, f, exceptions: [PolicyException(vulnerabilityId: "CVE-1", expiresAt: Self.now - 60)])
        #expect(expired.verdict == .fail)
        #expect(expired.violations.map(\.vulnerabilityId) == ["CVE-1"])
        // An excepted finding does not count towards a count rule either.
        #expect(Self.verdict(.count(severity: .low, max: 1), f, exceptions: [PolicyException(vulnerabilityId: "CVE-2", expiresAt: nil)]).verdict == .pass)
        #expect(Self.verdict(.kev, f, exceptions: [PolicyException(vulnerabilityId: "CVE-1", expiresAt: nil)]).verdict == .pass)
    }

    @Test func enrichmentRulesReportNoDataInsteadOfPassing() {
        let f = [Self.finding("1", "CVE-1", .critical, kev: false)]
        let kev = Self.verdict(.kev, f, enrichment: PolicyEnrichment(kev: false, epss: true))
        #expect(kev.verdict == .pass)
        #expect(kev.violations.isEmpty)
        #expect(kev.noData.map(\.ruleType) == ["kev"])
        #expect(kev.noData.first?.reason.contains("no KEV data") == true)
        let epss = Self.verdict(.epss(percentile: 0.5), f, enrichment: PolicyEnrichment(kev: true, epss: false))
        #expect(epss.noData.map(\.ruleType) == ["epss"])
        #expect(Self.verdict(.kev, f).noData.isEmpty)
    }

    @Test func violationsPerRuleAreBounded() {
        let many = (0..<10_000).map { Self.finding("\($0)", "CVE-\($0)", .high) }
        let result = Self.verdict(.severity(level: .low, fixableOnly: false), many)
        #expect(result.verdict == .fail)
        #expect(result.violations.count == PolicyEvaluator.violationsPerRule)
    }

    @Test func tenPoliciesOverTenThousandFindings() {
        let findings = (0..<10_000).map {
            Self.finding("\($0)", "CVE-\($0 % 3000)", Severity.allCases[$0 % 5], fixable: $0 % 2 == 0, purl: "pkg:pypi/pkg\($0 % 500)@1.\($0 % 7)",
                         version: "1.\($0 % 7)", kev: $0 % 97 == 0, epss: Double($0 % 100) / 100, firstSeen: Self.now - Double($0 % 60) * Self.day)
        }
        let rules: [PolicyRule] = [.severity(level: .critical, fixableOnly: true), .kev, .epss(percentile: 0.95), .sla(severity: .high, days: 30),
                                   .package(purl: "pkg:pypi/pkg7", versions: try! VersionRange.parse(">=1.0,<1.5").get()), .count(severity: .high, max: 100)]
        let policies = (0..<10).map { Policy(id: "p\($0)", name: "p\($0)", action: $0 % 2 == 0 ? .fail : .warn, rules: [rules[$0 % rules.count], rules[($0 + 1) % rules.count]]) }
        let exceptions = (0..<200).map { PolicyException(vulnerabilityId: "CVE-\($0 * 7)", expiresAt: $0 % 2 == 0 ? nil : Self.now - 1) }
        // Timing belongs in the benchmarks; here the large evaluation's outcome is checked.
        let result = PolicyEvaluator.evaluate(policies: policies, findings: findings, exceptions: exceptions, enrichment: Self.full, now: Self.now)
        #expect(result.verdict == .fail)
        #expect(!result.violations.isEmpty && result.noData.isEmpty)
        #expect(Dictionary(grouping: result.violations, by: { "\($0.policyId)#\($0.ruleIndex)" }).values.allSatisfy { $0.count <= PolicyEvaluator.violationsPerRule })
    }

    @Test(arguments: [
        ("<5.4", "5.3", true), ("<5.4", "5.4", false), (">=1.0,<2.0", "1.9.9", true), (">=1.0,<2.0", "2.0", false),
        (">=1.0,<2.0", "0.9", false), ("=1.2.3", "1.2.3", true), ("==1.2.3", "1.2.4", false), ("!=1.0", "1.0", false), ("<=2", "2.0", true),
    ])
    func versionRanges(_ text: String, _ version: String, _ inside: Bool) throws {
        let range = try VersionRange.parse(text).get()
        #expect(range.contains(version, scheme: .pep440) == inside)
    }

    @Test(arguments: ["", "5.4", "<", ">=1.0,", "~>1.0", "<1.0 <2.0"])
    func badRanges(_ text: String) {
        #expect(throws: VersionRange.RangeError.self) { try VersionRange.parse(text).get() }
    }

    @Test func purlsLoseTheirVersionQualifiersAndSubpath() {
        #expect(PolicyRule.versionless("pkg:pypi/PyYAML@5.3?x=1#sub") == "pkg:pypi/pyyaml")
        #expect(PolicyRule.versionless("pkg:npm/%40scope/name@1.0.0") == "pkg:npm/%40scope/name")
        #expect(PolicyRule.versionless("pkg:deb/debian/openssl@3.0.11-1~deb12u1?arch=amd64&distro=debian-12") == "pkg:deb/debian/openssl")
        #expect(PolicyRule.scheme(forPurl: "pkg:pypi/pyyaml") == .pep440)
        #expect(PolicyRule.scheme(forPurl: "pkg:deb/debian/openssl") == .dpkg)
        #expect(PolicyRule.scheme(forPurl: "pkg:maven/org.apache/commons") == .maven)
    }

    @Test func scopes() throws {
        let scope = PolicyScope(registryIds: ["reg_a"], repositories: [try Glob("team/*", repository: true)], tags: [try Glob("release-*")])
        #expect(scope.contains(registryId: "reg_a", repository: "team/app", tags: ["latest", "release-1"]))
        #expect(!scope.contains(registryId: "reg_b", repository: "team/app", tags: ["release-1"]))
        #expect(!scope.contains(registryId: "reg_a", repository: "other/app", tags: ["release-1"]))
        #expect(!scope.contains(registryId: "reg_a", repository: "team/app", tags: ["latest"]))
        #expect(!scope.contains(registryId: "reg_a", repository: "team/app", tags: []))
        #expect(PolicyScope().contains(registryId: "reg_x", repository: "any", tags: []))
    }
}
