import Foundation
import GRDB
import Server
import Store
import Testing

/// The sensor-state repository on a real (in-memory) SQLite database: heartbeats, outages,
/// the registry health an outage changes, the counts of a sensor's jobs, a released scan.
@Suite struct SensorRepositoryTests {
    static let t0 = Date(timeIntervalSince1970: 1_767_323_045)  // 2026-01-02T03:04:05Z

    static func make() throws -> AppDatabase {
        let app = try AppDatabase.inMemory()
        try app.writer.write { db in
            try db.execute(sql: "INSERT INTO organizations (id, name, created_at) VALUES ('org_a', 'default', '2026-01-01T00:00:00Z')")
            for (id, method) in [("reg_s", "sensor"), ("reg_t", "sensor"), ("reg_c", "cloud")] {
                try db.execute(
                    sql: """
                        INSERT INTO registries (id, org_id, name, provider, url, scan_method, schedule, scanners, health_status,
                            health_score, last_sync_ok_at, created_at, updated_at)
                        VALUES (?, 'org_a', ?, 'GENERIC', 'https://r.example', ?, 'daily', '["native"]', 'healthy', 60,
                            '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')
                        """,
                    arguments: [id, "name-\(id)", method])
            }
        }
        return app
    }

    @Test func heartbeatsKeepTheFirstSightingAndEndAnOutage() throws {
        let app = try Self.make()
        try app.writer.write { db in
            #expect(try SensorRepository.sensor(db, registryId: "reg_s") == nil)
            #expect(try !SensorRepository.isOffline(db, registryId: "reg_s"))
            try SensorRepository.recordHeartbeat(
                db, registryId: "reg_s", keyId: "key_1", name: "s1", version: "1.0", hostname: "h1", now: Self.t0)
            let later = Self.t0.addingTimeInterval(30.6)
            try SensorRepository.recordHeartbeat(
                db, registryId: "reg_s", keyId: "key_2", name: "s2", version: "1.1", hostname: "h2", now: later)
            let s = try #require(try SensorRepository.sensor(db, registryId: "reg_s"))
            #expect(s == SensorRecord(
                registryId: "reg_s", keyId: "key_2", name: "s2", version: "1.1", hostname: "h2", firstSeenAt: Self.t0,
                lastHeartbeatAt: Self.t0.addingTimeInterval(30), offlineSince: nil))
            // Stored as the rows always held times: RFC 3339, whole seconds.
            #expect(try String.fetchOne(db, sql: "SELECT last_heartbeat_at FROM sensors") == "2026-01-02T03:04:35Z")

            try SensorRepository.markOffline(db, registryId: "reg_s", now: later)
            #expect(try SensorRepository.isOffline(db, registryId: "reg_s"))
            try SensorRepository.recordHeartbeat(
                db, registryId: "reg_s", keyId: "key_2", name: "s2", version: "1.1", hostname: "h2", now: later)
            #expect(try !SensorRepository.isOffline(db, registryId: "reg_s"))
        }
    }

    @Test func silentSensorsAreFoundOnceAndTheirRegistryTurnsUnhealthyThenRecovers() throws {
        let app = try Self.make()
        try app.writer.write { db in
            for id in ["reg_s", "reg_t", "reg_c"] {
                try SensorRepository.recordHeartbeat(db, registryId: id, keyId: "k", name: "s", version: "1", hostname: "h", now: Self.t0)
            }
            try SensorRepository.recordHeartbeat(
                db, registryId: "reg_t", keyId: "k", name: "s", version: "1", hostname: "h", now: Self.t0.addingTimeInterval(100))
            // Compared as stored text: a heartbeat at the cutoff's second is not before it.
            #expect(try SensorRepository.silentSensors(db, heartbeatBefore: Self.t0.addingTimeInterval(0.9)).isEmpty)
            // A cloud registry's leftover sensor row never counts.
            #expect(try SensorRepository.silentSensors(db, heartbeatBefore: Self.t0.addingTimeInterval(1)) == ["reg_s"])

            try SensorRepository.markOffline(db, registryId: "reg_s", now: Self.t0.addingTimeInterval(200))
            #expect(try SensorRepository.silentSensors(db, heartbeatBefore: Self.t0.addingTimeInterval(1)).isEmpty)
            let health = try #require(try Row.fetchOne(db, sql: "SELECT health_status, health_last_error FROM registries WHERE id = 'reg_s'"))
            #expect(health["health_status"] == "unhealthy")
            #expect(health["health_last_error"] == "Sensor offline: no heartbeat since 2026-01-02T03:04:05Z.")
            #expect(try String.fetchOne(db, sql: "SELECT offline_since FROM sensors WHERE registry_id = 'reg_s'") == "2026-01-02T03:07:25Z")

            let outage = try #require(try SensorRepository.outage(db, registryId: "reg_s"))
            #expect(outage.orgId == "org_a" && outage.registryName == "name-reg_s" && outage.sensor.lastHeartbeatAt == Self.t0)
            #expect(try SensorRepository.outage(db, registryId: "reg_missing") == nil)

            // Back online: the health the last sync earned (score 60 → degraded), the error gone.
            try SensorRepository.restoreHealthAfterOutage(db, registryId: "reg_s")
            let back = try #require(try Row.fetchOne(db, sql: "SELECT health_status, health_last_error FROM registries WHERE id = 'reg_s'"))
            #expect(back["health_status"] == "degraded" && (back["health_last_error"] as String?) == nil)
            // Another error than the outage's is left alone.
            try db.execute(sql: "UPDATE registries SET health_status = 'unhealthy', health_last_error = 'boom' WHERE id = 'reg_t'")
            try SensorRepository.restoreHealthAfterOutage(db, registryId: "reg_t")
            #expect(try String.fetchOne(db, sql: "SELECT health_last_error FROM registries WHERE id = 'reg_t'") == "boom")
        }
    }

    @Test func jobCountsCountOnlyTheSensorsTypesAndLiveLeases() throws {
        let app = try Self.make()
        try app.writer.write { db in
            let rows: [(String, String, String, String?)] = [
                ("j1", "sensor_sync", "queued", nil),
                ("j2", "sensor_scan", "queued", nil),
                ("j3", "scan", "queued", nil),
                ("j4", "sensor_scan", "running", "2026-01-02T03:05:00Z"),
                ("j5", "sensor_scan", "running", "2026-01-02T03:04:05Z"),  // expired at now
                ("j6", "sensor_sync", "succeeded", nil),
            ]
            for (id, type, status, lease) in rows {
                try db.execute(
                    sql: """
                        INSERT INTO jobs (id, type, status, concurrency_key, run_at, lease_expires_at, created_at)
                        VALUES (?, ?, ?, 'reg_s', '2026-01-01T00:00:00Z', ?, '2026-01-01T00:00:00Z')
                        """,
                    arguments: [id, type, status, lease])
            }
            let counts = try SensorRepository.jobCounts(db, registryId: "reg_s", types: ["sensor_scan", "sensor_sync"], now: Self.t0)
            #expect(counts.queued == 2 && counts.running == 1)
            let other = try SensorRepository.jobCounts(db, registryId: "reg_t", types: ["sensor_scan", "sensor_sync"], now: Self.t0)
            #expect(other.queued == 0 && other.running == 0)
        }
    }

    @Test func aReleasedScanIsQueuedAgainOnlyWhileRunning() throws {
        let app = try Self.make()
        try app.writer.write { db in
            for (id, status) in [("scn_r", "running"), ("scn_d", "completed")] {
                try db.execute(
                    sql: """
                        INSERT INTO scans (id, org_id, registry_id, repository, reference, status, trigger, queued_at, started_at)
                        VALUES (?, 'org_a', 'reg_s', 'app', 'latest', ?, 'manual', '2026-01-01T00:00:00Z', '2026-01-01T00:00:01Z')
                        """,
                    arguments: [id, status])
            }
            try SensorRepository.requeueRunningScan(db, scanId: "scn_r")
            try SensorRepository.requeueRunningScan(db, scanId: "scn_d")
            let rows = try Row.fetchAll(db, sql: "SELECT status, started_at FROM scans ORDER BY id")
            #expect(rows.map { $0["status"] as String } == ["completed", "queued"])
            #expect(rows.map { $0["started_at"] as String? } == ["2026-01-01T00:00:01Z", nil])
        }
    }
}
