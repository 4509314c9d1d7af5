import Foundation

/// Which findings a report keeps: every condition set must hold.
public struct FindingFilter: Sendable, Hashable {
    /// Only these severities (nil: all).
    public var severities: Set<Severity>?
    /// Only findings with a fixed version.
    public var fixableOnly = false
    /// Only findings in CISA KEV.
    public var kevOnly = false
    /// Only findings whose EPSS score is at least this (0…1); findings without an EPSS score
    /// are left out when it is set.
    public var epssMin: Double?

    public init(severities: Set<Severity>? = nil, fixableOnly: Bool = false, kevOnly: Bool = false, epssMin: Double? = nil) {
        self.severities = severities
        self.fixableOnly = fixableOnly
        self.kevOnly = kevOnly
        self.epssMin = epssMin
    }

    public func includes(_ f: Finding) -> Bool {
        if let severities, !severities.contains(f.severity) { return false }
        if fixableOnly && f.fixedVersion == nil { return false }
        if kevOnly && f.kev == nil { return false }
        if let epssMin {
            guard let score = f.epss?.score, score >= epssMin else { return false }
        }
        return true
    }

    /// Parses an `--epss-min` value: a number from 0 to 1.
    public static func epssThreshold(_ text: String) -> Double? {
        guard let v = Double(text.trimmingCharacters(in: .whitespaces)), (0...1).contains(v) else { return nil }
        return v
    }
}

/// The orders a findings list can be sorted in.
public enum FindingOrder: String, Sendable, CaseIterable {
    /// Priority (P1 first, none last), then severity (highest first), then EPSS score
    /// (highest first, none last), then vulnerability id.
    case priority
    /// Severity (highest first), then priority, then EPSS score, then vulnerability id.
    case severity
    /// Package name, then installed version, then priority, severity and vulnerability id.
    case package

    public func sorted(_ findings: [Finding]) -> [Finding] {
        // Indices are sorted, not the (large) findings themselves, and the keys are compared
        // in a fixed order without building anything per comparison.
        let order = self
        let indices = findings.withUnsafeBufferPointer { buf in
            findings.indices.sorted { i, j in
                let c = Self.compare(buf[i], buf[j], order)
                return c != 0 ? c < 0 : i < j
            }
        }
        return indices.map { findings[$0] }
    }

    /// The keys of each order, in turn (built once, not per comparison).
    private static let priorityKeys: [@Sendable (Finding, Finding) -> Int] = [byPriority, bySeverity, byEPSS, byID, byPackage]
    private static let severityKeys: [@Sendable (Finding, Finding) -> Int] = [bySeverity, byPriority, byEPSS, byID, byPackage]
    private static let packageKeys: [@Sendable (Finding, Finding) -> Int] = [byPackage, byPriority, bySeverity, byEPSS, byID]

    private static func compare(_ a: Finding, _ b: Finding, _ order: FindingOrder) -> Int {
        let keys = switch order {
        case .priority: priorityKeys
        case .severity: severityKeys
        case .package: packageKeys
        }
        for key in keys {
            let c = key(a, b)
            if c != 0 { return c }
        }
        return 0
    }

    // Each comparison answers <0 when the first finding goes first.
    private static func compare<T: Comparable>(_ a: T, _ b: T) -> Int { a < b ? -1 : (b < a ? 1 : 0) }

    private static func byPriority(_ a: Finding, _ b: Finding) -> Int {
        compare(a.priority?.rank ?? Priority.allCases.count + 1, b.priority?.rank ?? Priority.allCases.count + 1)
    }

    private static func bySeverity(_ a: Finding, _ b: Finding) -> Int { compare(b.severity, a.severity) }

    private static func byEPSS(_ a: Finding, _ b: Finding) -> Int { compare(b.epss?.score ?? -1, a.epss?.score ?? -1) }

    private static func byID(_ a: Finding, _ b: Finding) -> Int { compare(a.vulnerabilityId, b.vulnerabilityId) }

    private static func byPackage(_ a: Finding, _ b: Finding) -> Int {
        let c = compare(a.package.name, b.package.name)
        if c != 0 { return c }
        let v = compare(a.package.version, b.package.version)
        return v != 0 ? v : compare(a.package.purl, b.package.purl)
    }
}
