import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Scan
import Testing

/// What `harborguard check` prints and exits with, without the binary.
@Suite struct CheckReportTests {
    static func result(verdict: String, violations: [CheckResult.Violation], noData: [CheckResult.NoData] = []) -> CheckResult {
        CheckResult(
            verdict: verdict, image: "reg.test/team/app:1", digest: "sha256:" + String(repeating: "a", count: 64), scanId: "scn_1",
            evaluatedAt: "2026-12-04T10:00:00Z",
            policies: [
                .init(id: "pol_a", name: "gate <\"prod\"> & 'co'", action: "fail", rules: [.init(index: 0, type: "kev"), .init(index: 1, type: "severity")]),
                .init(id: "pol_w", name: "advice", action: "warn", rules: [.init(index: 0, type: "epss")]),
            ],
            violations: violations, noData: noData)
    }

    static let hostile = CheckResult.Violation(
        policyId: "pol_a", policyName: "gate <\"prod\"> & 'co'", action: "fail", rule: .init(index: 0, type: "kev"),
        findingId: "scn_1:1", vulnerabilityId: "CVE-2099-1", package: "evil</failure><x a=\"1\">&amp;\u{1}\u{FFFF}@1.0",
        reason: "in CISA KEV\nsince <today>")
    static let warning = CheckResult.Violation(
        policyId: "pol_w", policyName: "advice", action: "warn", rule: .init(index: 0, type: "epss"), vulnerabilityId: "CVE-2099-2",
        package: "lib@2", reason: "EPSS percentile 0.99")

    @Test func exitCodesFollowTheVerdictAndFailOn() {
        #expect(CheckReport.exitCode(verdict: "pass", failOn: .fail) == 0)
        #expect(CheckReport.exitCode(verdict: "warn", failOn: .fail) == 0)
        #expect(CheckReport.exitCode(verdict: "warn", failOn: .warn) == 3)
        #expect(CheckReport.exitCode(verdict: "fail", failOn: .fail) == 3)
        #expect(CheckReport.exitCode(verdict: "fail", failOn: .warn) == 3)
        #expect(CheckReport.exitCode(verdict: "something new", failOn: .fail) == 3)
    }

    @Test func escapingKeepsHostileNamesInsideTheirAttributes() throws {
        #expect(CheckReport.attr("a<b>&\"c'\n\t") == "a&lt;b&gt;&amp;&quot;c&apos;&#10;&#9;")
        #expect(CheckReport.text("</failure>\u{0}\u{1B}ok") == "&lt;/failure&gt;\u{FFFD}\u{FFFD}ok")
        let xml = CheckReport.junit(Self.result(verdict: "fail", violations: [Self.hostile, Self.warning]), failOn: .fail)
        // The document parses, and the hostile strings come back as they were (less the characters XML cannot hold).
        let doc = try XMLDocument(data: Data(xml.utf8))
        let cases = try doc.nodes(forXPath: "//testcase") as? [XMLElement] ?? []
        #expect(cases.count == 3)
        #expect(cases[0].attribute(forName: "classname")?.stringValue == "gate <\"prod\"> & 'co'")
        #expect(cases[0].attribute(forName: "name")?.stringValue == "rule 0: kev")
        let failures = try doc.nodes(forXPath: "//failure") as? [XMLElement] ?? []
        #expect(failures.count == 1)
        #expect(failures[0].attribute(forName: "message")?.stringValue
            == "CVE-2099-1 in evil</failure><x a=\"1\">&amp;\u{FFFD}\u{FFFD}@1.0: in CISA KEV\nsince <today>")
        // The warn-action violation is not a failure without --fail-on warn; its test case says it in system-out.
        #expect(cases[2].elements(forName: "failure").isEmpty)
        #expect(cases[2].elements(forName: "system-out").first?.stringValue?.contains("CVE-2099-2") == true)
        let strict = try XMLDocument(data: Data(CheckReport.junit(Self.result(verdict: "fail", violations: [Self.hostile, Self.warning]), failOn: .warn).utf8))
        #expect((try strict.nodes(forXPath: "//failure")).count == 2)
        #expect(try strict.nodes(forXPath: "/testsuites/@failures").first?.stringValue == "2")
    }

    @Test func aRuleWithoutDataIsSkippedAndNoPolicyIsOnePassingCase() throws {
        let noData = CheckResult.NoData(policyId: "pol_a", policyName: "gate", ruleIndex: 0, ruleType: "kev", reason: "no KEV data")
        let doc = try XMLDocument(data: Data(CheckReport.junit(Self.result(verdict: "pass", violations: [], noData: [noData]), failOn: .fail).utf8))
        #expect((try doc.nodes(forXPath: "//skipped")).count == 1)
        #expect((try doc.nodes(forXPath: "//failure")).isEmpty)
        var none = Self.result(verdict: "pass", violations: [])
        none.policies = []
        let empty = try XMLDocument(data: Data(CheckReport.junit(none, failOn: .fail).utf8))
        #expect((try empty.nodes(forXPath: "//testcase")).count == 1)
    }

    @Test func theTableHasTheVerdictLineThenOneLinePerViolation() {
        let table = CheckReport.table(Self.result(verdict: "fail", violations: [Self.hostile, Self.warning]))
        let lines = table.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines[1].hasPrefix("verdict: FAIL  (2 policies in scope, 2 violations"))
        #expect(lines[3].hasPrefix("POLICY"))
        #expect(lines.filter { $0.contains("CVE-2099") }.count == 2)
        // A newline or control character in a name never breaks the table's lines.
        #expect(!table.contains("\u{1}"))
        #expect(lines.count == 7)
    }
}
