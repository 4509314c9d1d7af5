public import Foundation
public import GRDB

/// The embedded SQLite database behind the SQL layer (GRDB's writer: a pool in the data
/// directory, a queue in tests). Statements with arguments are cached per connection.
public struct SQLiteDatabase: SQLDatabase {
    public let writer: any DatabaseWriter
    public var dialect: SQLDialect { .sqlite }

    public init(writer: any DatabaseWriter) {
        self.writer = writer
    }

    public func read<T: Sendable>(_ body: @escaping @Sendable (any SQLConnection) throws -> T) async throws -> T {
        try await writer.read { db in try body(db) }
    }

    public func write<T: Sendable>(
        isolation: SQLIsolation, _ body: @escaping @Sendable (any SQLConnection) throws -> T
    ) async throws -> T {
        try await writer.write { db in try body(db) }
    }
}

/// A GRDB `Database` seen through the SQL layer, for code written once for both engines and
/// called from inside an existing GRDB transaction.
public struct SQLiteConnection: SQLConnection {
    public let db: Database
    public var dialect: SQLDialect { .sqlite }

    public init(_ db: Database) {
        self.db = db
    }

    @discardableResult
    public func execute(_ sql: String, _ arguments: [any SQLBindable]) throws -> Int {
        if arguments.isEmpty {
            // May hold several statements (migrations).
            try db.execute(sql: sql)
        } else {
            try db.cachedStatement(sql: sql).execute(arguments: Self.arguments(arguments))
        }
        return db.changesCount
    }

    public func query(_ sql: String, _ arguments: [any SQLBindable]) throws -> [SQLRow] {
        let statement = try db.cachedStatement(sql: sql)
        let columns = statement.columnNames
        let cursor = try Row.fetchCursor(statement, arguments: Self.arguments(arguments))
        var rows: [SQLRow] = []
        while let row = try cursor.next() {
            rows.append(SQLRow(columns: columns, values: row.databaseValues.map(Self.value)))
        }
        return rows
    }

    public func afterCommit(_ action: @escaping @Sendable () -> Void) {
        db.afterNextTransaction(onCommit: { _ in action() })
    }

    public func each(_ sql: String, _ arguments: [any SQLBindable], _ body: (SQLRow) throws -> Void) throws {
        let statement = try db.cachedStatement(sql: sql)
        let columns = statement.columnNames
        let cursor = try Row.fetchCursor(statement, arguments: Self.arguments(arguments))
        while let row = try cursor.next() {
            try body(SQLRow(columns: columns, values: row.databaseValues.map(Self.value)))
        }
    }

    /// A SQL-layer value for GRDB code that builds its own arguments.
    public static func databaseValue(_ v: any SQLBindable) -> DatabaseValue {
        switch v.sqlValue {
        case .null: .null
        case .integer(let i): i.databaseValue
        case .real(let d): d.databaseValue
        case .text(let s): s.databaseValue
        case .blob(let b): b.databaseValue
        }
    }

    public static func arguments(_ values: [any SQLBindable]) -> StatementArguments {
        StatementArguments(values.map(databaseValue))
    }

    public static func value(_ v: DatabaseValue) -> SQLValue {
        switch v.storage {
        case .null: .null
        case .int64(let i): .integer(i)
        case .double(let d): .real(d)
        case .string(let s): .text(s)
        case .blob(let b): .blob(b)
        }
    }
}

/// A `Date` bound or read directly (outside a record) is stored as GRDB stores it
/// (`yyyy-MM-dd HH:mm:ss.SSS`, UTC) and read with GRDB's parser, on both engines, so rows
/// written before the SQL layer read back unchanged.
extension Date: SQLBindable {
    public var sqlValue: SQLValue { SQLiteConnection.value(databaseValue) }
}

extension Date: SQLColumnDecodable {
    public static func decode(_ value: SQLValue) -> Date? {
        Date.fromDatabaseValue(SQLiteConnection.databaseValue(value))
    }
    public static var emptyValue: Date { Date(timeIntervalSince1970: 0) }
}

extension Database {
    /// This transaction through the SQL layer.
    public var sql: SQLiteConnection { SQLiteConnection(self) }
}

extension SQLRow {
    /// A GRDB row as a SQL-layer row (for code shared with rows read through GRDB).
    public init(_ row: Row) {
        self.init(columns: Array(row.columnNames), values: row.databaseValues.map(SQLiteConnection.value))
    }
}

extension SQLConnection {
    /// The GRDB transaction behind this connection, on SQLite (for code that keeps a
    /// SQLite-specific fast path).
    public var grdb: Database? {
        if let c = self as? SQLiteConnection { return c.db }
        return self as? Database
    }
}

/// A GRDB transaction is a SQL-layer connection as it is: code moved to the SQL layer takes
/// `any SQLConnection` and its GRDB callers keep passing their `db`.
extension Database: SQLConnection {
    public var dialect: SQLDialect { .sqlite }

    @discardableResult
    public func execute(_ sql: String, _ arguments: [any SQLBindable]) throws -> Int {
        try SQLiteConnection(self).execute(sql, arguments)
    }

    public func query(_ sql: String, _ arguments: [any SQLBindable]) throws -> [SQLRow] {
        try SQLiteConnection(self).query(sql, arguments)
    }

    public func afterCommit(_ action: @escaping @Sendable () -> Void) {
        afterNextTransaction(onCommit: { _ in action() })
    }

    public func each(_ sql: String, _ arguments: [any SQLBindable], _ body: (SQLRow) throws -> Void) throws {
        try SQLiteConnection(self).each(sql, arguments, body)
    }
}
