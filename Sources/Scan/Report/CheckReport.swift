import Foundation

/// What `POST /api/policy/check` answers with a verdict (`data` of a 200), as
/// `harborguard check` reads it.
public struct CheckResult: Codable, Sendable, Hashable {
    public struct Rule: Codable, Sendable, Hashable {
        public var index: Int
        public var type: String
        public init(index: Int, type: String) {
            self.index = index
            self.type = type
        }
    }
    public struct PolicyRef: Codable, Sendable, Hashable {
        public var id: String
        public var name: String
        public var action: String
        public var rules: [Rule]
        public init(id: String, name: String, action: String, rules: [Rule]) {
            self.id = id
            self.name = name
            self.action = action
            self.rules = rules
        }
    }
    public struct Violation: Codable, Sendable, Hashable {
        public var policyId: String
        public var policyName: String
        public var action: String
        public var rule: Rule
        public var findingId: String?
        public var vulnerabilityId: String?
        public var package: String?
        public var reason: String
        public init(
            policyId: String, policyName: String, action: String, rule: Rule, findingId: String? = nil, vulnerabilityId: String? = nil,
            package: String? = nil, reason: String
        ) {
            self.policyId = policyId
            self.policyName = policyName
            self.action = action
            self.rule = rule
            self.findingId = findingId
            self.vulnerabilityId = vulnerabilityId
            self.package = package
            self.reason = reason
        }
    }
    public struct NoData: Codable, Sendable, Hashable {
        public var policyId: String
        public var policyName: String
        public var ruleIndex: Int
        public var ruleType: String
        public var reason: String
        public init(policyId: String, policyName: String, ruleIndex: Int, ruleType: String, reason: String) {
            self.policyId = policyId
            self.policyName = policyName
            self.ruleIndex = ruleIndex
            self.ruleType = ruleType
            self.reason = reason
        }
    }

    public var verdict: String
    public var image: String
    public var digest: String
    public var scanId: String
    public var evaluatedAt: String
    public var policies: [PolicyRef]
    public var violations: [Violation]
    public var noData: [NoData]

    public init(
        verdict: String, image: String, digest: String, scanId: String, evaluatedAt: String, policies: [PolicyRef],
        violations: [Violation], noData: [NoData]
    ) {
        self.verdict = verdict
        self.image = image
        self.digest = digest
        self.scanId = scanId
        self.evaluatedAt = evaluatedAt
        self.policies = policies
        self.violations = violations
        self.noData = noData
    }
}

/// The reports `harborguard check` writes (table, JUnit XML) and its exit status, testable
/// without the binary.
public enum CheckReport {
    /// The verdict from which the check fails the pipeline: `fail` (the default) or `warn`.
    public enum FailOn: String, Sendable, CaseIterable {
        case fail, warn
    }

    /// Exit statuses: 0 pass (or warn without `--fail-on warn`), 3 a failing verdict, 1 an
    /// error (unreachable server, refused key, registry error, still pending), 64 bad arguments.
    public static let passed: Int32 = 0
    public static let failed: Int32 = 3
    public static let error: Int32 = 1
    public static let usage: Int32 = 64

    /// The exit status of a verdict; an unknown verdict fails rather than passes.
    public static func exitCode(verdict: String, failOn: FailOn) -> Int32 {
        switch verdict {
        case "pass": passed
        case "warn": failOn == .warn ? failed : passed
        default: failed
        }
    }

    /// Whether a violation fails the check (fail-action ones always; warn-action ones with `--fail-on warn`).
    static func fails(_ v: CheckResult.Violation, failOn: FailOn) -> Bool {
        v.action != "warn" || failOn == .warn
    }

    // MARK: Table

    public static func table(_ r: CheckResult) -> String {
        var out = "\(r.image) (\(r.digest))\n"
        let policies = r.policies.count
        out += "verdict: \(r.verdict.uppercased())  (\(policies) polic\(policies == 1 ? "y" : "ies") in scope, "
        out += "\(r.violations.count) violation\(r.violations.count == 1 ? "" : "s"); scan \(r.scanId); evaluated \(r.evaluatedAt))\n"
        if !r.violations.isEmpty {
            let header = ["POLICY", "ACTION", "RULE", "VULNERABILITY", "PACKAGE", "REASON"]
            let rows = r.violations.map { v in
                [v.policyName, v.action, "\(v.rule.index) \(v.rule.type)", v.vulnerabilityId ?? "-", v.package ?? "-", v.reason]
                    .map { oneLine($0) }
            }
            out += "\n" + columns([header] + rows)
        }
        if !r.noData.isEmpty {
            out += "\n"
            for n in r.noData {
                out += oneLine("no data: \(n.policyName) rule \(n.ruleIndex) \(n.ruleType): \(n.reason)") + "\n"
            }
        }
        return out
    }

    /// Control characters (an image's package names are anyone's) shown as spaces; long cells cut.
    static func oneLine(_ s: String, max: Int = 80) -> String {
        let flat = String(String.UnicodeScalarView(s.unicodeScalars.map { $0.properties.generalCategory == .control ? " " : $0 }))
        return flat.count > max ? String(flat.prefix(max - 1)) + "…" : flat
    }

    static func columns(_ rows: [[String]]) -> String {
        guard let first = rows.first else { return "" }
        let widths = (0..<first.count).map { i in rows.map { $0[i].count }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { i, cell in
                i == row.count - 1 ? cell : cell.padding(toLength: widths[i], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }.joined(separator: "\n") + "\n"
    }

    // MARK: JUnit XML

    /// One `<testsuite>` for the image, one `<testcase>` per rule of every policy in scope
    /// (classname the policy's name, name `rule N: type`). Each violation that fails the check
    /// is a `<failure>` of its rule's test case; warn-action violations are `<failure>`s only
    /// with `--fail-on warn`, otherwise they are listed in the test case's `<system-out>` (the
    /// test case passes, as the check does). A rule without its data (kev, epss) and without
    /// violations is `<skipped>` with the reason. No policy in scope: one passing test case
    /// saying so.
    public static func junit(_ r: CheckResult, failOn: FailOn) -> String {
        struct Case { var classname: String, name: String, failures: [CheckResult.Violation], warnings: [CheckResult.Violation], skipped: String? }
        var cases: [Case] = []
        for p in r.policies {
            for rule in p.rules {
                let mine = r.violations.filter { $0.policyId == p.id && $0.rule.index == rule.index }
                let noData = r.noData.first { $0.policyId == p.id && $0.ruleIndex == rule.index }
                cases.append(Case(
                    classname: p.name, name: "rule \(rule.index): \(rule.type)", failures: mine.filter { fails($0, failOn: failOn) },
                    warnings: mine.filter { !fails($0, failOn: failOn) }, skipped: mine.isEmpty ? noData.map { "no data: \($0.reason)" } : nil))
            }
        }
        if cases.isEmpty {
            cases.append(Case(classname: "harborguard", name: "policies in scope", failures: [], warnings: [], skipped: nil))
        }
        let failures = cases.filter { !$0.failures.isEmpty }.count
        let skipped = cases.filter { $0.skipped != nil }.count
        var x = #"<?xml version="1.0" encoding="UTF-8"?>"# + "\n"
        x += #"<testsuites name="harborguard check" tests="\#(cases.count)" failures="\#(failures)" errors="0" skipped="\#(skipped)">"# + "\n"
        x += #"  <testsuite name="\#(attr(r.image))" tests="\#(cases.count)" failures="\#(failures)" errors="0" skipped="\#(skipped)" timestamp="\#(attr(r.evaluatedAt))">"# + "\n"
        x += "    <properties>\n"
        for (name, value) in [("verdict", r.verdict), ("digest", r.digest), ("scanId", r.scanId), ("failOn", failOn.rawValue)] {
            x += #"      <property name="\#(name)" value="\#(attr(value))"/>"# + "\n"
        }
        x += "    </properties>\n"
        for c in cases {
            x += #"    <testcase classname="\#(attr(c.classname))" name="\#(attr(c.name))">"# + "\n"
            if let s = c.skipped { x += #"      <skipped message="\#(attr(s))"/>"# + "\n" }
            for v in c.failures {
                x += #"      <failure message="\#(attr(message(v)))" type="\#(attr(v.rule.type))">\#(text(detail(v)))</failure>"# + "\n"
            }
            if cases.count == 1, c.classname == "harborguard" {
                x += "      <system-out>No enabled policy applies to this image.</system-out>\n"
            }
            if !c.warnings.isEmpty {
                x += "      <system-out>" + text(c.warnings.map { "warning: " + message($0) }.joined(separator: "\n")) + "</system-out>\n"
            }
            x += "    </testcase>\n"
        }
        x += "  </testsuite>\n</testsuites>\n"
        return x
    }

    static func message(_ v: CheckResult.Violation) -> String {
        var subject = [v.vulnerabilityId, v.package.map { "in \($0)" }].compactMap { $0 }.joined(separator: " ")
        if !subject.isEmpty { subject += ": " }
        return subject + v.reason
    }

    static func detail(_ v: CheckResult.Violation) -> String {
        var lines = ["policy: \(v.policyName) (\(v.action))", "rule: \(v.rule.index) \(v.rule.type)"]
        if let id = v.vulnerabilityId { lines.append("vulnerability: \(id)") }
        if let p = v.package { lines.append("package: \(p)") }
        if let f = v.findingId { lines.append("finding: \(f)") }
        lines.append("reason: \(v.reason)")
        return lines.joined(separator: "\n")
    }

    /// Text content: `&`, `<`, `>` escaped; characters XML 1.0 does not allow become U+FFFD.
    public static func text(_ s: String) -> String { escape(s, attribute: false) }

    /// An attribute value in double quotes: also `"` and `'`, and tab, CR and LF as character
    /// references so they survive attribute-value normalization.
    public static func attr(_ s: String) -> String { escape(s, attribute: true) }

    static func escape(_ s: String, attribute: Bool) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for scalar in s.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"" where attribute: out += "&quot;"
            case "'" where attribute: out += "&apos;"
            case "\t" where attribute: out += "&#9;"
            case "\n" where attribute: out += "&#10;"
            case "\r": out += "&#13;"
            case "\t", "\n": out.unicodeScalars.append(scalar)
            default:
                let v = scalar.value
                let allowed = (v >= 0x20 && v <= 0xD7FF) || (v >= 0xE000 && v <= 0xFFFD) || (v >= 0x10000 && v <= 0x10FFFF)
                out.unicodeScalars.append(allowed ? scalar : "\u{FFFD}")
            }
        }
        return out
    }
}
