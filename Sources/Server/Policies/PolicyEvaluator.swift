public import Foundation
public import Scan

/// The verdict of an image under the policies in scope: `fail` when an enabled `fail`
/// policy has a violation, else `warn` when a `warn` policy has one, else `pass`.
public enum PolicyVerdict: String, Sendable, Hashable, Codable, CaseIterable {
    case pass, warn, fail
}

/// What the evaluator reads of one finding.
public struct PolicyFinding: Sendable, Hashable {
    /// The finding's stable id within its scan (`scanId:seq` in the API).
    public var id: String
    public var vulnerabilityId: String
    public var severity: Severity
    public var fixable: Bool
    public var packageName: String
    public var packageVersion: String
    public var purl: String
    public var kev: Bool
    public var epssPercentile: Double?
    /// When the vulnerability was first seen in this image's repository (nil: unknown, then
    /// the scan's own time stands in).
    public var firstSeen: Date?

    public init(
        id: String, vulnerabilityId: String, severity: Severity, fixable: Bool, packageName: String, packageVersion: String,
        purl: String, kev: Bool = false, epssPercentile: Double? = nil, firstSeen: Date? = nil
    ) {
        self.id = id
        self.vulnerabilityId = vulnerabilityId
        self.severity = severity
        self.fixable = fixable
        self.packageName = packageName
        self.packageVersion = packageVersion
        self.purl = purl
        self.kev = kev
        self.epssPercentile = epssPercentile
        self.firstSeen = firstSeen
    }
}

/// A triage decision that excepts a vulnerability (WONT_FIX or NOT_AFFECTED, organization-wide
/// or on this image), with its expiry.
public struct PolicyException: Sendable, Hashable {
    public var vulnerabilityId: String
    public var expiresAt: Date?

    public init(vulnerabilityId: String, expiresAt: Date?) {
        self.vulnerabilityId = vulnerabilityId
        self.expiresAt = expiresAt
    }

    public func inForce(at now: Date) -> Bool { expiresAt.map { $0 > now } ?? true }
}

/// Which enrichment feeds the server holds: a `kev` or `epss` rule cannot tell "not in the
/// catalog" from "no catalog", so without the feed it reports `noData` instead of passing.
public struct PolicyEnrichment: Sendable, Hashable {
    public var kev: Bool
    public var epss: Bool
    public init(kev: Bool, epss: Bool) {
        self.kev = kev
        self.epss = epss
    }
}

/// One rule broken by one finding (or, for `count`, by the image).
public struct PolicyViolation: Sendable, Hashable, Codable {
    public var policyId: String
    public var policyName: String
    public var action: PolicyAction
    public var ruleIndex: Int
    public var ruleType: String
    public var findingId: String?
    public var vulnerabilityId: String?
    public var package: String?
    public var reason: String
}

/// A rule that could not be evaluated because its data is absent.
public struct PolicyNoData: Sendable, Hashable, Codable {
    public var policyId: String
    public var policyName: String
    public var ruleIndex: Int
    public var ruleType: String
    public var reason: String
}

public struct PolicyEvaluation: Sendable, Hashable {
    public var verdict: PolicyVerdict
    public var violations: [PolicyViolation]
    public var noData: [PolicyNoData]
    /// The ids of the policies that were evaluated (enabled and in scope).
    public var policyIds: [String]
}

public enum PolicyEvaluator {
    /// At most this many violations are kept per rule: a `severity` rule over 10,000 findings
    /// tells as much with its first 100 (the count says the rest).
    public static let violationsPerRule = 100

    /// Evaluates `policies` (already filtered to those in scope; disabled ones are skipped)
    /// over an image's findings. Pure: the same inputs give the same verdict.
    public static func evaluate(
        policies: [Policy], findings: [PolicyFinding], exceptions: [PolicyException], enrichment: PolicyEnrichment,
        now: Date
    ) -> PolicyEvaluation {
        let excepted = Set(exceptions.lazy.filter { $0.inForce(at: now) }.map(\.vulnerabilityId))
        let open = excepted.isEmpty ? findings : findings.filter { !excepted.contains($0.vulnerabilityId) }
        var violations: [PolicyViolation] = []
        var noData: [PolicyNoData] = []
        var verdict = PolicyVerdict.pass
        var evaluated: [String] = []
        // Package rules compare version-less purls: one per distinct purl (a package has many
        // findings), not one per finding and rule.
        var bare: [String: String] = [:]
        for policy in policies where policy.enabled {
            evaluated.append(policy.id)
            var broken = false
            for (index, rule) in policy.rules.enumerated() {
                func violation(_ f: PolicyFinding?, _ reason: String) -> PolicyViolation {
                    PolicyViolation(
                        policyId: policy.id, policyName: policy.name, action: policy.action, ruleIndex: index, ruleType: rule.type,
                        findingId: f?.id, vulnerabilityId: f?.vulnerabilityId, package: f.map { "\($0.packageName)@\($0.packageVersion)" },
                        reason: reason)
                }
                var found: [PolicyViolation] = []
                func each(_ reason: (PolicyFinding) -> String?) {
                    for f in open {
                        guard let r = reason(f) else { continue }
                        found.append(violation(f, r))
                        if found.count >= violationsPerRule { break }
                    }
                }
                switch rule {
                case .severity(let level, let fixableOnly):
                    each { f in
                        guard f.severity >= level, !fixableOnly || f.fixable else { return nil }
                        return "\(f.severity.rawValue) finding at or above \(level.rawValue)\(fixableOnly ? " with a fix" : "")"
                    }
                case .kev:
                    if !enrichment.kev {
                        noData.append(PolicyNoData(policyId: policy.id, policyName: policy.name, ruleIndex: index, ruleType: rule.type,
                                                   reason: "no KEV data: the server holds no CISA KEV catalog"))
                    } else {
                        each { $0.kev ? "in CISA KEV (known exploited)" : nil }
                    }
                case .epss(let percentile):
                    if !enrichment.epss {
                        noData.append(PolicyNoData(policyId: policy.id, policyName: policy.name, ruleIndex: index, ruleType: rule.type,
                                                   reason: "no EPSS data: the server holds no EPSS scores"))
                    } else {
                        each { f in
                            guard let p = f.epssPercentile, p >= percentile else { return nil }
                            return "EPSS percentile \(format(p)) at or above \(format(percentile))"
                        }
                    }
                case .sla(let severity, let days):
                    let limit = TimeInterval(days) * 86_400
                    each { f in
                        guard f.severity >= severity else { return nil }
                        let since = f.firstSeen ?? now
                        let age = now.timeIntervalSince(since)
                        guard age > limit else { return nil }
                        return "\(f.severity.rawValue) finding open \(Int(age / 86_400)) days (SLA \(days) days)"
                    }
                case .package(let purl, let versions):
                    let scheme = PolicyRule.scheme(forPurl: purl)
                    each { f in
                        let name: String
                        if let known = bare[f.purl] {
                            name = known
                        } else {
                            name = PolicyRule.versionless(f.purl)
                            bare[f.purl] = name
                        }
                        guard name == purl else { return nil }
                        if let versions, !versions.contains(f.packageVersion, scheme: scheme) { return nil }
                        return "denied package \(purl)\(versions.map { " \($0.text)" } ?? "") (installed \(f.packageVersion))"
                    }
                case .count(let severity, let max):
                    let n = open.reduce(0) { $0 + ($1.severity >= severity ? 1 : 0) }
                    if n > max {
                        found.append(violation(nil, "\(n) findings at or above \(severity.rawValue) (at most \(max))"))
                    }
                }
                if !found.isEmpty { broken = true }
                violations += found
            }
            if broken {
                if policy.action == .fail { verdict = .fail } else if verdict == .pass { verdict = .warn }
            }
        }
        return PolicyEvaluation(verdict: verdict, violations: violations, noData: noData, policyIds: evaluated)
    }

    static func format(_ p: Double) -> String {
        String(format: "%.2f", p)
    }
}
