import Crypto
import Foundation
import HTTPTestSupport
import Testing

@testable import Scan

/// `EnrichmentUpdater` against a loopback server (ETag, 304, 500 then success) and a mirror
/// directory, with files in each upstream's format.
@Suite struct EnrichmentUpdaterTests {
    static func gzip(_ data: Data) throws -> Data {
        let feeds = try EnrichmentFeedTests()
        return try Data(contentsOf: try feeds.write("x-\(UUID().uuidString)", data, gzip: true))
    }

    static func meta(for json: Data) -> Data {
        let sha = SHA256.hash(data: json).map { String(format: "%02X", $0) }.joined()
        return Data("lastModifiedDate:2024-12-01T03:00:00-05:00\r\nsize:\(json.count)\r\ngzSize:0\r\nsha256:\(sha)\r\n".utf8)
    }

    @Test func overHTTPEachSourceAloneWithValidators() async throws {
        let (db, dir) = try temporaryDatabase()
        defer { try? FileManager.default.removeItem(at: dir) }
        let host = ArchiveHost()
        let nvd = try EnrichmentFeedTests.nvdFeed()
        await host.put("/nvd/nvdcve-2.0-2024.json.gz", try Self.gzip(nvd), etag: "\"n1\"")
        await host.put("/nvd/nvdcve-2.0-2024.meta", Self.meta(for: nvd), etag: nil)
        let modified = try EnrichmentFeedTests.json(["vulnerabilities": [] as [Any]])
        await host.put("/nvd/nvdcve-2.0-modified.json.gz", try Self.gzip(modified), etag: nil)
        await host.put("/nvd/nvdcve-2.0-modified.meta", Self.meta(for: modified), etag: nil)
        await host.put("/epss.csv.gz", try Self.gzip(Data("#model_version:v1,score_date:2025-01-01T00:00:00+0000\ncve,epss,percentile\nCVE-2024-0001,0.9,0.99\n".utf8)), etag: "\"e1\"")
        await host.put("/kev.json", try EnrichmentFeedTests.json(["count": 1, "vulnerabilities": [["cveID": "CVE-2024-0002", "dateAdded": "2024-06-01"]]]), etag: "\"k1\"")
        // The tracker answers 500 first: retried.
        await host.script("/tracker/json", [.status(500)])
        await host.put("/tracker/json", try EnrichmentFeedTests.json(["openssl": ["CVE-2024-0001": ["releases": ["bookworm": ["status": "open", "urgency": "high"]]]]]), etag: "\"t1\"")
        try await withFakeServer({ await host.respond($0) }) { base in
            try await withTestHTTPClient { http in
                let osv = VulnDBUpdater(database: db, baseURL: base, ecosystems: [], httpClient: http, retry: quickRetry)
                let updater = EnrichmentUpdater(
                    downloader: osv,
                    locations: [.nvd: base + "/nvd/", .epss: base + "/epss.csv.gz", .kev: base + "/kev.json", .debianTracker: base + "/tracker/json"],
                    nvdYears: 2023...2024)
                let first = try await updater.update()
                #expect(first.map(\.outcome) == [.updated, .updated, .updated, .updated], "\(first)")
                #expect(first[0].filesImported == 2 && first[0].records == 4)
                #expect(first[1].records == 1 && first[2].records == 1 && first[3].records == 1)
                #expect(await host.requests("/tracker/json") == 2)
                let e = try await db.enrichment(cves: ["CVE-2024-0001", "CVE-2024-0002"])
                #expect(e["CVE-2024-0001"]?.epss?.percentile == 0.99)
                #expect(e["CVE-2024-0001"]?.nvd?.preferredRating?.version == "4.0")
                #expect(e["CVE-2024-0002"]?.kev?.dateAdded == "2024-06-01")

                // Second run: NVD's .meta unchanged (no feed download), 304 for the others.
                let second = try await updater.update()
                #expect(second.map(\.outcome) == [.unchanged, .unchanged, .unchanged, .unchanged], "\(second)")
                #expect(await host.requests("/nvd/nvdcve-2.0-2024.json.gz") == 1)
                #expect(await host.lastIfNoneMatch("/kev.json") == "\"k1\"")

                // A feed whose JSON does not match its .meta, and a KEV file cut short: those
                // fail alone, previous data kept; EPSS updates.
                let changed = try EnrichmentFeedTests.json(["vulnerabilities": [["cve": ["id": "CVE-2024-0001", "lastModified": "2030-01-01T00:00:00.000"]]]])
                await host.put("/nvd/nvdcve-2.0-2024.json.gz", try Self.gzip(changed), etag: "\"n2\"")
                await host.put("/nvd/nvdcve-2.0-2024.meta", Self.meta(for: Data("something else".utf8)), etag: nil)
                await host.put("/kev.json", Data(#"{"count": 2, "vulnerabilities": [{"cveID": "CVE-1"#.utf8), etag: "\"k2\"")
                await host.put("/epss.csv.gz", try Self.gzip(Data("cve,epss,percentile\nCVE-2024-0001,0.1,0.5\n".utf8)), etag: "\"e2\"")
                let third = try await updater.update()
                #expect(third.map(\.outcome) == [.failed, .updated, .failed, .unchanged], "\(third)")
                #expect(third[0].message?.contains("SHA-256") == true)
                let after = try await db.enrichment(cves: ["CVE-2024-0001", "CVE-2024-0002"])
                #expect(after["CVE-2024-0001"]?.nvd?.description == "A flaw.")
                #expect(after["CVE-2024-0002"]?.kev != nil)
                #expect(after["CVE-2024-0001"]?.epss?.percentile == 0.5)
            }
        }
    }

    @Test func fromAMirrorDirectory() async throws {
        let (db, dir) = try temporaryDatabase()
        defer { try? FileManager.default.removeItem(at: dir) }
        let mirror = dir.appendingPathComponent("mirror")
        try FileManager.default.createDirectory(at: mirror, withIntermediateDirectories: true)
        let nvd = try EnrichmentFeedTests.nvdFeed()
        try Self.gzip(nvd).write(to: mirror.appendingPathComponent("nvdcve-2.0-2024.json.gz"))
        try Self.meta(for: nvd).write(to: mirror.appendingPathComponent("nvdcve-2.0-2024.meta"))
        try Self.gzip(Data("cve,epss,percentile\nCVE-2024-0001,0.2,0.3\n".utf8)).write(to: mirror.appendingPathComponent("epss_scores-current.csv.gz"))
        try await withTestHTTPClient { http in
            let osv = VulnDBUpdater(database: db, baseURL: mirror.path, ecosystems: [], httpClient: http, retry: quickRetry)
            let updater = EnrichmentUpdater(
                downloader: osv, locations: [.nvd: "file://" + mirror.path, .epss: mirror.path, .kev: mirror.path, .debianTracker: mirror.path],
                nvdYears: 2024...2024)
            let r = try await updater.update()
            #expect(r.map(\.outcome) == [.updated, .updated, .skipped, .skipped], "\(r)")
            #expect(r[0].records == 4)
            let again = try await updater.update()
            #expect(again.map(\.outcome) == [.unchanged, .unchanged, .skipped, .skipped], "\(again)")
        }
    }
}
