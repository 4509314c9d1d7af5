import Foundation
import Testing

@testable import Scan

/// The enrichment tables of a real vulndb.sqlite file: imports, the newer-wins rule for NVD,
/// previous data kept when a feed fails, and the lookups the matcher uses.
@Suite struct EnrichmentStoreTests {
    let feeds = try! EnrichmentFeedTests()

    func database() throws -> VulnerabilityDatabase {
        try VulnerabilityDatabase(path: feeds.dir.appendingPathComponent("vulndb.sqlite").path)
    }

    @Test func nvdImportKeepsTheNewerRecord() throws {
        let db = try database()
        let feed = try feeds.write("nvdcve-2.0-2024.json", try EnrichmentFeedTests.nvdFeed(), gzip: true)
        let first = try db.importNVD(file: feed, expectedSHA256: nil, source: "nvd:2024", location: feed.path)
        #expect(first.records == 4 && first.unchanged == 0)
        let again = try db.importNVD(file: feed, expectedSHA256: nil, source: "nvd:2024", location: feed.path)
        #expect(again.unchanged == 4)
        // An older copy of one CVE (a stale yearly feed after `modified`) does not win.
        let stale = try feeds.write("stale.json", try EnrichmentFeedTests.json([
            "vulnerabilities": [["cve": ["id": "CVE-2024-0001", "lastModified": "2023-01-01T00:00:00.000", "descriptions": [["lang": "en", "value": "old"]]]]]
        ]))
        #expect(try db.importNVD(file: stale, expectedSHA256: nil, source: "nvd:2024", location: stale.path).unchanged == 1)
        let e = try db.enrichment(cves: ["CVE-2024-0001", "CVE-2099-9999"])
        #expect(e["CVE-2024-0001"]?.nvd?.description == "A flaw.")
        #expect(e["CVE-2099-9999"] == nil)
        #expect(try db.status().sources.first { $0.name == "nvd" }?.records == 4)
    }

    @Test func aFailingFeedKeepsThePreviousData() throws {
        let db = try database()
        let good = try feeds.write("epss.csv", Data("#model_version:v1,score_date:2025-01-01T00:00:00+0000\ncve,epss,percentile\nCVE-2024-0001,0.5,0.97\n".utf8), gzip: true)
        #expect(try db.importEPSS(file: good, location: good.path).records == 1)
        let bad = try feeds.write("epss-bad.csv", Data("cve,epss,percentile\nCVE-2024-0002,0.1,0.2\nCVE-2024-0003,x,0.2\n".utf8))
        #expect(throws: EPSSFeed.FeedError.self) { try db.importEPSS(file: bad, location: bad.path) }
        let e = try db.enrichment(cves: ["CVE-2024-0001", "CVE-2024-0002"])
        #expect(e["CVE-2024-0001"]?.epss?.percentile == 0.97)
        #expect(e["CVE-2024-0001"]?.epssDate == "2025-01-01T00:00:00+0000")
        #expect(e["CVE-2024-0002"] == nil)

        let feed = try feeds.write("nvd.json", try EnrichmentFeedTests.nvdFeed())
        _ = try db.importNVD(file: feed, expectedSHA256: nil, source: "nvd:2024", location: feed.path)
        var corrupt = try Data(contentsOf: try feeds.write("nvd2.json", try EnrichmentFeedTests.nvdFeed(), gzip: true))
        corrupt = corrupt.prefix(corrupt.count - 40)
        let cut = try feeds.write("nvd-cut.json.gz", corrupt)
        #expect(throws: (any Error).self) { try db.importNVD(file: cut, expectedSHA256: nil, source: "nvd:2024", location: cut.path) }
        #expect(try db.enrichment(cves: ["CVE-2009-0004"])["CVE-2009-0004"]?.nvd != nil)
    }

    @Test func kevAndDebianTrackerReplaceWhole() throws {
        let db = try database()
        func kev(_ ids: [String]) throws -> URL {
            try feeds.write("kev-\(ids.count).json", try EnrichmentFeedTests.json([
                "catalogVersion": "v\(ids.count)", "count": ids.count,
                "vulnerabilities": ids.map { ["cveID": $0, "dateAdded": "2024-05-01", "dueDate": "2024-05-22", "knownRansomwareCampaignUse": "Unknown"] },
            ]))
        }
        _ = try db.importKEV(file: try kev(["CVE-2024-0001", "CVE-2024-0002"]), location: "kev")
        _ = try db.importKEV(file: try kev(["CVE-2024-0002"]), location: "kev")
        let e = try db.enrichment(cves: ["CVE-2024-0001", "CVE-2024-0002"])
        #expect(e["CVE-2024-0001"]?.kev == nil)
        #expect(e["CVE-2024-0002"]?.kev?.dueDate == "2024-05-22")

        let tracker = try feeds.write("json", try EnrichmentFeedTests.json([
            "openssl": ["CVE-2024-0001": ["releases": ["bookworm": ["status": "open", "urgency": "high", "nodsa_reason": "postponed"]]]]
        ]))
        #expect(try db.importDebianTracker(file: tracker, location: "tracker").records == 1)
        let s = try db.read { try VulnerabilityDatabase.debianStatement($0, sourcePackage: "openssl", cve: "CVE-2024-0001", release: "bookworm") }
        #expect(s?.severity == .high)
        #expect(s?.fixState == .notFixed)
    }
}
