public import Cron
public import Foundation
public import GRDB
import Store

/// The database as data rather than as a SQLite file image: what a backup carries, so that
/// it restores into SQLite or PostgreSQL alike.
///
/// JSON lines: a header naming the migrations the source had applied; per table a line with
/// its name, columns and row count, then one JSON array per row; an end line with the count
/// of every table. Values keep their storage class: `null`, integers as numbers, text as
/// strings, reals as `{"f": n}`, bytes as `{"b": "base64"}`. Tables come parents first
/// (foreign keys), so a restore inserts in file order.
public enum LogicalExport {
    /// Tables that are the engine's bookkeeping, not the appliance's data.
    static let skipped: Set<String> = ["grdb_migrations", "schema_migrations", "server_heartbeat"]

    struct Header: Codable {
        var harborguardExport: Int
        var engine: String
        var migrations: [String]
        var createdAt: String
    }

    struct TableHeader: Codable {
        var table: String
        var columns: [String]
        var rows: Int
    }

    struct End: Codable {
        var end: Bool
        var counts: [String: Int]
    }

    /// One stored value in its JSON form.
    struct Cell: Codable {
        var value: SQLValue

        init(_ value: SQLValue) { self.value = value }

        enum Key: String, CodingKey { case f, b }

        init(from decoder: any Decoder) throws {
            let single = try decoder.singleValueContainer()
            if single.decodeNil() {
                value = .null
            } else if let i = try? single.decode(Int64.self) {
                value = .integer(i)
            } else if let s = try? single.decode(String.self) {
                value = .text(s)
            } else {
                let keyed = try decoder.container(keyedBy: Key.self)
                if let d = try keyed.decodeIfPresent(Double.self, forKey: .f) {
                    value = .real(d)
                } else if let b = try keyed.decodeIfPresent(String.self, forKey: .b), let data = Data(base64Encoded: b) {
                    value = .blob(data)
                } else {
                    throw DecodingError.dataCorruptedError(in: single, debugDescription: "not a stored value")
                }
            }
        }

        func encode(to encoder: any Encoder) throws {
            switch value {
            case .null:
                var c = encoder.singleValueContainer()
                try c.encodeNil()
            case .integer(let i):
                var c = encoder.singleValueContainer()
                try c.encode(i)
            case .text(let s):
                var c = encoder.singleValueContainer()
                try c.encode(s)
            case .real(let d):
                var c = encoder.container(keyedBy: Key.self)
                try c.encode(d, forKey: .f)
            case .blob(let b):
                var c = encoder.container(keyedBy: Key.self)
                try c.encode(b.base64EncodedString(), forKey: .b)
            }
        }
    }

    /// The SQLite database's tables, parents before children.
    static func sqliteTables(_ db: Database) throws -> [String] {
        let names = try String.fetchAll(
            db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        ).filter { !skipped.contains($0) }
        var parents: [String: Set<String>] = [:]
        for t in names {
            parents[t] = Set(try String.fetchAll(db, sql: "SELECT \"table\" FROM pragma_foreign_key_list(?)", arguments: [t]))
                .subtracting([t])
        }
        var ordered: [String] = []
        var placed: Set<String> = []
        while ordered.count < names.count {
            let ready = names.filter { !placed.contains($0) && (parents[$0] ?? []).isSubset(of: placed) }
            guard !ready.isEmpty else {
                // A cycle (none today): the rest in name order.
                ordered += names.filter { !placed.contains($0) }
                break
            }
            ordered += ready
            placed.formUnion(ready)
        }
        return ordered
    }

    /// Writes every table of the SQLite database `db` (inside one read transaction: a
    /// consistent snapshot while the server runs) through `write`. Returns rows per table.
    @discardableResult
    public static func export(sqlite db: Database, write: (Data) throws -> Void) throws -> [String: Int] {
        let migrations = try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations ORDER BY rowid")
        return try export(db, tables: try sqliteTables(db), migrations: migrations, write: write)
    }

    /// Writes `tables` of `db` through `write`, inside the caller's read transaction (one
    /// consistent snapshot while the server or the nodes run). On PostgreSQL the tables and
    /// schema steps are those of this build's SQLite schema (the same tables,
    /// `PostgresSchemaTests`), so an export of either engine restores into either. Rows stream
    /// (`SQLConnection.each`) and are written a megabyte at a time.
    @discardableResult
    public static func export(
        _ db: any SQLConnection, tables: [String], migrations: [String], write: (Data) throws -> Void
    ) throws -> [String: Int] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        func line(_ value: some Encodable) throws {
            var d = try encoder.encode(value)
            d.append(0x0A)
            try write(d)
        }
        try line(Header(harborguardExport: 1, engine: db.dialect.rawValue, migrations: migrations, createdAt: RFC3339.string(Date())))
        var counts: [String: Int] = [:]
        for table in tables {
            let quoted = "\"\(table)\""
            let rows = try db.int("SELECT COUNT(*) FROM \(quoted)") ?? 0
            let columns = try columnNames(db, table: table)
            try line(TableHeader(table: table, columns: columns, rows: rows))
            var n = 0
            var batch = Data()
            try db.each("SELECT \(columns.map { "\"\($0)\"" }.joined(separator: ", ")) FROM \(quoted)", []) { row in
                batch.append(try encoder.encode(row.values.map(Cell.init)))
                batch.append(0x0A)
                n += 1
                if batch.count > 1 << 20 {
                    try write(batch)
                    batch.removeAll(keepingCapacity: true)
                }
            }
            if !batch.isEmpty { try write(batch) }
            guard n == rows else { throw BackupError.io("\(table) changed while it was exported") }
            counts[table] = n
        }
        try line(End(end: true, counts: counts))
        return counts
    }

    /// A table's columns in their declared order.
    static func columnNames(_ db: any SQLConnection, table: String) throws -> [String] {
        switch db.dialect {
        case .sqlite: try db.strings("SELECT name FROM pragma_table_info(?) ORDER BY cid", [table])
        case .postgres:
            try db.strings(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position",
                [table])
        }
    }

    /// What an import did.
    public struct Imported: Sendable {
        public var counts: [String: Int]
        public var sourceMigrations: [String]
    }

    /// Inserts an export into `db`, an empty database already migrated to this build's schema
    /// (SQLite or PostgreSQL), inside the caller's transaction. `knownMigrations` are this
    /// build's SQLite migration ids: an export from a newer build is refused.
    public static func `import`(_ data: Data, into db: any SQLConnection, knownMigrations: [String]) throws -> Imported {
        var lines = data.split(separator: 0x0A, omittingEmptySubsequences: true)[...]
        let decoder = JSONDecoder()
        func next<T: Decodable>(_ type: T.Type, _ what: String) throws -> T {
            guard let l = lines.popFirst() else { throw BackupError.io("the export ends before its \(what)") }
            do { return try decoder.decode(T.self, from: Data(l)) } catch {
                throw BackupError.io("the export's \(what) is unreadable: \(error)")
            }
        }
        let header = try next(Header.self, "header")
        guard header.harborguardExport == 1 else { throw BackupError.unsupportedVersion(header.harborguardExport) }
        let unknown = header.migrations.filter { !knownMigrations.contains($0) }
        guard unknown.isEmpty else {
            throw BackupError.io(
                "the backup was made by a newer harborguard (schema steps \(unknown.joined(separator: ", ")) are unknown to this build); restore it with that version or newer")
        }
        let columnTypes = try targetColumnTypes(db)
        var counts: [String: Int] = [:]
        while let peek = lines.first {
            if let end = try? decoder.decode(End.self, from: Data(peek)), end.end {
                lines.removeFirst()
                guard end.counts == counts else {
                    throw BackupError.io("the export's row counts do not match its rows: it is incomplete")
                }
                return Imported(counts: counts, sourceMigrations: header.migrations)
            }
            let table = try next(TableHeader.self, "table header")
            guard let types = columnTypes[table.table] else {
                throw BackupError.io("the export has a table \(table.table) this build does not know")
            }
            for c in table.columns where types[c] == nil {
                throw BackupError.io("the export has a column \(table.table).\(c) this build does not know")
            }
            let names = table.columns.map { "\"\($0)\"" }.joined(separator: ", ")
            let marks = Array(repeating: "?", count: table.columns.count).joined(separator: ", ")
            let sql = "INSERT INTO \"\(table.table)\" (\(names)) VALUES (\(marks))"
            let kinds = table.columns.map { types[$0] ?? .text }
            for r in 0..<table.rows {
                let cells = try next([Cell].self, "row \(r + 1) of \(table.table)")
                guard cells.count == kinds.count else {
                    throw BackupError.io("row \(r + 1) of \(table.table) has \(cells.count) values for \(kinds.count) columns")
                }
                // SQLite keeps each value's storage class as written; PostgreSQL gets its column's.
                let values: [any SQLBindable] =
                    db.dialect == .postgres ? zip(cells, kinds).map { convert($0.value, to: $1) } : cells.map(\.value)
                try db.execute(sql, values)
            }
            counts[table.table] = table.rows
        }
        throw BackupError.io("the export has no end line: it is incomplete")
    }

    enum ColumnKind { case integer, real, text, blob }

    /// The target's columns and their storage kinds.
    static func targetColumnTypes(_ db: any SQLConnection) throws -> [String: [String: ColumnKind]] {
        var out: [String: [String: ColumnKind]] = [:]
        switch db.dialect {
        case .postgres:
            for r in try db.query(
                "SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = current_schema()", [])
            {
                let kind: ColumnKind = switch r.string(2) ?? "" {
                case "bigint", "integer", "smallint": .integer
                case "double precision", "real", "numeric": .real
                case "bytea": .blob
                default: .text
                }
                out[r.string(0) ?? "", default: [:]][r.string(1) ?? ""] = kind
            }
        case .sqlite:
            for t in try db.query("SELECT name FROM sqlite_master WHERE type = 'table'", []).compactMap({ $0.string(0) }) {
                for r in try db.query("SELECT name, type FROM pragma_table_info(?)", [t]) {
                    let kind: ColumnKind = switch (r.string(1) ?? "").uppercased() {
                    case "INTEGER": .integer
                    case "REAL": .real
                    case "BLOB": .blob
                    default: .text
                    }
                    out[t, default: [:]][r.string(0) ?? ""] = kind
                }
            }
        }
        return out
    }

    /// A value as the target column stores it. SQLite keeps whatever class was written
    /// (JSON text in a BLOB column, say); PostgreSQL's typed columns need the declared one.
    static func convert(_ value: SQLValue, to kind: ColumnKind) -> SQLValue {
        switch (value, kind) {
        case (.text(let s), .blob): .blob(Data(s.utf8))
        case (.integer(let i), .real): .real(Double(i))
        case (.integer(let i), .text): .text(String(i))
        case (.real(let d), .text): .text(String(d))
        case (.blob(let b), .text): .text(String(decoding: b, as: UTF8.self))
        default: value
        }
    }

    /// Every table's rows (for checks after a restore).
    public static func counts(_ db: any SQLConnection, tables: [String]) throws -> [String: Int] {
        var out: [String: Int] = [:]
        for t in tables { out[t] = try db.int("SELECT COUNT(*) FROM \"\(t)\"") ?? 0 }
        return out
    }
}
