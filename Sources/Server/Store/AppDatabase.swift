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
        try Migrations.migrator.migrate(writer)
    }
}

/// Prefixed opaque identifiers (`reg_…`, `key_…`).
public enum IDs {
    public static func make(_ prefix: String) -> String { "\(prefix)_\(randomHex(bytes: 12))" }
}

