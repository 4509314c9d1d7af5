import Cron
import Foundation
import GRDB
import Testing

/// The engines the queue's tests run on: SQLite files always, and PostgreSQL when the test
/// harness started one (`make test` does: scripts/pg-test.sh exports its URL).
enum TestBackend: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite
    case postgres

    var testDescription: String { rawValue }

    static var postgresURL: String? {
        ProcessInfo.processInfo.environment["HARBORGUARD_TEST_POSTGRES_URL"].flatMap { $0.isEmpty ? nil : $0 }
    }

    static var available: [TestBackend] { postgresURL == nil ? [.sqlite] : [.sqlite, .postgres] }

    /// A fresh, migrated database (`name` reopens one made before: a file path or a
    /// PostgreSQL database name). Returns the database and its name.
    func open(_ name: String? = nil) async throws -> (any SQLDatabase, String) {
        switch self {
        case .sqlite:
            let path = name ?? NSTemporaryDirectory() + "jobs-\(UUID().uuidString).db"
            let pool = try DatabasePool(path: path)
            var m = DatabaseMigrator()
            JobStore.registerMigrations(&m)
            Scheduler.registerMigrations(&m)
            try m.migrate(pool)
            return (SQLiteDatabase(writer: pool), path)
        case .postgres:
            let url = try #require(Self.postgresURL)
            let dbName = name ?? "hg_t_\(UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16).lowercased())"
            if name == nil {
                let admin = try PostgreSQLDatabase(url: url, connections: 1)
                try await admin.withConnection { c in _ = try c.execute("CREATE DATABASE \(dbName)") }
                await admin.close()
            }
            let db = try PostgreSQLDatabase(url: Self.replacingDatabase(in: url, with: dbName))
            try await PostgresMigrator.migrate(db, JobStore.postgresMigrations + Scheduler.postgresMigrations)
            return (db, dbName)
        }
    }

    static func replacingDatabase(in url: String, with name: String) throws -> String {
        var c = try #require(URLComponents(string: url))
        c.path = "/" + name
        return try #require(c.string)
    }
}

/// In CI the PostgreSQL half of these tests must run, not quietly drop out.
@Suite struct TestBackendPresence {
    @Test func postgresIsThereInCI() {
        if ProcessInfo.processInfo.environment["CI"] == "true" {
            #expect(TestBackend.postgresURL != nil, "CI=true but HARBORGUARD_TEST_POSTGRES_URL is not set: run the tests through `make test`")
        }
    }
}
