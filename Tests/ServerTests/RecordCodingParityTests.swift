import Cron
import Foundation
import GRDB
import SQLTestSupport
import Registry
import Store
import Testing

/// The app's records through GRDB and through the engine-neutral SQL layer store identical
/// rows (columns, storage classes, values) and read back equal, on SQLite and PostgreSQL.
@Suite struct RecordCodingParityTests {
    static let t0 = Date(timeIntervalSince1970: 1_790_000_000)
    static let t1 = Date(timeIntervalSince1970: 1_790_003_600)

    static func samples() -> (org: String, registry: RegistryRecord, key: APIKeyRecord, user: UserRecord,
                              session: SessionRecord, audit: AuditRecord, channel: NotificationChannelRecord,
                              pending: NotificationPendingRecord, delivery: NotificationDeliveryRecord,
                              policy: PolicyRecord, sensor: SensorRecord)
    {
        let org = "org_parity"
        var registry = RegistryRecord(
            id: "reg_p", orgId: org, name: "hub 'quoted' ü", provider: .dockerHub, url: "https://r.example", scanMethod: .cloud,
            schedule: .manual, scanners: ["native", "syft"], tagInclude: "^v", tagExclude: nil, insecure: true,
            hasCredentials: false, webhookTokenHash: Data([0, 1, 255]), now: t0)
        registry.lastSyncAt = t1
        registry.healthStatus = .degraded
        let user = UserRecord(id: "usr_p", orgId: org, username: "Alice", name: nil, passwordHash: "$2b$x", role: .admin, now: t0)
        var key = APIKeyRecord(
            id: "key_p", orgId: org, kind: .pat, userId: user.id, name: "ci", token: "hg_pat_secret", role: .viewer,
            registryId: "reg_p", createdBy: "usr_p", createdAt: t0, expiresAt: t1)
        key.lastUsedAt = t1
        let session = SessionRecord(tokenHash: Data(repeating: 7, count: 32), userId: user.id, createdAt: t0, expiresAt: t1)
        let audit = AuditRecord(orgId: org, actor: "usr_p", action: "registry.create", target: nil, ip: "::1", createdAt: t0)
        let channel = NotificationChannelRecord(
            id: "nch_p", orgId: org, name: "slack", type: "slack", url: "https://hooks.example/x", events: #"["scan_complete"]"#,
            enabled: false, hasSecret: true, now: t0, delivery: "digest", minSeverity: "HIGH", minPriority: nil,
            settings: #"{"a":1}"#)
        let pending = NotificationPendingRecord(
            id: "npd_p", channelId: channel.id, event: "scan_complete", severity: "HIGH", body: Data("{\"x\":\"é\"}".utf8), createdAt: t0)
        var delivery = NotificationDeliveryRecord(id: "ndl_p", channelId: channel.id, event: "e", body: Data([1, 2]), now: t0)
        delivery.responseCode = 502
        delivery.nextAttemptAt = t1
        let policy = PolicyRecord(id: "pol_p", orgId: org, name: "gate", enabled: true, action: "fail", scope: "{}", rules: "[]", now: t0)
        let sensor = SensorRecord(
            registryId: "reg_p", keyId: "key_p", name: "s", version: "1.0", hostname: "h", firstSeenAt: t0, lastHeartbeatAt: t1)
        return (org, registry, key, user, session, audit, channel, pending, delivery, policy, sensor)
    }

    static func insertAll(_ c: any SQLConnection) throws {
        let s = samples()
        try c.execute("INSERT INTO organizations (id, name, created_at) VALUES (?, 'parity', 't')", [s.org])
        try s.registry.insert(into: c)
        try s.user.insert(into: c)
        try s.key.insert(into: c)
        try s.session.insert(into: c)
        try s.audit.insert(into: c)
        try s.channel.insert(into: c)
        try s.pending.insert(into: c)
        try s.delivery.insert(into: c)
        try s.policy.insert(into: c)
        try s.sensor.insert(into: c)
    }

    static let tables = [
        "registries", "users", "api_keys", "sessions", "audit_log", "notification_channels", "notification_pending",
        "notification_deliveries", "policies", "sensors",
    ]

    static func dump(_ c: any SQLConnection) throws -> [String: [String]] {
        var out: [String: [String]] = [:]
        for t in tables {
            out[t] = try c.query("SELECT * FROM \(t)", []).map { r in
                zip(r.columns, r.values).map { "\($0)=\($1)" }.joined(separator: "|")
            }
        }
        return out
    }

    @Test func grdbAndTheSQLLayerStoreTheSameRows() throws {
        let s = Self.samples()
        let viaGRDB = try AppDatabase.inMemory()
        try viaGRDB.writer.write { db in
            try db.execute(sql: "INSERT INTO organizations (id, name, created_at) VALUES (?, 'parity', 't')", arguments: [s.org])
            try s.registry.insert(db)
            try s.user.insert(db)
            try s.key.insert(db)
            try s.session.insert(db)
            try s.audit.insert(db)
            try s.channel.insert(db)
            try s.pending.insert(db)
            try s.delivery.insert(db)
            try s.policy.insert(db)
            try s.sensor.insert(db)
        }
        let viaSQL = try AppDatabase.inMemory()
        try viaSQL.writer.write { db in try Self.insertAll(db.sql) }
        let a = try viaGRDB.writer.read { db in try Self.dump(db.sql) }
        let b = try viaSQL.writer.read { db in try Self.dump(db.sql) }
        #expect(a == b)
        // And each codec reads what the other wrote.
        let fromGRDB = try viaGRDB.writer.read { db in
            (try db.sql.fetchOne(RegistryRecord.self, "SELECT * FROM registries"), try RegistryRecord.fetchOne(db),
             try db.sql.fetchOne(APIKeyRecord.self, "SELECT * FROM api_keys"),
             try db.sql.fetchOne(NotificationDeliveryRecord.self, "SELECT * FROM notification_deliveries"),
             try db.sql.fetchOne(SensorRecord.self, "SELECT * FROM sensors"))
        }
        #expect(fromGRDB.0 == s.registry && fromGRDB.1 == s.registry)
        #expect(fromGRDB.2 == s.key && fromGRDB.3 == s.delivery && fromGRDB.4 == s.sensor)
        let fromSQL = try viaSQL.writer.read { db in
            (try APIKeyRecord.fetchOne(db), try NotificationChannelRecord.fetchOne(db), try SessionRecord.fetchOne(db),
             try AuditRecord.fetchOne(db))
        }
        var audit = s.audit
        audit.seq = 1
        #expect(fromSQL.0 == s.key && fromSQL.1 == s.channel && fromSQL.2 == s.session && fromSQL.3 == audit)
    }

    @Test(arguments: TestBackend.available) func recordsRoundTripAndUpdateOnlyWhatChanged(_ backend: TestBackend) async throws {
        let (db, _) = try await backend.open(sqlite: { m in m = Migrations.migrator }, postgres: Migrations.postgres)
        let s = Self.samples()
        try await db.write { c in try Self.insertAll(c) }
        let read = try await db.read { c in
            (try c.fetchOne(RegistryRecord.self, "SELECT * FROM registries"), try c.fetchOne(APIKeyRecord.self, "SELECT * FROM api_keys"),
             try c.fetchAll(NotificationPendingRecord.self, "SELECT * FROM notification_pending"))
        }
        #expect(read.0 == s.registry && read.1 == s.key && read.2 == [s.pending])
        let changed = try await db.write { c -> (Bool, Bool) in
            var r = try #require(try c.fetchOne(RegistryRecord.self, "SELECT * FROM registries WHERE id = ?", ["reg_p"]))
            let first = try r.updateChanges(c) { $0.name = "renamed"; $0.tagInclude = nil; $0.scanners = ["native"] }
            let second = try r.updateChanges(c) { $0.name = "renamed" }
            return (first, second)
        }
        #expect(changed == (true, false))
        let after = try await db.read { c in try c.fetchOne(RegistryRecord.self, "SELECT * FROM registries") }
        var expected = s.registry
        expected.name = "renamed"
        expected.tagInclude = nil
        expected.scanners = ["native"]
        #expect(after == expected)
    }
}
