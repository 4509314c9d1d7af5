import Foundation
import Store
public import Scan

/// What a policy does to an image that breaks one of its rules.
public enum PolicyAction: String, Sendable, Hashable, Codable, CaseIterable {
    case fail, warn
}

/// Which images a policy applies to; an empty list means "any".
public struct PolicyScope: Sendable, Hashable {
    public var registryIds: [String]
    public var repositories: [Glob]
    public var tags: [Glob]

    public init(registryIds: [String] = [], repositories: [Glob] = [], tags: [Glob] = []) {
        self.registryIds = registryIds
        self.repositories = repositories
        self.tags = tags
    }

    /// Whether an image (its registry, repository and any of its tags) is in scope. An image
    /// without tags (pushed by digest) is in scope of a tag-scoped policy only when no tag
    /// globs are given.
    public func contains(registryId: String, repository: String, tags imageTags: [String]) -> Bool {
        if !registryIds.isEmpty && !registryIds.contains(registryId) { return false }
        if !repositories.isEmpty && !repositories.contains(where: { $0.matches(repository) }) { return false }
        if !tags.isEmpty && !imageTags.contains(where: { t in tags.contains { $0.matches(t) } }) { return false }
        return true
    }
}

/// A version range in a package's own ordering: comma-separated comparisons that must all
/// hold (`<5.4`, `>=1.0,<2.0`, `=1.2.3`).
public struct VersionRange: Sendable, Hashable {
    public enum Op: String, Sendable, Hashable { case lt = "<", le = "<=", gt = ">", ge = ">=", eq = "=", ne = "!=" }
    public var bounds: [(op: Op, version: String)] { zip(ops, versions).map { ($0, $1) } }
    let ops: [Op]
    let versions: [String]
    public let text: String

    /// Parses `text`; nil with a reason when it is not a range.
    public static func parse(_ text: String) -> Result<VersionRange, RangeError> {
        var ops: [Op] = []
        var versions: [String] = []
        let parts = text.split(separator: ",", omittingEmptySubsequences: false)
        guard parts.count <= 10 else { return .failure(RangeError(reason: "at most 10 comparisons")) }
        for raw in parts {
            let part = raw.trimmingCharacters(in: .whitespaces)
            var op: Op?
            for candidate in ["<=", ">=", "!=", "==", "<", ">", "="] where part.hasPrefix(candidate) {
                op = candidate == "==" ? .eq : Op(rawValue: candidate)
                let v = part.dropFirst(candidate.count).trimmingCharacters(in: .whitespaces)
                guard !v.isEmpty, !v.contains(where: { $0 == " " || $0 == "<" || $0 == ">" || $0 == "=" }) else {
                    return .failure(RangeError(reason: "'\(part)' has no version after \(candidate)"))
                }
                versions.append(v)
                break
            }
            guard let op else {
                return .failure(RangeError(reason: "'\(part)' does not start with <, <=, >, >=, = or !="))
            }
            ops.append(op)
        }
        return .success(VersionRange(ops: ops, versions: versions, text: text))
    }

    public struct RangeError: Error, Sendable { public var reason: String }

    /// Whether `version` satisfies every comparison under `scheme`.
    public func contains(_ version: String, scheme: VersionScheme) -> Bool {
        for (op, bound) in zip(ops, versions) {
            let c = scheme.compare(version, bound)
            let ok: Bool
            switch op {
            case .lt: ok = c < 0
            case .le: ok = c <= 0
            case .gt: ok = c > 0
            case .ge: ok = c >= 0
            case .eq: ok = c == 0
            case .ne: ok = c != 0
            }
            if !ok { return false }
        }
        return true
    }

    public static func == (l: VersionRange, r: VersionRange) -> Bool { l.text == r.text }
    public func hash(into h: inout Hasher) { h.combine(text) }
}

/// One rule of a policy, in exactly the API's JSON shape.
public enum PolicyRule: Sendable, Hashable {
    /// A finding at or above `level` (only fixable ones when `fixableOnly`).
    case severity(level: Severity, fixableOnly: Bool)
    /// Any finding in CISA KEV.
    case kev
    /// A finding whose EPSS percentile is at or above `percentile`.
    case epss(percentile: Double)
    /// A finding at or above `severity` first seen in the repository more than `days` ago.
    case sla(severity: Severity, days: Int)
    /// A package (purl without version) in an optional version range.
    case package(purl: String, versions: VersionRange?)
    /// More than `max` findings at or above `severity`.
    case count(severity: Severity, max: Int)

    public static let types = ["severity", "kev", "epss", "sla", "package", "count"]

    public var type: String {
        switch self {
        case .severity: "severity"
        case .kev: "kev"
        case .epss: "epss"
        case .sla: "sla"
        case .package: "package"
        case .count: "count"
        }
    }

    /// The rule as the API shows it.
    public var json: JSONValue {
        switch self {
        case .severity(let level, let fixableOnly):
            .object(["type": .string("severity"), "level": .string(level.rawValue), "fixableOnly": .bool(fixableOnly)])
        case .kev:
            .object(["type": .string("kev")])
        case .epss(let p):
            .object(["type": .string("epss"), "percentile": .number(p)])
        case .sla(let severity, let days):
            .object(["type": .string("sla"), "severity": .string(severity.rawValue), "days": .number(Double(days))])
        case .package(let purl, let versions):
            .object(["type": .string("package"), "purl": .string(purl)].merging(versions.map { ["versions": .string($0.text)] } ?? [:]) { a, _ in a })
        case .count(let severity, let max):
            .object(["type": .string("count"), "severity": .string(severity.rawValue), "max": .number(Double(max))])
        }
    }

    /// The version ordering of a purl's type (`pkg:pypi/…` → PEP 440).
    public static func scheme(forPurl purl: String) -> VersionScheme {
        let type = purl.dropFirst("pkg:".count).split(separator: "/", maxSplits: 1).first.map { $0.lowercased() } ?? ""
        switch type {
        case "deb": return .dpkg
        case "apk": return .apk
        case "rpm": return .rpm
        case "pypi": return .pep440
        case "npm", "golang", "cargo", "nuget", "hex", "pub", "composer": return .semver
        case "maven": return .maven
        case "gem": return .rubygems
        default: return .generic
        }
    }

    /// A purl without its version, qualifiers and subpath, lowercased: what a `package` rule
    /// compares.
    public static func versionless(_ purl: String) -> String {
        var s = Substring(purl)
        if let i = s.firstIndex(where: { $0 == "?" || $0 == "#" }) { s = s[..<i] }
        // The version follows the last '@' of the name part (a scope's '@' is percent-encoded
        // in a purl, and in npm's raw form it directly follows a '/').
        if let at = s.lastIndex(of: "@"), at > s.startIndex, s[s.index(before: at)] != "/" { s = s[..<at] }
        return s.lowercased()
    }
}

/// A stored policy.
public struct Policy: Sendable, Hashable {
    public var id: String
    public var name: String
    public var enabled: Bool
    public var action: PolicyAction
    public var scope: PolicyScope
    public var rules: [PolicyRule]

    public init(id: String, name: String, enabled: Bool = true, action: PolicyAction, scope: PolicyScope = PolicyScope(), rules: [PolicyRule]) {
        self.id = id
        self.name = name
        self.enabled = enabled
        self.action = action
        self.scope = scope
        self.rules = rules
    }
}
