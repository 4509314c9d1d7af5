import Foundation

/// A finding as the JSON report shows it: the stored fields plus the priority data in the
/// API's shape — `severitySource`, `cvss: {version, vector, score, source}`, `epss: {score,
/// percentile, date}`, `kev: {dateAdded, dueDate, ransomware}`, `priority` — each null when
/// unknown. `cvss` is the rating behind the severity; a finding that only has a score (no
/// vector is known for it) shows that score with null version, vector and source.
public struct FindingDocument: Encodable, Sendable {
    public let finding: Finding

    public init(_ finding: Finding) { self.finding = finding }

    enum Keys: String, CodingKey {
        case vulnerabilityId, aliases, severity, severitySource, cvss, epss, kev, priority, package, fixedVersion, fixState
        case title, references, sources, advisoryIds, matchedBy
        case version, vector, score, source, percentile, date, dateAdded, dueDate, ransomware
    }

    public func encode(to encoder: any Encoder) throws {
        let f = finding
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(f.vulnerabilityId, forKey: .vulnerabilityId)
        try c.encode(f.aliases, forKey: .aliases)
        try c.encode(f.severity, forKey: .severity)
        try Self.encodePriorityFields(
            of: f, into: &c, severitySource: .severitySource, cvss: .cvss, epss: .epss, kev: .kev, priority: .priority)
        try c.encode(f.package, forKey: .package)
        try c.encodeIfPresent(f.fixedVersion, forKey: .fixedVersion)
        try c.encode(f.fixState, forKey: .fixState)
        try c.encodeIfPresent(f.title, forKey: .title)
        try c.encode(f.references, forKey: .references)
        try c.encode(f.sources, forKey: .sources)
        try c.encode(f.advisoryIds, forKey: .advisoryIds)
        try c.encode(f.matchedBy, forKey: .matchedBy)
    }
}

extension FindingDocument {
    /// Writes the priority fields of `f` into `c` under the caller's keys, in the one shape
    /// the CLI report and the API share: `severitySource`, `cvss: {version, vector, score,
    /// source}`, `epss: {score, percentile, date}`, `kev: {dateAdded, dueDate, ransomware}`,
    /// `priority`; each null when unknown.
    public static func encodePriorityFields<K: CodingKey>(
        of f: Finding, into c: inout KeyedEncodingContainer<K>, severitySource: K, cvss: K, epss: K, kev: K, priority: K
    ) throws {
        try c.encode(f.severitySource, forKey: severitySource)
        if let r = f.cvssRating {
            var n = c.nestedContainer(keyedBy: Keys.self, forKey: cvss)
            try n.encode(r.version, forKey: .version)
            try n.encode(r.vector, forKey: .vector)
            try n.encode(r.score, forKey: .score)
            try n.encode(r.source, forKey: .source)
        } else if let score = f.cvss {
            var n = c.nestedContainer(keyedBy: Keys.self, forKey: cvss)
            try n.encodeNil(forKey: .version)
            try n.encodeNil(forKey: .vector)
            try n.encode(score, forKey: .score)
            try n.encodeNil(forKey: .source)
        } else {
            try c.encodeNil(forKey: cvss)
        }
        if let e = f.epss {
            var n = c.nestedContainer(keyedBy: Keys.self, forKey: epss)
            try n.encode(e.score, forKey: .score)
            try n.encode(e.percentile, forKey: .percentile)
            try n.encode(e.date, forKey: .date)
        } else {
            try c.encodeNil(forKey: epss)
        }
        if let k = f.kev {
            var n = c.nestedContainer(keyedBy: Keys.self, forKey: kev)
            try n.encode(k.dateAdded, forKey: .dateAdded)
            try n.encode(k.dueDate, forKey: .dueDate)
            try n.encode(k.ransomware, forKey: .ransomware)
        } else {
            try c.encodeNil(forKey: kev)
        }
        try c.encode(f.effectivePriority, forKey: priority)
    }
}

/// The CLI's JSON report: the scan report with each finding as a ``FindingDocument`` and
/// the fix groups (``FixGroups``) of its findings.
public struct ScanReportDocument: Encodable, Sendable {
    public let report: ImageScanReport

    public init(_ report: ImageScanReport) { self.report = report }

    enum Keys: String, CodingKey {
        case reference, digest, manifestDigest, platform, os, layers, packages, findings, fixGroups, notes, durationMs, scanners, vexSuppressed
    }

    public func encode(to encoder: any Encoder) throws {
        let r = report
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(r.reference, forKey: .reference)
        try c.encode(r.digest, forKey: .digest)
        try c.encode(r.manifestDigest, forKey: .manifestDigest)
        try c.encode(r.platform, forKey: .platform)
        try c.encodeIfPresent(r.os, forKey: .os)
        try c.encode(r.layers, forKey: .layers)
        try c.encode(r.packages, forKey: .packages)
        try c.encode(r.findings.map(FindingDocument.init), forKey: .findings)
        try c.encode(FixGroups.of(r.findings), forKey: .fixGroups)
        try c.encode(r.notes, forKey: .notes)
        try c.encode(r.durationMs, forKey: .durationMs)
        try c.encode(r.scanners, forKey: .scanners)
        try c.encodeIfPresent(r.vexSuppressed, forKey: .vexSuppressed)
    }
}
