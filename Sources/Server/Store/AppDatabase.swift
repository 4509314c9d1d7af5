public import Cron
package import Foundation
public import GRDB

/// The appliance's SQLite database: WAL, foreign keys on, one migrator (`Migrations`). A
/// `Sendable` value around one `DatabasePool`, handed to every module that owns tables.
///
/// Features read and write through `read(_:)` and `write(_:)` (GRDB's async access, which
/// runs off the cooperative pool) and the repositories of `Store/`, whose functions take the
/// `Database` of the caller's transaction (`in db:`), so one transaction can span several
/// repositories. The writer itself is visible inside the package only, for the modules that
/// keep their own tables in this database (the Cron job store) and for backup and restore.
public struct AppDatabase: Sendable {
    package let writer: any DatabaseWriter

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

    package init(writer: any DatabaseWriter) {
        self.writer = writer
    }

    /// The same database through the engine-neutral SQL layer (code ported to it runs on
    /// SQLite here and on PostgreSQL; see `Migrations.postgres`).
    public var sql: any SQLDatabase { SQLiteDatabase(writer: writer) }

    public func migrate() throws {
        try Migrations.migrator.migrate(writer)
    }

    /// Runs `body` in a read-only transaction (a snapshot) off the cooperative pool.
    public func read<T: Sendable>(_ body: @Sendable (Database) throws -> T) async throws -> T {
        try await writer.read(body)
    }

    /// Runs `body` in a write transaction off the cooperative pool.
    public func write<T: Sendable>(_ body: @Sendable (Database) throws -> T) async throws -> T {
        try await writer.write(body)
    }
}

/// Prefixed opaque identifiers (`reg_…`, `key_…`).
public enum IDs {
    public static func make(_ prefix: String) -> String { "\(prefix)_\(randomHex(bytes: 12))" }
}

extension AppDatabase {
    /// Proves the database takes writes (the readiness probe).
    package static func beat(_ db: Database, now: Date) throws {
        try db.execute(
            sql: "INSERT INTO server_heartbeat (id, at) VALUES (1, ?) ON CONFLICT(id) DO UPDATE SET at = excluded.at",
            arguments: [Timestamp.format(now)])
    }
}

extension AppDatabase {
    /// SQLite's integrity check: `ok`, or the problems it found.
    package static func integrityCheck(_ db: Database) throws -> String {
        try String.fetchOne(db, sql: "PRAGMA integrity_check") ?? "unknown"
    }
}
