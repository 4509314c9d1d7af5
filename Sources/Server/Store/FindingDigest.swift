import Crypto
package import Foundation
package import Scan

/// Two stable digests of a finding, stored beside it (`findings.digest`, 32 bytes), so a
/// rematch tells what changed without decoding the stored JSON:
/// - the first 16 bytes cover what the match decides (vulnerability, aliases, the advisory's
///   CVSS, package, fixed version, fix state with won't-fix folded into not-fixed, title,
///   references, sources, advisories, how it matched);
/// - the last 16 what the enrichment feeds decide (severity and its source, the CVSS rating,
///   EPSS, KEV, priority, the exact fix state).
/// Equal digests mean equal stored JSON: every field of ``Finding`` is in one half or the
/// other (a test lists them, so a new field cannot be forgotten).
package enum FindingDigest {
    package static let length = 32

    /// Both halves of `f` (its `priority` as stored: the effective one).
    package static func of(_ f: Finding) -> Data {
        var w = Writer()
        w.string(f.vulnerabilityId)
        w.strings(f.aliases)
        w.double(f.cvss)
        w.string(f.package.name)
        w.string(f.package.version)
        w.string(f.package.type.rawValue)
        w.string(f.package.purl)
        w.string(f.package.layer)
        w.string(f.fixedVersion)
        w.string(f.fixState == .wontFix ? FixState.notFixed.rawValue : f.fixState.rawValue)
        w.string(f.title)
        w.strings(f.references)
        w.strings(f.sources)
        w.strings(f.advisoryIds)
        // Only when set, so findings stored before the field existed keep their digests.
        if let m = f.matchedBy { w.string(m) }
        var out = Data(SHA256.hash(data: w.bytes).prefix(16))
        w.bytes.removeAll(keepingCapacity: true)
        w.string(f.severity.rawValue)
        w.string(f.severitySource?.rawValue)
        w.string(f.fixState.rawValue)
        if let r = f.cvssRating {
            w.string(r.version); w.string(r.vector); w.double(r.score); w.string(r.type); w.string(r.source)
        } else {
            w.bytes.append(0)
        }
        if let e = f.epss {
            w.double(e.score); w.double(e.percentile); w.string(e.date)
        } else {
            w.bytes.append(0)
        }
        if let k = f.kev {
            w.string(k.dateAdded); w.string(k.dueDate); w.bytes.append(k.ransomware ? 1 : 0); w.string(k.requiredAction)
        } else {
            w.bytes.append(0)
        }
        w.string(f.priority?.rawValue)
        out.append(contentsOf: SHA256.hash(data: w.bytes).prefix(16))
        return out
    }

    /// The match half of a stored digest.
    package static func identity(_ digest: Data) -> Data.SubSequence { digest.prefix(16) }

    /// Length-prefixed fields, so no two different findings serialize alike.
    struct Writer {
        var bytes: [UInt8] = []

        init() { bytes.reserveCapacity(512) }

        mutating func string(_ s: String?) {
            guard let s else { bytes.append(0); return }
            bytes.append(1)
            let utf8 = s.utf8
            withUnsafeBytes(of: UInt32(utf8.count).littleEndian) { bytes.append(contentsOf: $0) }
            bytes.append(contentsOf: utf8)
        }

        mutating func strings(_ a: [String]) {
            withUnsafeBytes(of: UInt32(a.count).littleEndian) { bytes.append(contentsOf: $0) }
            for s in a { string(s) }
        }

        mutating func double(_ d: Double?) {
            guard let d else { bytes.append(0); return }
            bytes.append(1)
            withUnsafeBytes(of: d.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
        }
    }
}
