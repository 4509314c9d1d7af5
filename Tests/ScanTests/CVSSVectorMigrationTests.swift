import Foundation
import GRDB
import Testing

@testable import Scan

/// The CVSS vector is stored beside each score (vulnerability database v5): filled at import,
/// and by the migration for databases imported before it, so matching never decodes a record.
@Suite struct CVSSVectorMigrationTests {
    static let v3 = "CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:U/C:H/I:N/A:N"  // 5.3
    static let v4 = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"  // 9.3

    static let nvdVector = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"

    static func record(id: String, package: String) throws -> Data {
        try JSONSerialization.data(withJSONObject: [
            "schema_version": "1.6.0", "id": id, "modified": "2026-01-01T00:00:00Z", "aliases": ["CVE-2099-7\(id.suffix(3))"],
            "severity": [["type": "CVSS_V3", "score": v3]],
            "affected": [
                ["package": ["ecosystem": "PyPI", "name": package], "severity": [["type": "CVSS_V4", "score": v4]],
                 "ranges": [["type": "ECOSYSTEM", "events": [["introduced": "0"], ["fixed": "2.0"]]]]],
            ],
        ])
    }

    @Test func theMigrationFillsVectorsOfEarlierImportsAndMatchingUsesThem() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hg-cvss-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("vulndb.sqlite").path
        // A database as the import before v5 left it: scores without vectors.
        do {
            let pool = try DatabasePool(path: path)
            try VulnerabilityDatabase.migrator.migrate(pool, upTo: "v4: last update attempt per source")
            try pool.write { db in
                for (id, package, affectedScore) in [("GHSA-aaa-001", "alpha", 9.3 as Double?), ("GHSA-aaa-002", "beta", nil)] {
                    try db.execute(
                        sql: """
                            INSERT INTO advisory(id, modified, modified_text, severity, cvss, source, record)
                            VALUES (?, 0, '2026-01-01T00:00:00Z', 'MEDIUM', 5.3, 'test', ?)
                            """, arguments: [id, try Self.record(id: id, package: package)])
                    try db.execute(
                        sql: "INSERT INTO alias(alias, advisory_id) VALUES (?, ?)", arguments: ["CVE-2099-7\(id.suffix(3))", id])
                    try db.execute(
                        sql: "INSERT INTO affected(advisory_id, ecosystem, name, ranges, versions, severity, cvss) VALUES (?, 'PyPI', ?, ?, '', ?, ?)",
                        arguments: [id, package, "ECOSYSTEM\u{1F}i=0\u{1F}f=2.0", affectedScore == nil ? nil : "CRITICAL", affectedScore])
                }
                // An NVD record stored before v5: its preferred rating is decoded from it.
                let nvd = NVDRecord(id: "CVE-2099-7002", published: nil, lastModified: "2026-01-01T00:00:00.000", status: nil, description: nil, cwes: [],
                                    ratings: [CVSSRating(version: "3.1", vector: Self.nvdVector, score: 9.8, type: "Primary", source: "nvd@nist.gov")])
                try db.execute(sql: "INSERT INTO nvd_cve(id, last_modified, record) VALUES (?, ?, ?)",
                               arguments: [nvd.id, nvd.lastModified, try JSONEncoder().encode(nvd)])
            }
        }
        let db = try VulnerabilityDatabase(path: path)
        let stored = try db.read { db in
            try Row.fetchAll(db, sql: "SELECT a.id, a.cvss_vector, f.cvss_vector FROM advisory a JOIN affected f ON f.advisory_id = a.id ORDER BY a.id")
                .map { [$0[0], $0[1], $0[2]] as [String?] }
        }
        #expect(stored == [["GHSA-aaa-001", Self.v3, Self.v4], ["GHSA-aaa-002", Self.v3, nil]])

        let findings = try VulnerabilityMatcher(database: db).match(ImageInventory(os: nil, packages: [
            InstalledPackage(name: "alpha", version: "1.0", type: .python, purl: "pkg:pypi/alpha@1.0"),
            InstalledPackage(name: "beta", version: "1.0", type: .python, purl: "pkg:pypi/beta@1.0"),
        ]))
        let alpha = try #require(findings.first { $0.package.name == "alpha" })
        let beta = try #require(findings.first { $0.package.name == "beta" })
        // The package-level rating wins over the advisory's, with its own vector.
        #expect(alpha.cvssRating == CVSSRating(version: "4.0", vector: Self.v4, score: 9.3, type: "Primary", source: "GHSA-aaa-001"))
        #expect(alpha.severity == .critical && alpha.severitySource == .advisory)
        #expect(beta.cvssRating == CVSSRating(version: "3.1", vector: Self.v3, score: 5.3, type: "Primary", source: "GHSA-aaa-002"))
        #expect(try db.enrichment(cves: ["CVE-2099-7002"])["CVE-2099-7002"]?.nvd?.preferredRating?.score == 9.8)
        // Matching's read: the pre-v5 row has no compact rating, so its record is decoded.
        #expect(try db.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM nvd_rating WHERE version IS NULL") } == 1)
        let compact = try db.read { try VulnerabilityDatabase.matchData($0, cves: ["CVE-2099-7002"]) }
        #expect(compact["CVE-2099-7002"]?.rating == CVSSRating(version: "3.1", vector: Self.nvdVector, score: 9.8, type: "Primary", source: "nvd@nist.gov"))
    }

    /// A database imported between v5 and v7 (ratings in `nvd_cve`'s columns): the v7 migration
    /// moves them to `nvd_rating`, and matching reads them there without decoding the record.
    @Test func theRatingTableMigrationMovesTheStoredRatings() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hg-v7-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("vulndb.sqlite").path
        do {
            let pool = try DatabasePool(path: path)
            try VulnerabilityDatabase.migrator.migrate(pool, upTo: "v5: the CVSS vector beside each stored score")
            try pool.write { db in
                // The record says nothing: a rating read from it would be missing.
                let record = Data(#"{"id":"X","cwes":[],"ratings":[],"cpes":[]}"#.utf8)
                try db.execute(
                    sql: """
                        INSERT INTO nvd_cve(id, last_modified, record, rating_version, rating_vector, rating_score, rating_type, rating_source)
                        VALUES ('CVE-2099-0001', '2024-01-01T00:00:00.000', ?, '3.1', ?, 9.8, 'Primary', 'nvd@nist.gov'),
                               ('CVE-2099-0002', '2024-01-01T00:00:00.000', ?, '', NULL, NULL, NULL, NULL)
                        """, arguments: [record, Self.nvdVector, record])
            }
        }
        let db = try VulnerabilityDatabase(path: path)
        let read = try db.read { try VulnerabilityDatabase.matchData($0, cves: ["CVE-2099-0001", "CVE-2099-0002", "CVE-2099-0003"]) }
        #expect(read["CVE-2099-0001"]?.rating == CVSSRating(version: "3.1", vector: Self.nvdVector, score: 9.8, type: "Primary", source: "nvd@nist.gov"))
        #expect(read["CVE-2099-0002"]?.inNVD == true && read["CVE-2099-0002"]?.rating == nil)
        #expect(read["CVE-2099-0003"] == nil)
    }

    /// The preferred rating goes to `nvd_rating` (v7), one short row per CVE; a record that
    /// an older import left unchanged keeps its row.
    @Test func theNVDImportStoresThePreferredRatingCompactly() throws {
        let feeds = try EnrichmentFeedTests()
        let db = try VulnerabilityDatabase.inMemory()
        let nvd = try feeds.write("nvd.json", try EnrichmentFeedTests.json(["vulnerabilities": [
            ["cve": ["id": "CVE-2099-0001", "lastModified": "2024-01-01T00:00:00.000", "metrics": [
                "cvssMetricV31": [EnrichmentFeedTests.metric("3.1", Self.nvdVector, 9.8, "Secondary", "cna@example.org")],
                "cvssMetricV2": [EnrichmentFeedTests.metric("2.0", "AV:N/AC:L/Au:N/C:P/I:P/A:P", 7.5, "Primary")]]]],
            ["cve": ["id": "CVE-2099-0002", "lastModified": "2024-01-01T00:00:00.000"]],
        ]]))
        _ = try db.importNVD(file: nvd, expectedSHA256: nil, source: "nvd:2099", location: "nvd")
        let stored = try db.read {
            try Row.fetchAll($0, sql: "SELECT version, vector, score, type, source FROM nvd_rating ORDER BY id")
                .map { [$0[0], $0[1], ($0[2] as Double?).map { String($0) }, $0[3], $0[4]] as [String?] }
        }
        #expect(stored == [["3.1", Self.nvdVector, "9.8", "Secondary", "cna@example.org"], ["", nil, nil, nil, nil]])
        let read = try db.read { try VulnerabilityDatabase.matchData($0, cves: ["CVE-2099-0001", "CVE-2099-0002"]) }
        #expect(read["CVE-2099-0001"]?.rating == CVSSRating(version: "3.1", vector: Self.nvdVector, score: 9.8, type: "Secondary", source: "cna@example.org"))
        #expect(read["CVE-2099-0002"]?.inNVD == true && read["CVE-2099-0002"]?.rating == nil)
    }

    @Test func theImportStoresTheVectorThatGaveTheScore() throws {
        let db = try VulnerabilityDatabase.inMemory()
        _ = try db.import(records: [try OSVRecord.decodeAll(from: try Self.record(id: "GHSA-bbb-003", package: "gamma"))[0]], source: "test")
        let stored = try db.read { db in
            try Row.fetchOne(db, sql: "SELECT a.cvss, a.cvss_vector, f.cvss, f.cvss_vector FROM advisory a JOIN affected f ON f.advisory_id = a.id")
        }
        #expect(stored?[0] == 5.3 && stored?[1] == Self.v3 && stored?[2] == 9.3 && stored?[3] == Self.v4)
        let a = CVSS.assessed([OSVSeverity(type: "CVSS_V3", score: Self.v3), OSVSeverity(type: "CVSS_V4", score: Self.v4)], fallbackWord: nil)
        #expect(a.score == 5.3 && a.vector == Self.v3 && a.severity == .medium)
        #expect(CVSS.assessed([OSVSeverity(type: "Ubuntu", score: "high")], fallbackWord: nil).vector == nil)
    }
}
