import Cron
import Foundation
import GRDB
import Logging
import Scan
import Server
import Store
import Testing

/// The rematch after enrichment feeds change: the same findings with new EPSS, KEV, severity
/// or priority are rewritten in place (no new scan row), new or resolved findings still
/// record a new scan. On a real SQLite app database and vulnerability database (files).
@Suite struct RematchRerankTests {
    static func finding(_ id: String = "CVE-2024-0001", version: String = "1.0") -> Finding {
        Finding(
            vulnerabilityId: id, aliases: ["PYSEC-2024-1"], severity: .unknown, cvss: nil,
            package: FindingPackage(name: "requests", version: version, type: .python, purl: "pkg:pypi/requests@\(version)", layer: nil),
            fixedVersion: "2.0", fixState: .fixed, title: "t", references: [], sources: ["native"], advisoryIds: ["PYSEC-2024-1"])
    }

    @Test func classification() throws {
        let a = Self.finding()
        #expect(ScanRunner.rematchChange(before: [a], after: [a]) == .none)
        var epss = a
        epss.epss = try JSONDecoder().decode(EPSSInfo.self, from: Data(#"{"score": 0.9, "percentile": 0.99, "date": "2025-03-20"}"#.utf8))
        epss.priority = .p2
        #expect(ScanRunner.rematchChange(before: [a], after: [epss]) == .reranked)
        var severity = epss
        severity.severity = .critical
        severity.severitySource = .nvd
        severity.kev = try JSONDecoder().decode(KEVInfo.self, from: Data(#"{"dateAdded": "2024-06-01", "ransomware": false}"#.utf8))
        #expect(ScanRunner.rematchChange(before: [epss], after: [severity]) == .reranked)
        var unfixed = a
        unfixed.fixedVersion = nil
        unfixed.fixState = .notFixed
        var wontFix = unfixed
        wontFix.fixState = .wontFix
        #expect(ScanRunner.rematchChange(before: [unfixed], after: [wontFix]) == .reranked)
        // A new fixed version or title is not a re-rank; nor are added or resolved findings.
        var fixed = a
        fixed.fixedVersion = "1.5"
        #expect(ScanRunner.rematchChange(before: [a], after: [fixed]) == .changed(added: 0, resolved: 0))
        #expect(ScanRunner.rematchChange(before: [a], after: [a, Self.finding("CVE-2024-0002")]) == .changed(added: 1, resolved: 0))
        #expect(ScanRunner.rematchChange(before: [a], after: [Self.finding(version: "1.1")]) == .changed(added: 1, resolved: 1))
    }

    /// A real app database and vulnerability database (files under a temporary directory) with
    /// one organization, registry, image and tag whose completed scan `scn_r` has a stored
    /// inventory (requests 1.0), and one PyPI advisory in `feeds` imported.
    struct Fixture {
        var tmp: URL, feeds: URL, db: AppDatabase, vulndb: VulnerabilityDatabase, services: AppServices, runner: ScanRunner

        /// Runs a rematch job; its summary as numbers.
        func rematch() async throws -> [String: Int] {
            let job = try await db.writer.write { db in try ScanRunner.enqueueRematch(reason: "test", now: Date(), in: db) }
            let text = try await runner.rematch(JobContext(job: job, store: services.jobs, logger: Logger(label: "test")), RematchJobPayload())
            let data = Data(try #require(text).utf8)
            return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Int])
        }
    }

    static func fixture() async throws -> Fixture {
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("hg-rerank-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
        try Keyring.generate().write(path: tmp.path + "/keyring.json")
        let db = try AppDatabase.open(path: tmp.path + "/harborguard.db")
        let vulndb = try VulnerabilityDatabase(path: tmp.path + "/vulndb.sqlite")
        let services = AppServices(
            db: db, secrets: SecretStore(keyring: try KeyringStore(path: tmp.path + "/keyring.json")), jobs: JobStore(writer: db.writer),
            logger: Logger(label: "test"), config: ServerConfiguration(dataDir: tmp.path, bcryptCost: 4), vulnDB: vulndb)
        let runner = ScanRunner(services: services, crawler: Crawler(services: services, clients: sharedClients))
        let ts = Timestamp.format(Date())
        let earlier = Timestamp.format(Date().addingTimeInterval(-3600))
        try await db.writer.write { db in
            try db.execute(sql: "INSERT INTO organizations (id, name, created_at) VALUES ('org_r', 'rerank', ?)", arguments: [ts])
            try db.execute(
                sql: """
                    INSERT INTO registries (id, org_id, name, provider, url, scan_method, schedule, scanners, created_at, updated_at)
                    VALUES ('reg_r', 'org_r', 'r', 'DOCKER_REGISTRY', 'https://r.example.test', 'cloud', 'manual', '[]', ?, ?)
                    """, arguments: [ts, ts])
            try db.execute(
                sql: "INSERT INTO images (id, org_id, registry_id, name, full_name, latest_tag, created_at, updated_at) VALUES ('img_r', 'org_r', 'reg_r', 'app', 'r.example.test/app', '1.0', ?, ?)",
                arguments: [ts, ts])
            try db.execute(
                sql: """
                    INSERT INTO scans (id, org_id, registry_id, image_id, repository, tag, reference, digest, manifest_digest, status,
                        trigger, queued_at, finished_at) VALUES ('scn_r', 'org_r', 'reg_r', 'img_r', 'app', '1.0', 'r.example.test/app:1.0',
                        'sha256:aa', 'sha256:aa', 'completed', 'manual', ?, ?)
                    """, arguments: [earlier, earlier])
            try db.execute(
                sql: "INSERT INTO image_tags (image_id, name, digest, first_seen_at, updated_at, last_scan_id) VALUES ('img_r', '1.0', 'sha256:aa', ?, ?, 'scn_r')",
                arguments: [ts, ts])
            try ScanRepository.storeInventory(
                digest: "sha256:aa", os: nil,
                packages: [InstalledPackage(name: "requests", version: "1.0", type: .python, purl: "pkg:pypi/requests@1.0")], now: ts, in: db)
        }
        let record = try JSONSerialization.data(withJSONObject: [
            "schema_version": "1.6.0", "id": "PYSEC-2024-1", "modified": "2025-01-01T00:00:00Z", "aliases": ["CVE-2024-0001"],
            "affected": [["package": ["ecosystem": "PyPI", "name": "requests"],
                          "ranges": [["type": "ECOSYSTEM", "events": [["introduced": "0"], ["fixed": "2.0"]]]]]],
        ])
        let feeds = tmp.appendingPathComponent("feeds")
        try FileManager.default.createDirectory(at: feeds, withIntermediateDirectories: true)
        try record.write(to: feeds.appendingPathComponent("PYSEC-2024-1.json"))
        _ = try vulndb.importPath(feeds)
        return Fixture(tmp: tmp, feeds: feeds, db: db, vulndb: vulndb, services: services, runner: runner)

    }

    @Test func rerankRewritesInPlace() async throws {
        let f = try await Self.fixture()
        defer { try? FileManager.default.removeItem(at: f.tmp) }
        let (db, vulndb, feeds) = (f.db, f.vulndb, f.feeds)
        struct Summary { var changed = -1, reranked = -1, newFindings = -1 }
        func rematch() async throws -> Summary {
            let s = try await f.rematch()
            var out = Summary()
            out.changed = s["changed"] ?? -1
            out.reranked = s["reranked"] ?? -1
            out.newFindings = s["newFindings"] ?? -1
            return out
        }
        func state() async throws -> (scans: Int, latest: String, findings: [Finding], critical: Int, imageCritical: Int) {
            try await db.writer.read { db in
                let latest = try String.fetchOne(db, sql: "SELECT last_scan_id FROM image_tags WHERE image_id = 'img_r'") ?? ""
                return (
                    try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM scans") ?? 0, latest,
                    try Data.fetchAll(db, sql: "SELECT detail FROM findings WHERE scan_id = ?", arguments: [latest])
                        .map { try JSONDecoder().decode(Finding.self, from: $0) },
                    try Int.fetchOne(db, sql: "SELECT critical FROM scans WHERE id = ?", arguments: [latest]) ?? -1,
                    try Int.fetchOne(db, sql: "SELECT critical FROM images WHERE id = 'img_r'") ?? -1)
            }
        }

        // The new advisory: a finding appears, a new scan is recorded.
        let first = try await rematch()
        #expect(first.changed == 1 && first.newFindings == 1 && first.reranked == 0)
        let s1 = try await state()
        #expect(s1.scans == 2 && s1.latest != "scn_r" && s1.findings.count == 1)
        #expect(s1.findings.first?.epss == nil && s1.findings.first?.priority == .p4)

        // EPSS and NVD arrive: the same finding, re-ranked in place.
        try Data("#model_version:v1,score_date:2025-03-20T00:00:00+0000\ncve,epss,percentile\nCVE-2024-0001,0.9,0.99\n".utf8)
            .write(to: feeds.appendingPathComponent("epss.csv"))
        let nvd: [String: Any] = [
            "format": "NVD_CVE", "version": "2.0", "vulnerabilities": [["cve": [
                "id": "CVE-2024-0001", "lastModified": "2024-02-01T00:00:00.000", "descriptions": [["lang": "en", "value": "x"]],
                "metrics": ["cvssMetricV31": [["source": "nvd@nist.gov", "type": "Primary", "cvssData": [
                    "version": "3.1", "vectorString": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "baseScore": 9.8, "baseSeverity": "CRITICAL"]]]],
            ]]],
        ]
        try JSONSerialization.data(withJSONObject: nvd).write(to: feeds.appendingPathComponent("nvdcve-2.0-2024.json"))
        let imported = try vulndb.importPath(feeds)
        #expect(imported.failures.isEmpty && imported.feeds.map(\.kind) == [.nvd, .epss], "\(imported)")
        let second = try await rematch()
        #expect(second.changed == 0 && second.reranked == 1, "\(second)")
        let s2 = try await state()
        #expect(s2.scans == 2 && s2.latest == s1.latest && s2.findings.count == 1)
        #expect(s2.findings.first?.epss?.percentile == 0.99 && s2.findings.first?.priority == .p2)
        #expect(s2.findings.first?.severity == .critical && s2.findings.first?.severitySource == .nvd)
        #expect(s2.critical == 1 && s2.imageCritical == 1)
        // Updated in place: the same row (seq), its columns re-ranked with its JSON.
        let columns = try await db.writer.read { db in
            try Row.fetchAll(db, sql: "SELECT seq, severity_rank, priority_rank, epss_percentile FROM findings WHERE scan_id = ?", arguments: [s1.latest])
                .map { [$0[0], $0[1], $0[2], $0[3]] as [Double?] }
        }
        #expect(columns == [[0, Double(Severity.critical.storedRank), 2, 0.99]])
        // The same re-rank again updates no row; keys that differ fall back to a rewrite.
        let findings = s2.findings
        let again = try await db.writer.write { db in
            try ScanRepository.rerankFindings(scanId: s1.latest, prepared: try ScanRepository.PreparedFindings(findings), orgId: "org_r", now: Date(), in: db)
        }
        #expect(again == 0)
        var movedFindings = findings
        movedFindings[0].package.version = "1.1"
        let moved = movedFindings
        let rewritten = try await db.writer.write { db in
            try ScanRepository.rerankFindings(scanId: s1.latest, prepared: try ScanRepository.PreparedFindings(moved), orgId: "org_r", now: Date(), in: db)
        }
        #expect(rewritten == 1)
        #expect(try await state().findings.map(\.package.version) == ["1.1"])
        _ = try await db.writer.write { db in
            try ScanRepository.rerankFindings(scanId: s1.latest, prepared: try ScanRepository.PreparedFindings(findings), orgId: "org_r", now: Date(), in: db)
        }

        // Nothing new: nothing written.
        let third = try await rematch()
        #expect(third.changed == 0 && third.reranked == 0)
        #expect(try await state().scans == 2)

        // Every row carries its digest; rows from before digests existed are compared whole
        // once (the same answer) and get theirs.
        func digests() async throws -> [Data?] {
            try await db.writer.read { db in try Optional<Data>.fetchAll(db, sql: "SELECT digest FROM findings WHERE scan_id = ?", arguments: [s1.latest]) }
        }
        let stored = try await digests()
        #expect(stored.count == 1 && stored.allSatisfy { $0?.count == FindingDigest.length })
        try await db.writer.write { db in try db.execute(sql: "UPDATE findings SET digest = NULL") }
        let old = try await rematch()
        #expect(old.changed == 0 && old.reranked == 0 && old.newFindings == 0, "\(old)")
        #expect(try await digests() == stored)
        let fourth = try await rematch()
        #expect(fourth.changed == 0 && fourth.reranked == 0)
        #expect(try await state().findings == s2.findings)

        // The plan from keys and digests: the same findings → unchanged; one re-ranked → one row
        // to update; one more → a new scan; a key twice or a row without digest → compare whole.
        let rows = try await db.writer.read { db in try ScanRepository.storedFindings(scanId: s1.latest, in: db).rows }
        #expect(try ScanRunner.plan(stored: rows, next: s2.findings)?.change == ScanRunner.RematchChange.none)
        var cooler = s2.findings
        cooler[0].epss?.percentile = 0.5
        if case .update(let u) = try ScanRunner.plan(stored: rows, next: cooler) {
            #expect(u.map(\.seq) == [0] && u[0].finding.epss?.percentile == 0.5)
        } else {
            Issue.record("expected an in-place update")
        }
        var retitled = s2.findings
        retitled[0].title = "new title"
        #expect(try ScanRunner.plan(stored: rows, next: retitled)?.change == .changed(added: 0, resolved: 0))
        #expect(try ScanRunner.plan(stored: rows, next: s2.findings + [Self.finding("CVE-2024-0009")])?.change == .changed(added: 1, resolved: 0))
        #expect(try ScanRunner.plan(stored: rows, next: s2.findings + s2.findings) == nil)
        var undigested = rows
        undigested[0].digest = nil
        #expect(try ScanRunner.plan(stored: undigested, next: s2.findings) == nil)
    }
}
