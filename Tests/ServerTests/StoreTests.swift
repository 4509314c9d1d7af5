import Foundation
import GRDB
import Server
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

    @Test func migratorKeepsThePreviousIdentifiersInOrder() throws {
        #expect(Migrations.identifiers == Self.previousLayout)
        let app = try AppDatabase.inMemory()
        let applied = try app.writer.read { db in
            try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations ORDER BY rowid")
        }
        #expect(applied == Self.previousLayout)
    }

    /// A database the previous layout made (every migration applied) opens without a new migration.
    @Test func databaseOfThePreviousLayoutOpensUnchanged() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hg-store-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("app.db").path
        do {
            let queue = try DatabaseQueue(path: path)
            try queue.write { db in
                try db.execute(sql: "CREATE TABLE grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY)")
                for id in Self.previousLayout {
                    try db.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES (?)", arguments: [id])
                }
            }
            try queue.close()
        }
        let app = try AppDatabase.open(path: path)
        let applied = try app.writer.read { db in
            try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations ORDER BY rowid")
        }
        #expect(applied == Self.previousLayout)
    }
}
