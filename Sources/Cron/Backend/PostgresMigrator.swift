import Foundation

/// One schema step for PostgreSQL, named like its SQLite twin in GRDB's migrator (the same
/// identifier means the same tables, in each engine's types).
public struct SQLMigration: Sendable {
    public var id: String
    public var script: String

    public init(_ id: String, _ script: String) {
        self.id = id
        self.script = script
    }
}

/// Applies migrations in order, each in its own transaction, recording them in
/// `schema_migrations`. Nodes starting together take turns on an advisory lock, so a
/// migration runs once.
public enum PostgresMigrator {
    /// The advisory lock key migrations hold (any constant unlikely to clash).
    static let lockKey = 0x6867_6d69_6772  // "hgmigr"

    /// Returns the ids applied now (empty when the schema was current).
    @discardableResult
    public static func migrate(_ database: PostgreSQLDatabase, _ migrations: [SQLMigration]) async throws -> [String] {
        try await database.write(isolation: .readCommitted) { c in
            _ = try c.query("SELECT pg_advisory_xact_lock(?)", [lockKey])
            try c.execute("CREATE TABLE IF NOT EXISTS schema_migrations (id TEXT PRIMARY KEY NOT NULL, applied_at TEXT NOT NULL)")
            let done = Set(try c.query("SELECT id FROM schema_migrations", []).compactMap { $0.string(0) })
            var applied: [String] = []
            for m in migrations where !done.contains(m.id) {
                try c.execute(m.script)
                try c.execute(
                    "INSERT INTO schema_migrations (id, applied_at) VALUES (?, ?)", [m.id, Timestamp.format(Date())])
                applied.append(m.id)
            }
            return applied
        }
    }
}
