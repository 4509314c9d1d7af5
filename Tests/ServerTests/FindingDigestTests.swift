import Foundation
import Scan
import Store
import Testing

/// ``FindingDigest``: what a rematch compares instead of the stored JSON. Equal digests must
/// mean equal JSON, so every field of a finding is in one half, and each field moves its own half.
@Suite struct FindingDigestTests {
    static func full() -> Finding {
        var f = Finding(
            vulnerabilityId: "CVE-2024-0001", aliases: ["GHSA-1", "PYSEC-1"], severity: .high, cvss: 7.5,
            package: FindingPackage(name: "requests", version: "1.0", type: .python, purl: "pkg:pypi/requests@1.0", layer: "sha256:l"),
            fixedVersion: "2.0", fixState: .fixed, title: "t", references: ["https://a"], sources: ["native"], advisoryIds: ["PYSEC-1"],
            severitySource: .nvd)
        f.cvssRating = CVSSRating(version: "3.1", vector: "CVSS:3.1/AV:N", score: 7.5, type: "Primary", source: "nvd@nist.gov")
        f.epss = EPSSInfo(score: 0.1, percentile: 0.5, date: "2025-01-01")
        f.kev = KEVInfo(dateAdded: "2025-01-01", dueDate: "2025-01-22", ransomware: false, requiredAction: "patch")
        f.priority = .p1
        return f
    }

    /// A new field must be added to the digest (and here): the lists are the types' fields.
    @Test func everyFieldIsCovered() {
        let f = Self.full()
        func labels(_ v: Any) -> [String] { Mirror(reflecting: v).children.compactMap(\.label) }
        #expect(labels(f) == [
            "vulnerabilityId", "aliases", "severity", "cvss", "package", "fixedVersion", "fixState", "title", "references", "sources",
            "advisoryIds", "severitySource", "cvssRating", "epss", "kev", "priority", "matchedBy",
        ])
        #expect(labels(f.package) == ["name", "version", "type", "purl", "layer"])
        #expect(labels(f.cvssRating!) == ["version", "vector", "score", "type", "source"])
        #expect(labels(f.epss!) == ["score", "percentile", "date"])
        #expect(labels(f.kev!) == ["dateAdded", "dueDate", "ransomware", "requiredAction"])
    }

    @Test func eachFieldMovesItsHalf() {
        let base = FindingDigest.of(Self.full())
        #expect(base.count == FindingDigest.length && FindingDigest.of(Self.full()) == base)
        let identity: [(String, (inout Finding) -> Void)] = [
            ("id", { $0.vulnerabilityId = "CVE-2024-0002" }), ("aliases", { $0.aliases = ["GHSA-1"] }),
            ("aliases split", { $0.aliases = ["GHSA-1PYSEC-1"] }), ("cvss", { $0.cvss = nil }),
            ("name", { $0.package.name = "urllib3" }), ("version", { $0.package.version = "1.1" }),
            ("type", { $0.package.type = .npm }), ("purl", { $0.package.purl = "pkg:pypi/requests@1.1" }),
            ("layer", { $0.package.layer = nil }), ("fixed", { $0.fixedVersion = "2.1" }), ("state", { $0.fixState = .unknown }),
            ("title", { $0.title = nil }), ("references", { $0.references = [] }), ("sources", { $0.sources = ["native", "trivy"] }),
            ("advisories", { $0.advisoryIds = ["PYSEC-2"] }), ("matched by", { $0.matchedBy = "nvd-cpe" }),
        ]
        let enrichment: [(String, (inout Finding) -> Void)] = [
            ("severity", { $0.severity = .critical }), ("source", { $0.severitySource = .advisory }),
            ("rating", { $0.cvssRating?.score = 9.8 }), ("rating vector", { $0.cvssRating?.vector = "CVSS:3.1/AV:L" }),
            ("no rating", { $0.cvssRating = nil }), ("epss", { $0.epss?.percentile = 0.97 }), ("epss date", { $0.epss?.date = nil }),
            ("kev due", { $0.kev?.dueDate = nil }), ("ransomware", { $0.kev?.ransomware = true }), ("no kev", { $0.kev = nil }),
            ("priority", { $0.priority = .p2 }),
        ]
        for (name, change) in identity {
            var f = Self.full()
            change(&f)
            let d = FindingDigest.of(f)
            #expect(FindingDigest.identity(d) != FindingDigest.identity(base), "\(name)")
        }
        for (name, change) in enrichment {
            var f = Self.full()
            change(&f)
            let d = FindingDigest.of(f)
            #expect(FindingDigest.identity(d) == FindingDigest.identity(base) && d != base, "\(name)")
        }
        // Won't-fix and not-fixed are the same match (the tracker decides between them).
        var a = Self.full(), b = Self.full()
        a.fixState = .wontFix
        b.fixState = .notFixed
        #expect(FindingDigest.identity(FindingDigest.of(a)) == FindingDigest.identity(FindingDigest.of(b)))
        #expect(FindingDigest.of(a) != FindingDigest.of(b))
    }
}
