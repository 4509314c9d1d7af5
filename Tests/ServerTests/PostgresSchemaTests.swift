import Cron
import Foundation
import GRDB
import SQLTestSupport
import Store
import Testing

/// The PostgreSQL schema is the SQLite schema in PostgreSQL's types: same tables, same
/// columns in the same order, same nullability. A SQLite migration without its PostgreSQL
/// twin fails here.
@Suite(.enabled(if: TestBackend.postgresURL != nil, "needs HARBORGUARD_TEST_POSTGRES_URL (make test starts a server)"))
struct PostgresSchemaTests {
    struct Column: Equatable, CustomStringConvertible {
        var name: String
        var type: String
        var notNull: Bool
        var description: String { "\(name) \(type)\(notNull ? " NOT NULL" : "")" }
    }

    static func sqliteSchema() throws -> [String: [Column]] {
        let app = try AppDatabase.inMemory()
        return try app.writer.read { db in
            var out: [String: [Column]] = [:]
            let tables = try String.fetchAll(db, sql: """
                SELECT name FROM sqlite_master WHERE type = 'table'
                AND name NOT LIKE 'sqlite_%' AND name <> 'grdb_migrations'
                """)
            for t in tables {
                out[t] = try Row.fetchAll(db, sql: "SELECT name, type, \"notnull\", pk FROM pragma_table_info(?)", arguments: [t]).map { r in
                    let declared = (r["type"] as String).uppercased()
                    let type = switch declared {
                    case "INTEGER": "bigint"
                    case "REAL": "double precision"
                    case "BLOB": "bytea"
                    default: declared.lowercased()
                    }
                    // A primary key column is never null in PostgreSQL (nor, in practice, here).
                    return Column(name: r["name"], type: type, notNull: (r["notnull"] as Int) == 1 || (r["pk"] as Int) > 0)
                }
            }
            return out
        }
    }

    static func postgresSchema(_ db: any SQLDatabase) async throws -> [String: [Column]] {
        try await db.read { c in
            var out: [String: [Column]] = [:]
            for r in try c.query("""
                SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns
                WHERE table_schema = 'public' AND table_name <> 'schema_migrations'
                ORDER BY table_name, ordinal_position
                """, [])
            {
                out[r.string(0) ?? "", default: []].append(
                    Column(name: r.string(1) ?? "", type: r.string(2) ?? "", notNull: r.string(3) == "NO"))
            }
            return out
        }
    }

    @Test func everyTableAndColumnMatchesSQLite() async throws {
        let name = try await TestBackend.createPostgresDatabase()
        let db = try PostgreSQLDatabase(url: try TestBackend.postgresURL(database: name))
        let applied = try await PostgresMigrator.migrate(db, Migrations.postgres)
        #expect(applied == Migrations.postgres.map(\.id))
        // A second run (another node starting) applies nothing.
        #expect(try await PostgresMigrator.migrate(db, Migrations.postgres).isEmpty)
        let sqlite = try Self.sqliteSchema()
        let postgres = try await Self.postgresSchema(db).filter { !Migrations.postgresOnlyTables.contains($0.key) }
        #expect(Set(postgres.keys) == Set(sqlite.keys))
        for (table, columns) in sqlite.sorted(by: { $0.key < $1.key }) {
            #expect(postgres[table] == columns, "\(table)")
        }
        await db.close()
    }

    @Test func theAuditLogIsAppendOnlyAndUsernamesIgnoreCase() async throws {
        let name = try await TestBackend.createPostgresDatabase()
        let db = try PostgreSQLDatabase(url: try TestBackend.postgresURL(database: name))
        try await PostgresMigrator.migrate(db, Migrations.postgres)
        try await db.write { c in
            try c.execute("INSERT INTO organizations (id, name, created_at) VALUES ('org_1', 'default', 't')")
            try c.execute("INSERT INTO audit_log (org_id, actor, action, created_at) VALUES ('org_1', 'a', 'x', 't')")
            try c.execute("""
                INSERT INTO users (id, org_id, username, password_hash, role, created_at, updated_at)
                VALUES ('usr_1', 'org_1', 'Alice', 'h', 'admin', 't', 't')
                """)
        }
        for statement in ["UPDATE audit_log SET actor = 'b'", "DELETE FROM audit_log"] {
            let error = await #expect(throws: SQLDatabaseError.self) { try await db.write { c in try c.execute(statement) } }
            #expect("\(String(describing: error))".contains("append-only"))
        }
        let duplicate = await #expect(throws: SQLDatabaseError.self) {
            try await db.write { c in
                try c.execute("""
                    INSERT INTO users (id, org_id, username, password_hash, role, created_at, updated_at)
                    VALUES ('usr_2', 'org_1', 'ALICE', 'h', 'admin', 't', 't')
                    """)
            }
        }
        #expect(duplicate?.isUniqueViolation == true)
        await db.close()
    }
}
