public import Cron
import Foundation
public import GRDB

/// The engines the database tests run on: SQLite files always, and PostgreSQL when the test
/// harness started one (`make test` does: scripts/pg-test.sh exports its URL).
/// (A plain target, not a test target: `swift build -c release` builds it too, without the
/// Testing module, so it reports missing setup with thrown errors.)
public enum TestBackend: String, CaseIterable, Sendable {
    case sqlite
    case postgres

    public static var postgresURL: String? {
        ProcessInfo.processInfo.environment["HARBORGUARD_TEST_POSTGRES_URL"].flatMap { $0.isEmpty ? nil : $0 }
    }

    public static var available: [TestBackend] { postgresURL == nil ? [.sqlite] : [.sqlite, .postgres] }

    /// A fresh (or, given `name`, an earlier) database migrated with `sqlite` or `postgres`.
    /// Returns the database and its name (a file path, or a PostgreSQL database name).
    public func open(
        _ name: String? = nil, sqlite: (inout DatabaseMigrator) -> Void, postgres: [SQLMigration]
    ) async throws -> (any SQLDatabase, String) {
        switch self {
        case .sqlite:
            let path = name ?? NSTemporaryDirectory() + "hg-test-\(UUID().uuidString).db"
            var config = Configuration()
            config.foreignKeysEnabled = true
            let pool = try DatabasePool(path: path, configuration: config)
            var m = DatabaseMigrator()
            sqlite(&m)
            try m.migrate(pool)
            return (SQLiteDatabase(writer: pool), path)
        case .postgres:
            let dbName: String
            if let name { dbName = name } else { dbName = try await Self.createPostgresDatabase() }
            let db = try PostgreSQLDatabase(url: try Self.postgresURL(database: dbName))
            try await PostgresMigrator.migrate(db, postgres)
            return (db, dbName)
        }
    }

    /// A new, empty database on the test server.
    public static func createPostgresDatabase() async throws -> String {
        let url = try need(postgresURL, "HARBORGUARD_TEST_POSTGRES_URL")
        let name = "hg_t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16).lowercased()
        let admin = try PostgreSQLDatabase(url: url, connections: 1)
        try await admin.withConnection { c in _ = try c.execute("CREATE DATABASE \(name)") }
        await admin.close()
        return name
    }

    /// The test server's URL with another database name.
    public static func postgresURL(database: String) throws -> String {
        let url = try need(postgresURL, "HARBORGUARD_TEST_POSTGRES_URL")
        var c = try need(URLComponents(string: url), "a parseable HARBORGUARD_TEST_POSTGRES_URL")
        c.path = "/" + database
        return try need(c.string, "a URL")
    }

    struct Missing: Error, CustomStringConvertible {
        var description: String
    }

    static func need<T>(_ value: T?, _ what: String) throws -> T {
        guard let value else { throw Missing(description: "missing \(what)") }
        return value
    }
}
