public import Cron
package import Foundation
import Synchronization
package import GRDB

/// The appliance's SQLite database: WAL, foreign keys on, one migrator (`Migrations`). A
/// `Sendable` value around one `DatabasePool`, handed to every module that owns tables.
///
/// Features read and write through `read(_:)` and `write(_:)` (GRDB's async access, which
/// runs off the cooperative pool) and the repositories of `Store/`, whose functions take the
/// `Database` of the caller's transaction (`in db:`), so one transaction can span several
/// repositories. The writer itself is visible inside the package only, for the modules that
/// keep their own tables in this database (the Cron job store) and for backup and restore.
public struct AppDatabase: Sendable {
    /// The database through the engine-neutral SQL layer: every feature reads and writes here.
    public let sql: any SQLDatabase
    /// GRDB's writer when the engine is the embedded SQLite (nil on PostgreSQL).
    package let sqliteWriter: (any DatabaseWriter)?
    /// Where changes to cached tables are announced (see `CachedTables`).
    package let invalidations = InvalidationHub()

    public var dialect: SQLDialect { sql.dialect }

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
        try app.migrateSQLite(pool)
        return app
    }

    /// A PostgreSQL database (`postgres://…`), migrated to the current schema.
    public static func open(postgresURL url: String, connections: Int = 8) async throws -> AppDatabase {
        let database = try PostgreSQLDatabase(url: url, connections: connections)
        do {
            _ = try await PostgresMigrator.migrate(database, Migrations.postgres)
        } catch {
            await database.close()
            throw error
        }
        return AppDatabase(sql: database)
    }

    /// An in-memory database for tests.
    public static func inMemory() throws -> AppDatabase {
        var config = Configuration()
        config.foreignKeysEnabled = true
        let queue = try DatabaseQueue(configuration: config)
        let app = AppDatabase(writer: queue)
        try app.migrateSQLite(queue)
        return app
    }

    package init(writer: any DatabaseWriter) {
        self.sql = SQLiteDatabase(writer: writer)
        self.sqliteWriter = writer
    }

    package init(sql: any SQLDatabase) {
        self.sql = sql
        self.sqliteWriter = (sql as? SQLiteDatabase)?.writer
    }

    /// GRDB's writer, for SQLite-only work (file backups, tests). Code that runs on both
    /// engines goes through `read`/`write`.
    package var writer: any DatabaseWriter {
        guard let sqliteWriter else { preconditionFailure("GRDB writer asked for on PostgreSQL") }
        return sqliteWriter
    }

    private func migrateSQLite(_ writer: any DatabaseWriter) throws {
        try Migrations.migrator.migrate(writer)
    }

    /// Closes PostgreSQL connections (SQLite closes with its last reference).
    public func close() async {
        if let pg = sql as? PostgreSQLDatabase { await pg.close() }
    }

    /// Runs `body`, then closes the database whether `body` threw or not: for a command that
    /// opens the database for one task.
    public func closing<T>(_ body: (AppDatabase) async throws -> T) async throws -> T {
        do {
            let result = try await body(self)
            await close()
            return result
        } catch {
            await close()
            throw error
        }
    }

    /// Runs `body` in a read-only transaction (a snapshot) off the cooperative pool.
    public func read<T: Sendable>(_ body: @escaping @Sendable (any SQLConnection) throws -> T) async throws -> T {
        try await sql.read(body)
    }

    /// Runs `body` in a write transaction off the cooperative pool. On PostgreSQL the body
    /// may run again after a deadlock: it must not have effects outside the database (use
    /// `afterCommit`).
    public func write<T: Sendable>(_ body: @escaping @Sendable (any SQLConnection) throws -> T) async throws -> T {
        guard sql.dialect == .postgres else { return try await sql.write(body) }
        let hub = invalidations
        return try await sql.write { db in
            let result = try body(db)
            // The triggers on cached tables mark the transaction (see `Migrations.postgres`);
            // this node drops its caches at commit, before the request answers. Other nodes
            // hear the same change through NOTIFY.
            if let row = try db.queryOne(CachedTables.markedQuery) {
                let changed = CachedTables.marked(row)
                if !changed.isEmpty { db.afterCommit { hub.post(changed) } }
            }
            return result
        }
    }
}

/// Prefixed opaque identifiers (`reg_…`, `key_…`).
public enum IDs {
    public static func make(_ prefix: String) -> String { "\(prefix)_\(randomHex(bytes: 12))" }
}

extension AppDatabase {
    /// Proves the database takes writes (the readiness probe).
    package static func beat(_ db: any SQLConnection, now: Date) throws {
        try db.execute(
            "INSERT INTO server_heartbeat (id, at) VALUES (1, ?) ON CONFLICT(id) DO UPDATE SET at = excluded.at", [Timestamp.format(now)])
    }
}

extension AppDatabase {
    /// SQLite's integrity check: `ok`, or the problems it found.
    package static func integrityCheck(_ db: Database) throws -> String {
        try String.fetchOne(db, sql: "PRAGMA integrity_check") ?? "unknown"
    }
}

/// The groups of tables whose rows the server caches in memory.
package struct CachedTables: OptionSet, Sendable {
    package let rawValue: Int
    package init(rawValue: Int) { self.rawValue = rawValue }

    /// `api_keys`, `users`, `sessions`, `organizations`: who a credential is.
    package static let auth = CachedTables(rawValue: 1)
    /// `registries`, `organizations`: the registry list pages.
    package static let registries = CachedTables(rawValue: 2)
    package static let all: CachedTables = [.auth, .registries]

    /// Each group by the name its triggers use: the NOTIFY payload, and the suffix of the
    /// transaction setting `harborguard.invalidate_<name>` they set to 1.
    static let named: [(name: String, tables: CachedTables)] = [("auth", .auth), ("registries", .registries)]

    /// A NOTIFY payload (`auth`, `registries`); nil for anything else.
    package init?(payload: String) {
        guard let group = Self.named.first(where: { $0.name == payload }) else { return nil }
        self = group.tables
    }

    /// Reads, in the writing transaction, which groups its statements marked.
    static let markedQuery = "SELECT " + named.map { "current_setting('harborguard.invalidate_\($0.name)', true)" }.joined(separator: ", ")

    static func marked(_ row: SQLRow) -> CachedTables {
        var c: CachedTables = []
        for (i, group) in named.enumerated() where row.string(i) == "1" { c.insert(group.tables) }
        return c
    }
}

/// Delivers cache invalidations to whoever caches (the hot caches). On PostgreSQL, this
/// node's own writes post at commit and other nodes' writes arrive through LISTEN.
package final class InvalidationHub: Sendable {
    private let handlers = Mutex<[@Sendable (CachedTables) -> Void]>([])

    package init() {}

    package func subscribe(_ handler: @escaping @Sendable (CachedTables) -> Void) {
        handlers.withLock { $0.append(handler) }
    }

    package func post(_ tables: CachedTables) {
        for h in handlers.withLock({ $0 }) { h(tables) }
    }
}
