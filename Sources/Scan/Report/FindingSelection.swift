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
        var out = findings
        sort(&out)
        return out
    }

    /// Sorts in place. Each finding's numeric keys (priority, severity, EPSS) are taken once
    /// into a small contiguous array and indices are sorted by them, reaching the findings'
    /// strings (id, package) only to break ties, by borrowing; the findings are then moved
    /// into place along the permutation's cycles (moves, not copies: no reference counting of
    /// their strings and arrays).
    public func sort(_ findings: inout [Finding]) {
        let count = findings.count
        guard count > 1 else { return }
        let order = self
        let permutation = findings.withUnsafeBufferPointer { buf in
            var numeric: [NumericKey] = []
            numeric.reserveCapacity(count)
            for i in 0..<count { numeric.append(NumericKey(buf[i])) }
            return numeric.withUnsafeBufferPointer { keys in
                Array(0..<count).sorted { i, j in
                    let c = Self.compare(i, j, keys, buf, order)
                    return c != 0 ? c < 0 : i < j
                }
            }
        }
        // Position k receives the finding at permutation[k].
        var placed = [Bool](repeating: false, count: count)
        findings.withUnsafeMutableBufferPointer { buf in
            guard let base = buf.baseAddress else { return }
            for start in 0..<count where !placed[start] {
                placed[start] = true
                guard permutation[start] != start else { continue }
                let first = (base + start).move()
                var k = start
                while permutation[k] != start {
                    let source = permutation[k]
                    (base + k).moveInitialize(from: base + source, count: 1)
                    placed[source] = true
                    k = source
                }
                (base + k).initialize(to: first)
            }
        }
    }

    /// A finding's numeric sort keys, each ascending in the order findings go: priority rank
    /// (none after P5), severity and EPSS score negated (highest first; no score last).
    struct NumericKey {
        var priority: Int
        var severity: Int
        var epss: Double

        init(_ f: Finding) {
            priority = f.priority?.rank ?? Priority.allCases.count + 1
            severity = -f.severity.rank
            epss = -(f.epss?.score ?? -1)
        }
    }

    /// <0 when finding i goes before finding j. Orders: priority, then severity, EPSS, id,
    /// package; severity, then priority, EPSS, id, package; package, then priority, severity,
    /// EPSS, id.
    private static func compare(
        _ i: Int, _ j: Int, _ k: UnsafeBufferPointer<NumericKey>, _ f: UnsafeBufferPointer<Finding>, _ order: FindingOrder
    ) -> Int {
        let (a, b) = (k[i], k[j])
        switch order {
        case .priority:
            if a.priority != b.priority { return a.priority < b.priority ? -1 : 1 }
            if a.severity != b.severity { return a.severity < b.severity ? -1 : 1 }
            if a.epss != b.epss { return a.epss < b.epss ? -1 : 1 }
            let c = compare(f[i].vulnerabilityId, f[j].vulnerabilityId)
            return c != 0 ? c : byPackage(f, i, j)
        case .severity:
            if a.severity != b.severity { return a.severity < b.severity ? -1 : 1 }
            if a.priority != b.priority { return a.priority < b.priority ? -1 : 1 }
            if a.epss != b.epss { return a.epss < b.epss ? -1 : 1 }
            let c = compare(f[i].vulnerabilityId, f[j].vulnerabilityId)
            return c != 0 ? c : byPackage(f, i, j)
        case .package:
            let c = byPackage(f, i, j)
            if c != 0 { return c }
            if a.priority != b.priority { return a.priority < b.priority ? -1 : 1 }
            if a.severity != b.severity { return a.severity < b.severity ? -1 : 1 }
            if a.epss != b.epss { return a.epss < b.epss ? -1 : 1 }
            return compare(f[i].vulnerabilityId, f[j].vulnerabilityId)
        }
    }

    private static func compare<T: Comparable>(_ a: T, _ b: T) -> Int { a < b ? -1 : (b < a ? 1 : 0) }

    private static func byPackage(_ f: UnsafeBufferPointer<Finding>, _ i: Int, _ j: Int) -> Int {
        let c = compare(f[i].package.name, f[j].package.name)
        if c != 0 { return c }
        let v = compare(f[i].package.version, f[j].package.version)
        return v != 0 ? v : compare(f[i].package.purl, f[j].package.purl)
    }
}
