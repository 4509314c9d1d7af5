import Cron
import Foundation
public import GRDB

/// The appliance's SQLite database: WAL, foreign keys on, migrations in code. A
/// `Sendable` value around one `DatabasePool`, handed to every module that owns tables.
public struct AppDatabase: Sendable {
    public let writer: any DatabaseWriter

    /// Opens (creating if needed) the database at `path` and migrates it.
    public static func open(path: String) throws -> AppDatabase {
        var config = Configuration()
        config.foreignKeysEnabled = true
        config.busyMode = .timeout(10)
        config.prepareDatabase { db in
            // Deleted DEKs are overwritten on disk (crypto-shredding of a deleted registry).
            try db.execute(sql: "PRAGMA secure_delete = ON")
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        let pool = try DatabasePool(path: path, configuration: config)
        let app = AppDatabase(writer: pool)
        try app.migrate()
        return app
    }

    /// An in-memory database for tests.
    public static func inMemory() throws -> AppDatabase {
        var config = Configuration()
        config.foreignKeysEnabled = true
        let queue = try DatabaseQueue(configuration: config)
        let app = AppDatabase(writer: queue)
        try app.migrate()
        return app
    }

    public init(writer: any DatabaseWriter) {
        self.writer = writer
    }

    public func migrate() throws {
        var migrator = DatabaseMigrator()
        Self.registerMigrations(&migrator)
        JobStore.registerMigrations(&migrator)
        Scheduler.registerMigrations(&migrator)
        try migrator.migrate(writer)
    }

    static func registerMigrations(_ migrator: inout DatabaseMigrator) {
        defer {
            registerImageMigrations(&migrator)
            registerScanMigrations(&migrator)
            registerSchedulerMigrations(&migrator)
            registerSensorMigrations(&migrator)
            registerNotificationMigrations(&migrator)
        }
        migrator.registerMigration("server.v1") { db in
            try db.execute(sql: """
                CREATE TABLE organizations (
                    id TEXT PRIMARY KEY NOT NULL,
                    name TEXT NOT NULL UNIQUE,
                    created_at TEXT NOT NULL
                );
                CREATE TABLE users (
                    id TEXT PRIMARY KEY NOT NULL,
                    org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
                    username TEXT NOT NULL UNIQUE COLLATE NOCASE,
                    name TEXT,
                    password_hash TEXT NOT NULL,
                    role TEXT NOT NULL,
                    created_at TEXT NOT NULL,
                    updated_at TEXT NOT NULL
                );
                CREATE TABLE api_keys (
                    id TEXT PRIMARY KEY NOT NULL,
                    org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
                    kind TEXT NOT NULL,
                    user_id TEXT REFERENCES users(id) ON DELETE CASCADE,
                    name TEXT NOT NULL,
                    token_hash BLOB NOT NULL UNIQUE,
                    token_prefix TEXT NOT NULL,
                    role TEXT NOT NULL,
                    registry_id TEXT,
                    created_by TEXT,
                    created_at TEXT NOT NULL,
                    expires_at TEXT,
                    last_used_at TEXT,
                    revoked_at TEXT
                );
                CREATE INDEX api_keys_org ON api_keys(org_id, kind);
                CREATE INDEX api_keys_registry ON api_keys(registry_id);
                CREATE TABLE sessions (
                    token_hash BLOB PRIMARY KEY NOT NULL,
                    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                    created_at TEXT NOT NULL,
                    expires_at TEXT NOT NULL
                );
                CREATE TABLE registries (
                    id TEXT PRIMARY KEY NOT NULL,
                    org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
                    name TEXT NOT NULL,
                    provider TEXT NOT NULL,
                    url TEXT NOT NULL,
                    scan_method TEXT NOT NULL,
                    schedule TEXT NOT NULL,
                    scanners TEXT NOT NULL,
                    tag_include TEXT,
                    tag_exclude TEXT,
                    insecure INTEGER NOT NULL DEFAULT 0,
                    has_credentials INTEGER NOT NULL DEFAULT 0,
                    image_count INTEGER NOT NULL DEFAULT 0,
                    health_status TEXT NOT NULL DEFAULT 'unknown',
                    health_score INTEGER NOT NULL DEFAULT 0,
                    health_last_error TEXT,
                    last_sync_at TEXT,
                    last_sync_ok_at TEXT,
                    webhook_token_hash BLOB,
                    created_at TEXT NOT NULL,
                    updated_at TEXT NOT NULL,
                    UNIQUE (org_id, name)
                );
                CREATE INDEX registries_org_created ON registries(org_id, created_at, id);
                CREATE TABLE secrets (
                    owner TEXT PRIMARY KEY NOT NULL,
                    kek_id TEXT NOT NULL,
                    wrapped_dek BLOB NOT NULL,
                    ciphertext BLOB NOT NULL,
                    created_at TEXT NOT NULL
                );
                CREATE INDEX secrets_kek ON secrets(kek_id);
                CREATE TABLE audit_log (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    org_id TEXT NOT NULL,
                    actor TEXT NOT NULL,
                    action TEXT NOT NULL,
                    target TEXT,
                    ip TEXT,
                    created_at TEXT NOT NULL
                );
                CREATE INDEX audit_org ON audit_log(org_id, seq);
                CREATE TABLE server_heartbeat (id INTEGER PRIMARY KEY CHECK (id = 1), at TEXT NOT NULL);
                CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
                    BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
                CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
                    BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
                """)
        }
    }
}

/// Prefixed opaque identifiers (`reg_…`, `key_…`).
public enum IDs {
    public static func make(_ prefix: String) -> String { "\(prefix)_\(randomHex(bytes: 12))" }
}

extension AppDatabase {
    /// Images (one per repository of a registry) and their tags, as sync finds them.
    static func registerImageMigrations(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("server.v2.images") { db in
            try db.execute(sql: """
                CREATE TABLE images (
                    id TEXT PRIMARY KEY NOT NULL,
                    org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
                    registry_id TEXT NOT NULL REFERENCES registries(id) ON DELETE CASCADE,
                    name TEXT NOT NULL,
                    full_name TEXT NOT NULL,
                    tag_count INTEGER NOT NULL DEFAULT 0,
                    latest_tag TEXT,
                    latest_digest TEXT,
                    risk_score INTEGER NOT NULL DEFAULT 0,
                    critical INTEGER NOT NULL DEFAULT 0,
                    high INTEGER NOT NULL DEFAULT 0,
                    medium INTEGER NOT NULL DEFAULT 0,
                    low INTEGER NOT NULL DEFAULT 0,
                    unknown INTEGER NOT NULL DEFAULT 0,
                    last_scanned_at TEXT,
                    created_at TEXT NOT NULL,
                    updated_at TEXT NOT NULL,
                    UNIQUE (registry_id, name)
                );
                CREATE INDEX images_org_created ON images(org_id, created_at, id);
                CREATE INDEX images_org_name ON images(org_id, name, id);
                CREATE INDEX images_org_risk ON images(org_id, risk_score, id);
                CREATE TABLE image_tags (
                    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
                    name TEXT NOT NULL,
                    digest TEXT NOT NULL,
                    first_seen_at TEXT NOT NULL,
                    updated_at TEXT NOT NULL,
                    last_scan_id TEXT,
                    last_scanned_at TEXT,
                    PRIMARY KEY (image_id, name)
                ) WITHOUT ROWID;
                """)
        }
    }
}
