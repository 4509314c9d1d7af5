import Foundation
import Testing

@testable import Scan

/// Source selection for `db update --source` and the API, content sniffing of every feed
/// kind `db import` takes, and a directory import of all of them next to OSV records.
@Suite struct VulnDBSourcesTests {
    @Test func sourceSelection() throws {
        #expect(try VulnDBSourceSelection.parse([]) == .all)
        #expect(try VulnDBSourceSelection.parse([]).names == ["osv", "nvd", "epss", "kev", "debian-tracker"])
        let some = try VulnDBSourceSelection.parse(["kev,nvd", " EPSS "])
        #expect(!some.osv && some.enrichment == [.nvd, .epss, .kev])
        #expect(try VulnDBSourceSelection.parse(["osv"]) == VulnDBSourceSelection(osv: true, enrichment: []))
        #expect(try VulnDBSourceSelection.parse(["debian-tracker", "debian-tracker"]).names == ["debian-tracker"])
        #expect(throws: VulnDBSourceSelection.UnknownSource(name: "nvdd")) { try VulnDBSourceSelection.parse(["osv,nvdd"]) }
        let message = VulnDBSourceSelection.UnknownSource(name: "x").description
        #expect(message == "unknown source 'x': use one of osv, nvd, epss, kev, debian-tracker")
        #expect(EnrichmentSource.debianTracker.flag == "--debian-tracker-url")
        try EnrichmentUpdater.validate(location: "https://feeds.example.test/nvd")
        try EnrichmentUpdater.validate(location: "file:///srv/mirror")
        try EnrichmentUpdater.validate(location: "/srv/mirror")
        #expect(throws: VulnDBUpdateError.self) { try EnrichmentUpdater.validate(location: "ftp://feeds.example.test/x") }
        #expect(throws: VulnDBUpdateError.self) { try EnrichmentUpdater.validate(location: "relative/dir") }
    }

    static let epssCSV = Data("#model_version:v2025.03.14,score_date:2025-03-20T00:00:00+0000\ncve,epss,percentile\nCVE-2024-0001,0.91,0.995\nCVE-2024-0002,0.01,0.2\n".utf8)
    static func kev() throws -> Data {
        try EnrichmentFeedTests.json([
            "title": "CISA Catalog of Known Exploited Vulnerabilities", "catalogVersion": "2025.03.20", "dateReleased": "2025-03-20T15:00:00.000Z",
            "count": 1, "vulnerabilities": [["cveID": "CVE-2024-0002", "dateAdded": "2024-06-01", "knownRansomwareCampaignUse": "Known"]],
        ])
    }
    static func tracker() throws -> Data {
        try EnrichmentFeedTests.json([
            "openssl": ["CVE-2024-0001": ["releases": ["bookworm": ["status": "open", "urgency": "high", "repositories": ["bookworm": "3.0.15-1"]]]]],
            "zlib": [
                "TEMP-0000000-ABCDEF": ["releases": ["bookworm": ["status": "open", "urgency": "low"]]],
                "CVE-2022-37434": ["releases": ["bookworm": ["status": "resolved", "fixed_version": "1:1.2.13.dfsg-1", "urgency": "low"]]],
            ],
        ])
    }
    static func osvRecord(_ id: String) throws -> Data {
        try EnrichmentFeedTests.json([
            "schema_version": "1.6.0", "id": id, "modified": "2025-01-01T00:00:00Z", "aliases": ["CVE-2024-0001"],
            "affected": [["package": ["ecosystem": "PyPI", "name": "requests"],
                          "ranges": [["type": "ECOSYSTEM", "events": [["introduced": "0"], ["fixed": "2.0"]]]]]],
        ])
    }

    @Test func sniffsEveryKindByContent() throws {
        let feeds = try EnrichmentFeedTests()
        defer { try? FileManager.default.removeItem(at: feeds.dir) }
        // Names that say nothing: the content decides.
        #expect(try FeedSniffer.kind(of: feeds.write("a", try EnrichmentFeedTests.nvdFeed(), gzip: true)) == .nvd)
        #expect(try FeedSniffer.kind(of: feeds.write("b", try EnrichmentFeedTests.nvdFeed())) == .nvd)
        #expect(try FeedSniffer.kind(of: feeds.write("c", Self.epssCSV, gzip: true)) == .epss)
        #expect(try FeedSniffer.kind(of: feeds.write("d", Data("cve,epss,percentile\nCVE-1-1,0.1,0.2\n".utf8))) == .epss)
        #expect(try FeedSniffer.kind(of: feeds.write("e", try Self.kev())) == .kev)
        #expect(try FeedSniffer.kind(of: feeds.write("f", try Self.tracker(), gzip: true)) == .debianTracker)
        #expect(try FeedSniffer.kind(of: feeds.write("g", try Self.osvRecord("PYSEC-1"))) == .osv)
        #expect(try FeedSniffer.kind(of: feeds.write("h", Data("[\n".utf8) + (try Self.osvRecord("PYSEC-2")) + Data("]".utf8))) == .osv)
        #expect(try FeedSniffer.kind(of: feeds.write("i", Data("PK\u{03}\u{04}rest".utf8))) == .osvArchive)
        #expect(try FeedSniffer.kind(of: feeds.write("j", Data("# harborguard mirror\n".utf8))) == nil)
        #expect(try FeedSniffer.kind(of: feeds.write("k", Data())) == nil)
        // An OSV record whose first member is an object is not the tracker.
        #expect(FeedSniffer.kind(head: Array(#"{"affected": [], "id": "X"}"#.utf8)) == .osv)
        #expect(FeedSniffer.kind(head: Array(#"{"database_specific": {"severity": "HIGH"}, "id": "X"}"#.utf8)) == .osv)
        #expect(FeedSniffer.kind(head: Array(#"{"zlib": {"TEMP-0000000-ABCDEF": {"releases": {}}}}"#.utf8)) == .debianTracker)
        // Whitespace and a byte-order mark before the content.
        #expect(FeedSniffer.kind(head: Array("\u{FEFF}\n  {\n \"format\" : \"NVD_CVE\"".utf8)) == .nvd)
        // A gzip stream broken past its start still shows what it is.
        let broken = try Data(contentsOf: try feeds.write("l", try EnrichmentFeedTests.nvdFeed(), gzip: true))
        #expect(try FeedSniffer.kind(of: feeds.write("m", broken.prefix(broken.count - 30))) == .nvd)
    }

    @Test func importsADirectoryOfEveryKind() throws {
        let (db, dir) = try temporaryDatabase()
        defer { try? FileManager.default.removeItem(at: dir) }
        let feeds = try EnrichmentFeedTests()
        defer { try? FileManager.default.removeItem(at: feeds.dir) }
        let nvd = try EnrichmentFeedTests.nvdFeed()
        _ = try feeds.write("nvdcve-2.0-2024.json", nvd, gzip: true)
        try EnrichmentUpdaterTests.meta(for: nvd).write(to: feeds.dir.appendingPathComponent("nvdcve-2.0-2024.meta"))
        _ = try feeds.write("epss_scores-2025-03-20.csv", Self.epssCSV, gzip: true)
        _ = try feeds.write("known_exploited_vulnerabilities.json", try Self.kev())
        _ = try feeds.write("json", try Self.tracker())
        try FileManager.default.createDirectory(at: feeds.dir.appendingPathComponent("osv"), withIntermediateDirectories: true)
        _ = try feeds.write("osv/PYSEC-2024-1.json", try Self.osvRecord("PYSEC-2024-1"))
        _ = try feeds.write("README.md", Data("notes\n".utf8))

        let s = try db.importPath(feeds.dir)
        #expect(s.failures.isEmpty, "\(s.failures)")
        #expect(s.osv?.inserted == 1)
        #expect(s.feeds.map(\.kind) == [.nvd, .epss, .kev, .debianTracker])
        #expect(s.feeds.map(\.records) == [4, 2, 1, 2])
        #expect(s.unrecognised.map { URL(fileURLWithPath: $0).lastPathComponent } == ["README.md"])
        #expect(s.changed)
        let e = try db.enrichment(cves: ["CVE-2024-0001", "CVE-2024-0002"])
        #expect(e["CVE-2024-0001"]?.epss?.percentile == 0.995 && e["CVE-2024-0001"]?.nvd != nil)
        #expect(e["CVE-2024-0002"]?.kev?.dateAdded == "2024-06-01")
        let status = try db.enrichmentStatus()
        #expect(status.map(\.name) == ["nvd", "epss", "kev", "debian-tracker"])
        #expect(status.map(\.records) == [4, 2, 1, 2])
        #expect(status[1].version == "v2025.03.14" && status[2].version == "2025.03.20")
        #expect(status[0].location?.hasSuffix("nvdcve-2.0-2024.json.gz") == true && status[0].importedAt != nil)

        // An NVD feed that does not match its .meta and a KEV file cut short fail alone and
        // keep their data; a second EPSS file replaces the scores.
        try EnrichmentUpdaterTests.meta(for: Data("other".utf8)).write(to: feeds.dir.appendingPathComponent("nvdcve-2.0-2024.meta"))
        _ = try feeds.write("known_exploited_vulnerabilities.json", Data(#"{"catalogVersion": "2", "vulnerabilities": [{"cveID": "CVE-"#.utf8))
        let again = try db.importPath(feeds.dir)
        #expect(again.failures.count == 2, "\(again.failures)")
        #expect(again.failures.contains { $0.contains("nvdcve-2.0-2024") && $0.contains("previous data kept") })
        #expect(again.osv?.unchanged == 1 && again.osv?.inserted == 0)
        #expect(try db.enrichmentStatus().map(\.records) == [4, 2, 1, 2])

        // A single file, and a file that is nothing known.
        let one = try db.importPath(try feeds.write("scores.csv", Data("cve,epss,percentile\nCVE-2024-0009,0.5,0.6\n".utf8)))
        #expect(one.feeds.map(\.kind) == [.epss] && one.feeds[0].records == 1)
        #expect(throws: FeedImportError.self) { try db.importPath(feeds.dir.appendingPathComponent("README.md")) }
    }
}
