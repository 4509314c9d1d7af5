import Cron
import Foundation
import GRDB
import Logging
import Scan
import Server
import Store
import Testing

/// The CVE watch: a rematch after a vulnerability-database change turns new, escalated and
/// resolved findings on a tag's current image into events, once each, never for an excepted
/// finding. On the real SQLite databases of ``RematchRerankTests/fixture()``.
@Suite struct CVEWatchTests {
    @Test func alertsAreTheDiff() {
        let a = RematchRerankTests.finding()
        let b = RematchRerankTests.finding("CVE-2024-0002")
        var hot = a
        hot.epss = EPSSInfo(score: 0.5, percentile: 0.97, date: "2025-03-20")
        hot.priority = .p2
        var exploited = hot
        exploited.kev = KEVInfo(dateAdded: "2025-03-01", dueDate: "2025-03-22", ransomware: false, requiredAction: nil)
        exploited.priority = .p1
        #expect(CVEWatch.alerts(before: [a], after: [a]).isEmpty)
        #expect(CVEWatch.alerts(before: [a], after: [a, b]) == [CVEWatch.Alert(kind: .new, finding: b)])
        #expect(CVEWatch.alerts(before: [a, b], after: [b]) == [CVEWatch.Alert(kind: .resolved, finding: a)])
        #expect(CVEWatch.alerts(before: [a], after: [hot]).map(\.kind) == [.escalated(reason: "epss", to: .p2)])
        #expect(CVEWatch.alerts(before: [hot], after: [exploited]).map(\.kind) == [.escalated(reason: "kev", to: .p1)])
        // A priority that falls is no alert.
        #expect(CVEWatch.alerts(before: [hot], after: [a]).isEmpty)
        // One alert per escalation step.
        #expect(CVEWatch.Kind.escalated(reason: "kev", to: .p1).dedupeKind == "escalated:kev")
        #expect(CVEWatch.Kind.escalated(reason: "epss", to: .p2).dedupeKind == "escalated:P2")
    }

    @Test func rematchSendsEachAlertOnce() async throws {
        let f = try await RematchRerankTests.fixture()
        defer { try? FileManager.default.removeItem(at: f.tmp) }
        let ts = Timestamp.format(Date())
        // A webhook channel listening to the watch's events (nothing listens at the URL: the
        // deliveries are counted where they are recorded).
        try await f.db.writer.write { db in
            try db.execute(
                sql: """
                    INSERT INTO notification_channels (id, org_id, name, type, url, events, enabled, has_secret, created_at, updated_at)
                    VALUES ('chn_w', 'org_r', 'watch', 'webhook', 'http://127.0.0.1:9/hook', ?, 1, 0, ?, ?)
                    """,
                arguments: [#"["finding_new","finding_escalated","finding_resolved"]"#, ts, ts])
        }
        func events() async throws -> [[String: String]] {
            try await f.db.writer.read { db in
                try Data.fetchAll(db, sql: "SELECT body FROM notification_deliveries ORDER BY created_at, rowid")
                    .map { try JSONDecoder().decode([String: String].self, from: $0) }
            }
        }
        func write(_ name: String, _ object: Any) throws {
            try JSONSerialization.data(withJSONObject: object).write(to: f.feeds.appendingPathComponent(name))
        }

        // The advisory the fixture imported hits the image: one finding_new.
        #expect(try await f.rematch()["alerts"] == 1)
        var seen = try await events()
        #expect(seen.map { $0["event"] } == ["finding_new"])
        let first = try #require(seen.first)
        #expect(first["vulnerabilityId"] == "CVE-2024-0001" && first["package"] == "requests" && first["version"] == "1.0")
        #expect(first["reference"] == "r.example.test/app:1.0" && first["digest"] == "sha256:aa" && first["imageId"] == "img_r")
        #expect(first["fixVersion"] == "2.0" && first["priority"] == "P4" && first["severity"] == "unknown" && first["kev"] == nil)

        // Nothing changed: nothing sent.
        #expect(try await f.rematch()["alerts"] == 0)
        #expect(try await events().count == 1)

        // EPSS moves it to P2: one finding_escalated; the same data again sends nothing.
        try Data("#model_version:v1,score_date:2025-03-20T00:00:00+0000\ncve,epss,percentile\nCVE-2024-0001,0.9,0.99\n".utf8)
            .write(to: f.feeds.appendingPathComponent("epss.csv"))
        _ = try f.vulndb.importPath(f.feeds)
        #expect(try await f.rematch()["alerts"] == 1)
        seen = try await events()
        #expect(seen.count == 2 && seen[1]["event"] == "finding_escalated" && seen[1]["reason"] == "epss")
        #expect(seen[1]["priority"] == "P2" && seen[1]["epssPercentile"] == "0.99000")

        // It enters KEV: escalated again, once.
        try write("known_exploited_vulnerabilities.json", [
            "catalogVersion": "v1", "count": 1,
            "vulnerabilities": [["cveID": "CVE-2024-0001", "dateAdded": "2025-03-01", "dueDate": "2025-03-22", "knownRansomwareCampaignUse": "Known"]],
        ])
        _ = try f.vulndb.importPath(f.feeds)
        #expect(try await f.rematch()["alerts"] == 1)
        #expect(try await f.rematch()["alerts"] == 0)
        seen = try await events()
        #expect(seen.count == 3 && seen[2]["reason"] == "kev" && seen[2]["kev"] == "true" && seen[2]["priority"] == "P1")

        // A second advisory, excepted by a WONT_FIX for the organization: no alert.
        try await f.db.writer.write { db in
            try db.execute(
                sql: """
                    INSERT INTO triage (id, org_id, vulnerability_id, image_id, status, updated_by, created_at, updated_at)
                    VALUES ('tri_w', 'org_r', 'CVE-2024-0002', '', 'WONT_FIX', 'test', ?, ?)
                    """, arguments: [ts, ts])
        }
        try write("PYSEC-2024-2.json", [
            "schema_version": "1.6.0", "id": "PYSEC-2024-2", "modified": "2025-01-01T00:00:00Z", "aliases": ["CVE-2024-0002"],
            "affected": [["package": ["ecosystem": "PyPI", "name": "requests"],
                          "ranges": [["type": "ECOSYSTEM", "events": [["introduced": "0"], ["fixed": "3.0"]]]]]],
        ])
        _ = try f.vulndb.importPath(f.feeds)
        let excepted = try await f.rematch()
        #expect(excepted["changed"] == 1 && excepted["newFindings"] == 1 && excepted["alerts"] == 0)

        // The image moves to requests 2.5 (the same digest's inventory, re-analysed): the first
        // finding resolves (one finding_resolved); the excepted one stays and sends nothing.
        try await f.db.writer.write { db in
            try ScanRepository.storeInventory(
                digest: "sha256:aa", os: nil,
                packages: [InstalledPackage(name: "requests", version: "2.5", type: .python, purl: "pkg:pypi/requests@2.5")], now: ts, in: db)
        }
        #expect(try await f.rematch()["alerts"] == 1)
        seen = try await events()
        #expect(seen.count == 4 && seen[3]["event"] == "finding_resolved" && seen[3]["vulnerabilityId"] == "CVE-2024-0001")
        #expect(try await f.db.writer.read { db in try FindingAlertRepository.count(orgId: "org_r", in: db) } == 4)
    }

    @Test func aRematchIsOneMessagePerDigestChannel() async throws {
        // An immediate Slack channel: the watch's events wait for the rematch to end (a flush
        // ten minutes on stays as a safety net), then one flush is due at once.
        let f = try await RematchRerankTests.fixture()
        defer { try? FileManager.default.removeItem(at: f.tmp) }
        let ts = Timestamp.format(Date())
        try await f.db.writer.write { db in
            try db.execute(
                sql: """
                    INSERT INTO notification_channels (id, org_id, name, type, url, events, enabled, has_secret, delivery, created_at, updated_at)
                    VALUES ('chn_s', 'org_r', 'slack', 'slack', 'https://hooks.slack.test/…', '["finding_new"]', 1, 1, 'immediate', ?, ?)
                    """, arguments: [ts, ts])
        }
        let start = Date()
        #expect(try await f.rematch()["alerts"] == 1)
        // "At once" is measured against the rematch's own end, not a wall-clock bound: the
        // full suite runs ~100 suites on 2 cores, and the rematch itself may take seconds there.
        let ended = Date().timeIntervalSince(start)
        let flushes = try await f.db.writer.read { db in
            try Row.fetchAll(db, sql: "SELECT run_at FROM jobs WHERE type = 'notify_flush' ORDER BY run_at").map { row -> TimeInterval in
                let at: String = row[0]
                return try #require(Timestamp.parse(at)).timeIntervalSince(start)
            }
        }
        #expect(flushes.count == 2)
        #expect((flushes.first ?? 99) <= ended + 1, "the release is due at once (the rematch ended at \(ended) s): \(flushes)")
        #expect((flushes.last ?? 0) > 590, "the safety net is ten minutes on: \(flushes)")
        #expect(try await f.db.writer.read { db in try NotificationRepository.pendingCount(db, channelId: "chn_s") } == 1)
    }

    @Test func noChannelNoWork() async throws {
        // Without a channel listening, the rematch records no alert (and computes none).
        let f = try await RematchRerankTests.fixture()
        defer { try? FileManager.default.removeItem(at: f.tmp) }
        #expect(try await f.rematch()["alerts"] == 0)
        #expect(try await f.db.writer.read { db in try FindingAlertRepository.count(orgId: "org_r", in: db) } == 0)
    }
}
