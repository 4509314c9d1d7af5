import Cron
import Foundation
import GRDB
import Server
import Store
import Testing

/// The schedule policy on a real (in-memory) database and a fixed "now": what is due is
/// enqueued once, restarts and downtime change nothing, history is pruned.
@Suite struct SchedulePolicyTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)
    static func ago(_ seconds: TimeInterval) -> String { Timestamp.format(now.addingTimeInterval(-seconds)) }
    static let hour: TimeInterval = 3600
    static let day: TimeInterval = 86_400

    struct World {
        var db: AppDatabase
        var org = "org_test"
    }

    /// Registries of every schedule, each with tags scanned at chosen ages.
    static func world() throws -> World {
        let db = try AppDatabase.inMemory()
        try db.writer.write { db in
            try db.execute(sql: "INSERT INTO organizations (id, name, created_at) VALUES ('org_test', 'test', ?)", arguments: [ago(30 * day)])
            func registry(_ id: String, schedule: String, lastOK: String?, created: String = ago(30 * day), include: String? = nil) throws {
                try db.execute(
                    sql: """
                        INSERT INTO registries (id, org_id, name, provider, url, scan_method, schedule, scanners, tag_include,
                            last_sync_ok_at, created_at, updated_at)
                        VALUES (?, 'org_test', ?, 'DOCKER_REGISTRY', 'http://127.0.0.1:5000', 'cloud', ?, '["native"]', ?, ?, ?, ?)
                        """,
                    arguments: [id, id, schedule, include, lastOK, created, created])
            }
            func tag(_ registry: String, _ repo: String, _ tag: String, scanned: String?) throws {
                let image = "img_\(registry)_\(repo)"
                try db.execute(
                    sql: """
                        INSERT OR IGNORE INTO images (id, org_id, registry_id, name, full_name, created_at, updated_at)
                        VALUES (?, 'org_test', ?, ?, ?, ?, ?)
                        """,
                    arguments: [image, registry, repo, "127.0.0.1:5000/\(repo)", ago(30 * day), ago(30 * day)])
                try db.execute(
                    sql: "INSERT INTO image_tags (image_id, name, digest, first_seen_at, updated_at, last_scanned_at) VALUES (?, ?, ?, ?, ?, ?)",
                    arguments: [image, tag, "sha256:" + String(repeating: "a", count: 64), ago(30 * day), ago(30 * day), scanned])
            }
            try registry("reg_daily", schedule: "daily", lastOK: ago(26 * hour), include: "v*")
            try tag("reg_daily", "app", "v1", scanned: ago(25 * hour))  // due
            try tag("reg_daily", "app", "v2", scanned: ago(1 * hour))  // fresh
            try tag("reg_daily", "app", "dev", scanned: ago(25 * hour))  // filtered out by includeTags
            try registry("reg_weekly", schedule: "weekly", lastOK: ago(2 * day))
            try tag("reg_weekly", "lib", "1", scanned: ago(3 * day))  // fresh for a week
            try tag("reg_weekly", "lib", "2", scanned: ago(8 * day))  // due
            try registry("reg_manual", schedule: "manual", lastOK: nil)
            try tag("reg_manual", "old", "1", scanned: ago(300 * day))
            try registry("reg_push", schedule: "on_push", lastOK: ago(30 * day))
            try tag("reg_push", "web", "1", scanned: ago(300 * day))
            try registry("reg_new", schedule: "daily", lastOK: nil, created: Timestamp.format(now))
        }
        return World(db: db)
    }

    func jobs(_ db: AppDatabase) throws -> [(type: String, payload: String)] {
        try db.writer.read { db in
            try Row.fetchAll(db, sql: "SELECT type, payload FROM jobs ORDER BY type, payload").map { ($0["type"], $0["payload"]) }
        }
    }

    @Test func dueSyncsAndRescansAreEnqueuedOnce() throws {
        let w = try Self.world()
        let policy = SchedulePolicy()
        let first = try w.db.writer.write { db in try policy.apply(orgId: nil, now: Self.now, in: db) }
        #expect(first.registries == 5)
        #expect(first.syncsEnqueued == 1)  // reg_daily (26 h); reg_weekly is 2 days old; reg_new is within its jitter
        #expect(first.scansEnqueued == 2)  // daily app:v1 and weekly lib:2
        let queued = try jobs(w.db)
        #expect(queued.filter { $0.type == "sync" }.map(\.payload) == [#"{"registryId":"reg_daily"}"#])
        let scans = queued.filter { $0.type == "scan" }.map(\.payload)
        #expect(scans.count == 2)
        #expect(scans.contains { $0.contains(#""tag":"v1""#) && $0.contains("reg_daily") })
        #expect(scans.contains { $0.contains(#""tag":"2""#) && $0.contains("reg_weekly") })
        #expect(!scans.contains { $0.contains(#""tag":"dev""#) })
        // Scans are rows too, triggered by the schedule.
        let triggers = try w.db.writer.read { db in try String.fetchAll(db, sql: "SELECT trigger FROM scans") }
        #expect(triggers == ["schedule", "schedule"])

        // The same tick again (a restart, a second scheduler): nothing new.
        let again = try w.db.writer.write { db in try policy.apply(orgId: nil, now: Self.now, in: db) }
        #expect(again.enqueued == 0)
        #expect(try jobs(w.db).count == 3)

        // Ten minutes later the never-synced registry's jitter has passed.
        let later = try w.db.writer.write { db in try policy.apply(orgId: nil, now: Self.now.addingTimeInterval(600), in: db) }
        #expect(later.syncsEnqueued == 1)
    }

    /// One organization's run (the API's "sync now" of the scheduler) sees only its registries and tags.
    @Test func anOrganizationsRunSeesOnlyItsRegistries() throws {
        let other = try Self.world()
        let none = try other.db.writer.write { db in try SchedulePolicy().apply(orgId: "org_missing", now: Self.now, in: db) }
        #expect(none.registries == 0 && none.syncsEnqueued == 0 && none.scansEnqueued == 0)
        let own = try other.db.writer.write { db in try SchedulePolicy().apply(orgId: "org_test", now: Self.now, in: db) }
        #expect(own.registries == 5 && own.syncsEnqueued == 1 && own.scansEnqueued == 2)
    }

    @Test func threeDaysDownCatchesUpOnce() throws {
        let w = try Self.world()
        let policy = SchedulePolicy()
        let t = Self.now.addingTimeInterval(3 * Self.day)
        let first = try w.db.writer.write { db in try policy.apply(orgId: nil, now: t, in: db) }
        // One sync per due registry (the two daily ones; the weekly one is 5 days old), not one per missed day.
        #expect(first.syncsEnqueued == 2)
        let second = try w.db.writer.write { db in try policy.apply(orgId: nil, now: t.addingTimeInterval(60), in: db) }
        #expect(second.enqueued == 0)
        let syncs = try jobs(w.db).filter { $0.type == "sync" }
        #expect(syncs.count == 2)
    }

    @Test func jitterSpreadsAThousandDailyRegistries() {
        let offsets = (0..<1000).map { SchedulePolicy.jitter("reg_\($0)", max: 86_400 / 20) }
        #expect(offsets.allSatisfy { $0 >= 0 && $0 < 4320 })
        // Spread over the window: no 10-minute slice holds more than a fifth of them.
        var buckets = [Int](repeating: 0, count: 8)
        for o in offsets { buckets[Int(o / 540)] += 1 }
        #expect(buckets.max()! < 200)
        #expect(Set(offsets).count > 900)
    }

    @Test func retentionKeepsEveryTagsLatestScan() throws {
        let w = try Self.world()
        try w.db.writer.write { db in
            func scan(_ id: String, finished: String) throws {
                try db.execute(
                    sql: """
                        INSERT INTO scans (id, org_id, registry_id, image_id, repository, tag, reference, digest, manifest_digest,
                            status, trigger, queued_at, finished_at)
                        VALUES (?, 'org_test', 'reg_daily', 'img_reg_daily_app', 'app', 'v1', 'x', 'sha256:d', ?, 'completed',
                            'api', ?, ?)
                        """,
                    arguments: [id, "sha256:m_\(id)", finished, finished])
                try db.execute(
                    sql: "INSERT INTO inventories (digest, packages, package_count, created_at, updated_at) VALUES (?, '[]', 0, ?, ?)",
                    arguments: ["sha256:m_\(id)", finished, finished])
            }
            try scan("scn_old", finished: Self.ago(200 * Self.day))
            try scan("scn_latest_old", finished: Self.ago(150 * Self.day))
            try scan("scn_recent", finished: Self.ago(10 * Self.day))
            try db.execute(sql: "UPDATE image_tags SET last_scan_id = 'scn_latest_old' WHERE name = 'v1'")
            let deleted = try Housekeeping.pruneScans(olderThanDays: 90, now: Self.now, in: db)
            #expect(deleted == 1)
            #expect(try String.fetchAll(db, sql: "SELECT id FROM scans ORDER BY id") == ["scn_latest_old", "scn_recent"])
            #expect(try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM inventories") == 2)
        }
    }
}
