import Foundation
import GRDB
import Server
import Store
import Testing

/// The persistence layer: the one migrator and the stored formats existing data directories hold.
@Suite struct StoreTests {
    /// The migrations, in order, that the previous layout (six files chained through a `defer`,
    /// then the job store's and the scheduler's) recorded in `grdb_migrations` of a new database.
    /// Existing data directories hold exactly these: the migrator must keep them and their order.
    static let previousLayout = [
        "server.v1", "server.v2.images", "server.v3.scans", "server.v4.scheduler", "server.v5.sensors",
        "server.v6.notifications", "cron.v1.jobs", "cron.v2.claim-order", "cron.v2.scheduler",
    ]

    /// Migrations added since, in order.
    static let added = ["server.v7.finding-priority", "server.v8.policies", "server.v9.vex", "server.v10.channels", "server.v11.finding-alerts", "server.v12.finding-digest", "server.v13.finding-purl", "server.v14.channel-min-priority"]

    @Test func migratorKeepsThePreviousIdentifiersInOrder() throws {
        #expect(Migrations.identifiers == Self.previousLayout + Self.added)
        let app = try AppDatabase.inMemory()
        let applied = try app.writer.read { db in
            try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations ORDER BY rowid")
        }
        #expect(applied == Self.previousLayout + Self.added)
    }

    /// A database the previous layout made (every migration applied) opens with only the
    /// migrations added since applied to it.
    @Test func databaseOfThePreviousLayoutOpensWithOnlyTheNewMigrations() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hg-store-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("app.db").path
        do {
            let queue = try DatabaseQueue(path: path)
            try Migrations.migrator.migrate(queue, upTo: try #require(Self.previousLayout.last))
            try queue.close()
        }
        let app = try AppDatabase.open(path: path)
        let applied = try app.writer.read { db in
            try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations ORDER BY rowid")
        }
        #expect(applied == Self.previousLayout + Self.added)
    }

    /// Records store dates as the rows written before them hold them (RFC 3339 UTC, whole
    /// seconds), read those rows back, and sort the same as text.
    @Test func recordsKeepTheStoredDateFormat() throws {
        let app = try AppDatabase.inMemory()
        try app.writer.write { db in
            try db.execute(sql: "INSERT INTO organizations (id, name, created_at) VALUES ('org_a', 'default', '2026-01-02T03:04:05Z')")
            // A row as the previous code wrote it (text timestamps, no record type).
            try db.execute(sql: """
                INSERT INTO users (id, org_id, username, name, password_hash, role, created_at, updated_at)
                VALUES ('usr_old', 'org_a', 'old', NULL, 'x', 'viewer', '2026-01-02T03:04:05Z', '2026-01-02T03:04:06Z')
                """)
            let old = try #require(try UserRecord.fetchOne(db, key: "usr_old"))
            #expect(old.createdAt == Date(timeIntervalSince1970: 1_767_323_045))
            #expect(old.updatedAt == Date(timeIntervalSince1970: 1_767_323_046))

            let now = Date(timeIntervalSince1970: 1_767_323_045.75)
            try UserRecord(id: "usr_new", orgId: "org_a", username: "new", name: "N", passwordHash: "y", role: .admin, now: now)
                .insert(db)
            let stored = try Row.fetchOne(db, sql: "SELECT created_at, updated_at FROM users WHERE id = 'usr_new'")
            #expect(stored?["created_at"] == "2026-01-02T03:04:05Z")
            #expect(stored?["updated_at"] == "2026-01-02T03:04:05Z")

            let later = Date(timeIntervalSince1970: 1_767_323_100)
            try APIKeyRecord(
                id: "key_a", orgId: "org_a", kind: .api, name: "k", token: "hg_test_token", role: .viewer,
                createdBy: "t", createdAt: later, expiresAt: later.addingTimeInterval(86_400)
            ).insert(db)
            try SessionRecord(tokenHash: Data([1, 2]), userId: "usr_new", createdAt: later, expiresAt: later).insert(db)
            try AuditRecord(orgId: "org_a", actor: "t", action: "a", target: nil, ip: nil, createdAt: later).insert(db)
            #expect(try String.fetchOne(db, sql: "SELECT expires_at FROM api_keys") == "2026-01-03T03:05:00Z")
            #expect(try String.fetchOne(db, sql: "SELECT expires_at FROM sessions") == "2026-01-02T03:05:00Z")
            #expect(try String.fetchOne(db, sql: "SELECT created_at FROM audit_log") == "2026-01-02T03:05:00Z")
            let key = try #require(try APIKeyRecord.fetchOne(db, key: "key_a"))
            #expect(key.expiresAt == later.addingTimeInterval(86_400))
            #expect(key.lastUsedAt == nil)

            // New and old rows sort together as text, by time.
            let order = try String.fetchAll(db, sql: "SELECT id FROM users ORDER BY updated_at, id")
            #expect(order == ["usr_new", "usr_old"])
        }
    }

    /// A registry row written by the previous code (text timestamps, scanners as JSON text)
    /// reads back as a record, and an update stores only what changed, in the same format.
    @Test func registryRowsOfThePreviousCodeReadAndUpdate() throws {
        let app = try AppDatabase.inMemory()
        try app.writer.write { db in
            try db.execute(sql: "INSERT INTO organizations (id, name, created_at) VALUES ('org_a', 'default', '2026-01-02T03:04:05Z')")
            try db.execute(sql: """
                INSERT INTO registries (id, org_id, name, provider, url, scan_method, schedule, scanners, tag_include,
                    tag_exclude, insecure, has_credentials, health_status, health_score, last_sync_at, last_sync_ok_at,
                    webhook_token_hash, created_at, updated_at)
                VALUES ('reg_a', 'org_a', 'r', 'DOCKER_HUB', 'https://registry-1.docker.io', 'cloud', 'daily',
                    '["trivy","native"]', 'v*', NULL, 0, 1, 'healthy', 90, '2026-01-03T00:00:00Z', '2026-01-03T00:00:00Z',
                    X'0102', '2026-01-02T03:04:05Z', '2026-01-02T03:04:06Z')
                """)
            let r = try #require(try RegistryRepository.registry(db, id: "reg_a", org: "org_a"))
            #expect(r.scanners == ["trivy", "native"])
            #expect(String(describing: r.provider) == "dockerHub" && r.schedule == .daily && r.scanMethod == .cloud && r.healthStatus == .healthy)
            #expect(r.hasCredentials && !r.insecure && r.tagInclude == "v*" && r.tagExclude == nil)
            #expect(r.lastSyncAt == Date(timeIntervalSince1970: 1_767_398_400))
            #expect(r.createdAt == Date(timeIntervalSince1970: 1_767_323_045))
            #expect(r.webhookTokenHash == Data([1, 2]))

            let later = Date(timeIntervalSince1970: 1_767_398_401.5)
            _ = try RegistryRepository.update(db, id: "reg_a") { r in
                r.schedule = .weekly
                r.scanners = ["native"]
                r.updatedAt = later
            }
            let row = try #require(try Row.fetchOne(db, sql: "SELECT * FROM registries WHERE id = 'reg_a'"))
            #expect(row["schedule"] == "weekly")
            #expect(row["scanners"] == #"["native"]"#)
            #expect(row["updated_at"] == "2026-01-03T00:00:01Z")
            #expect(row["created_at"] == "2026-01-02T03:04:05Z")
            #expect(row["last_sync_ok_at"] == "2026-01-03T00:00:00Z")
        }
    }
}
