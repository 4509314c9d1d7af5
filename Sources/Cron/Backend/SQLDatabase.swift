public import Foundation

/// The SQL engines the appliance stores its data in: the embedded SQLite file (one node) or
/// a PostgreSQL server (several nodes on one database).
public enum SQLDialect: String, Sendable {
    case sqlite
    case postgres
}

/// One value bound to or read from a statement. The stored types are the ones both engines
/// share: 64-bit integers, doubles, text and bytes (timestamps are RFC 3339 text).
public enum SQLValue: Sendable, Hashable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob(Data)
}

/// A Swift value that binds as a statement argument.
public protocol SQLBindable: Sendable {
    var sqlValue: SQLValue { get }
}

extension Int: SQLBindable { public var sqlValue: SQLValue { .integer(Int64(self)) } }
extension Int64: SQLBindable { public var sqlValue: SQLValue { .integer(self) } }
extension Double: SQLBindable { public var sqlValue: SQLValue { .real(self) } }
extension String: SQLBindable { public var sqlValue: SQLValue { .text(self) } }
extension Data: SQLBindable { public var sqlValue: SQLValue { .blob(self) } }
extension Bool: SQLBindable { public var sqlValue: SQLValue { .integer(self ? 1 : 0) } }
extension SQLValue: SQLBindable { public var sqlValue: SQLValue { self } }
extension Optional: SQLBindable where Wrapped: SQLBindable {
    public var sqlValue: SQLValue { self?.sqlValue ?? .null }
}

/// One result row: values by position and by column name.
public struct SQLRow: Sendable {
    public let columns: [String]
    public let values: [SQLValue]

    public init(columns: [String], values: [SQLValue]) {
        self.columns = columns
        self.values = values
    }

    /// The stored value at `index` / of column `name` (`.null` for an unknown column).
    public func value(_ index: Int) -> SQLValue { values[index] }

    public func value(_ name: String) -> SQLValue {
        guard let i = columns.firstIndex(of: name) else { return .null }
        return values[i]
    }

    /// A column as a Swift type, GRDB-style: `let name: String = row["name"]`,
    /// `row["note"] as String?`. A NULL read as a non-optional type gives the type's empty
    /// value (the schema's NOT NULL constraints keep that from happening) instead of trapping.
    public subscript<T: SQLColumnDecodable>(_ name: String) -> T { T.decode(value(name)) ?? T.emptyValue }
    public subscript<T: SQLColumnDecodable>(_ index: Int) -> T { T.decode(values[index]) ?? T.emptyValue }

    public func string(_ name: String) -> String? { Self.string(value(name)) }
    public func string(_ index: Int) -> String? { Self.string(value(index)) }
    public func int(_ name: String) -> Int? { Self.int(value(name)) }
    public func int(_ index: Int) -> Int? { Self.int(value(index)) }

    static func string(_ v: SQLValue) -> String? {
        switch v {
        case .text(let s): s
        case .integer(let i): String(i)
        case .real(let d): String(d)
        case .blob(let b): String(decoding: b, as: UTF8.self)
        case .null: nil
        }
    }

    static func int(_ v: SQLValue) -> Int? {
        switch v {
        case .integer(let i): Int(i)
        case .real(let d): Int(d)
        case .text(let s): Int(s)
        case .blob, .null: nil
        }
    }
}

/// A Swift type a column converts to (the conversions SQLite and GRDB make).
public protocol SQLColumnDecodable {
    static func decode(_ value: SQLValue) -> Self?
    /// What a NULL reads as when the caller asked for a non-optional value.
    static var emptyValue: Self { get }
}

extension String: SQLColumnDecodable {
    public static func decode(_ value: SQLValue) -> String? { SQLRow.string(value) }
    public static var emptyValue: String { "" }
}

extension Int: SQLColumnDecodable {
    public static func decode(_ value: SQLValue) -> Int? { SQLRow.int(value) }
    public static var emptyValue: Int { 0 }
}

extension Int64: SQLColumnDecodable {
    public static func decode(_ value: SQLValue) -> Int64? { SQLRow.int(value).map(Int64.init) }
    public static var emptyValue: Int64 { 0 }
}

extension Double: SQLColumnDecodable {
    public static func decode(_ value: SQLValue) -> Double? {
        switch value {
        case .real(let d): d
        case .integer(let i): Double(i)
        case .text(let s): Double(s)
        case .blob, .null: nil
        }
    }
    public static var emptyValue: Double { 0 }
}

extension Bool: SQLColumnDecodable {
    public static func decode(_ value: SQLValue) -> Bool? { SQLRow.int(value).map { $0 != 0 } }
    public static var emptyValue: Bool { false }
}

extension Data: SQLColumnDecodable {
    public static func decode(_ value: SQLValue) -> Data? {
        switch value {
        case .blob(let b): b
        case .text(let s): Data(s.utf8)
        case .integer, .real, .null: nil
        }
    }
    public static var emptyValue: Data { Data() }
}

extension Optional: SQLColumnDecodable where Wrapped: SQLColumnDecodable {
    public static func decode(_ value: SQLValue) -> Wrapped?? {
        if case .null = value { return .some(nil) }
        return Wrapped.decode(value).map { .some($0) }
    }
    public static var emptyValue: Wrapped? { nil }
}

/// How a write transaction isolates itself on PostgreSQL. SQLite has one writer at a time,
/// so every SQLite write is serializable whatever is asked.
public enum SQLIsolation: Sendable {
    /// The default: the transaction behaves as if it ran alone (SQLite's guarantee). On
    /// PostgreSQL the write takes one advisory lock shared by every node (one such writer at a
    /// time, as on SQLite) and reads what earlier writers committed; a deadlock reruns the body.
    case serializable
    /// Each statement sees what committed before it started. For short transactions that
    /// serialize themselves with a lock (job claims), where a snapshot taken before the lock
    /// was granted would miss the previous holder's writes.
    case readCommitted
}

/// A connection inside one transaction. Statements use `?` placeholders on both engines.
/// Not `Sendable`: it is only valid inside the `read`/`write` body that received it.
public protocol SQLConnection {
    var dialect: SQLDialect { get }
    /// Runs one statement; returns the number of rows it changed.
    @discardableResult
    func execute(_ sql: String, _ arguments: [any SQLBindable]) throws -> Int
    /// Runs one query and returns all its rows.
    func query(_ sql: String, _ arguments: [any SQLBindable]) throws -> [SQLRow]
    /// Runs one query and calls `body` with each row in turn (SQLite steps a cursor, one row
    /// in memory at a time; PostgreSQL reads a server-side cursor a thousand rows at a time).
    func each(_ sql: String, _ arguments: [any SQLBindable], _ body: (SQLRow) throws -> Void) throws
    /// Runs `action` once this transaction has committed (never when it rolls back, and on
    /// PostgreSQL not for an attempt that is rerun).
    func afterCommit(_ action: @escaping @Sendable () -> Void)
}

extension SQLConnection {
    @discardableResult
    public func execute(_ sql: String) throws -> Int { try execute(sql, []) }

    public func each(_ sql: String, _ arguments: [any SQLBindable], _ body: (SQLRow) throws -> Void) throws {
        for row in try query(sql, arguments) { try body(row) }
    }

    public func queryOne(_ sql: String, _ arguments: [any SQLBindable] = []) throws -> SQLRow? {
        try query(sql, arguments).first
    }

    public func int(_ sql: String, _ arguments: [any SQLBindable] = []) throws -> Int? {
        try queryOne(sql, arguments).flatMap { $0.int(0) }
    }

    public func string(_ sql: String, _ arguments: [any SQLBindable] = []) throws -> String? {
        try queryOne(sql, arguments).flatMap { $0.string(0) }
    }

    /// The first column of the first row as `T` (nil without a row or for NULL).
    public func scalar<T: SQLColumnDecodable>(_ type: T.Type, _ sql: String, _ arguments: [any SQLBindable] = []) throws -> T? {
        try queryOne(sql, arguments).flatMap { T.decode($0.value(0)) }
    }

    public func bool(_ sql: String, _ arguments: [any SQLBindable] = []) throws -> Bool? { try scalar(Bool.self, sql, arguments) }
    public func int64(_ sql: String, _ arguments: [any SQLBindable] = []) throws -> Int64? { try scalar(Int64.self, sql, arguments) }
    public func double(_ sql: String, _ arguments: [any SQLBindable] = []) throws -> Double? { try scalar(Double.self, sql, arguments) }
    public func data(_ sql: String, _ arguments: [any SQLBindable] = []) throws -> Data? { try scalar(Data.self, sql, arguments) }

    /// The first column of every row, as text.
    public func strings(_ sql: String, _ arguments: [any SQLBindable] = []) throws -> [String] {
        try query(sql, arguments).compactMap { $0.string(0) }
    }
}

/// A database: transactions run their (synchronous) body off the cooperative pool.
public protocol SQLDatabase: Sendable {
    var dialect: SQLDialect { get }
    /// A read-only transaction over one consistent snapshot.
    func read<T: Sendable>(_ body: @escaping @Sendable (any SQLConnection) throws -> T) async throws -> T
    /// A write transaction; committed when `body` returns, rolled back when it throws.
    /// On PostgreSQL the body may run more than once (see `SQLIsolation`): it must not have
    /// effects outside the database.
    func write<T: Sendable>(
        isolation: SQLIsolation, _ body: @escaping @Sendable (any SQLConnection) throws -> T
    ) async throws -> T
}

extension SQLDatabase {
    @discardableResult
    public func write<T: Sendable>(_ body: @escaping @Sendable (any SQLConnection) throws -> T) async throws -> T {
        try await write(isolation: .serializable, body)
    }
}

/// Errors of the SQL layer a caller can act on.
public enum SQLDatabaseError: Error, CustomStringConvertible, Equatable {
    /// The database cannot be reached (refused, closed, timed out): a 503, not a 500.
    case unavailable(String)
    /// The statement failed on the server (`sqlState` is PostgreSQL's code, e.g. 23505).
    case statement(sqlState: String?, message: String)
    case badURL(String)

    public var description: String {
        switch self {
        case .unavailable(let m): "database unavailable: \(m)"
        case .statement(let state, let m): state.map { "database error \($0): \(m)" } ?? "database error: \(m)"
        case .badURL(let m): "bad database URL: \(m)"
        }
    }

    /// PostgreSQL gave up on a transaction because of a concurrent one (serialization
    /// failure or deadlock): running it again is the fix.
    public var isRetryableConflict: Bool {
        if case .statement(let state, _) = self { return state == "40001" || state == "40P01" }
        return false
    }

    /// A unique or primary-key constraint refused the statement.
    public var isUniqueViolation: Bool {
        if case .statement(let state, _) = self { return state == "23505" }
        return false
    }
}

/// Rewrites `?` placeholders as PostgreSQL's `$1, $2, …`, leaving string literals, quoted
/// identifiers and comments alone.
public func postgresPlaceholders(_ sql: String) -> String {
    var out = ""
    out.reserveCapacity(sql.utf8.count + 16)
    var n = 0
    var it = Array(sql.unicodeScalars)[...]
    while let c = it.popFirst() {
        switch c {
        case "'", "\"":
            out.unicodeScalars.append(c)
            while let d = it.popFirst() {
                out.unicodeScalars.append(d)
                if d == c {
                    // A doubled quote is an escaped quote inside the literal.
                    if it.first == c { out.unicodeScalars.append(it.removeFirst()) } else { break }
                }
            }
        case "-" where it.first == "-":
            out.unicodeScalars.append(c)
            while let d = it.popFirst() {
                out.unicodeScalars.append(d)
                if d == "\n" { break }
            }
        case "?":
            // `?NNN` (SQLite's numbered form) keeps its number; a bare `?` takes the next one.
            var digits = ""
            while let d = it.first, d.properties.numericType != nil, d.isASCII {
                digits.unicodeScalars.append(it.removeFirst())
            }
            if digits.isEmpty {
                n += 1
                out += "$\(n)"
            } else {
                out += "$" + digits
                n = max(n, Int(digits) ?? n)
            }
        default:
            out.unicodeScalars.append(c)
        }
    }
    return out
}

extension SQLConnection {
    /// Inserts `rows` with multi-row `VALUES` lists, `chunk` rows a statement (one round trip
    /// a chunk on PostgreSQL). `head` is `INSERT INTO t (a, b, …)`; `tail` follows the values
    /// (`ON CONFLICT DO NOTHING`). Every row has as many values as `head` names columns.
    public func insertMany(_ head: String, rows: [[any SQLBindable]], tail: String = "", chunk: Int = 64) throws {
        guard let width = rows.first?.count, width > 0 else { return }
        let tuple = "(" + Array(repeating: "?", count: width).joined(separator: ", ") + ")"
        var start = 0
        while start < rows.count {
            let end = min(start + chunk, rows.count)
            let values = Array(repeating: tuple, count: end - start).joined(separator: ", ")
            var arguments: [any SQLBindable] = []
            arguments.reserveCapacity((end - start) * width)
            for row in rows[start..<end] { arguments.append(contentsOf: row) }
            try execute("\(head) VALUES \(values) \(tail)", arguments)
            start = end
        }
    }
}

extension SQLDialect {
    /// A `LIKE` that ignores ASCII case on both engines (SQLite's `LIKE` does).
    public var like: String { self == .postgres ? "ILIKE" : "LIKE" }

    /// The JSON value at `path` (object keys) in the JSON text or bytes of `column`, as SQL
    /// text or number.
    public func json(_ column: String, _ path: String...) -> String {
        switch self {
        case .sqlite: "json_extract(\(column), '$.\(path.joined(separator: "."))')"
        case .postgres: "(\(Self.jsonb(column)) #>> '{\(path.joined(separator: ","))}')"
        }
    }

    /// The strings of the JSON array at key `key` of `column`, joined with `separator`.
    public func jsonArrayJoined(_ column: String, _ key: String, separator: String) -> String {
        switch self {
        case .sqlite: "(SELECT group_concat(value, '\(separator)') FROM json_each(\(column), '$.\(key)'))"
        case .postgres:
            "(SELECT string_agg(value, '\(separator)') FROM jsonb_array_elements_text(CASE WHEN jsonb_typeof(\(Self.jsonb(column)) -> '\(key)') = 'array' THEN \(Self.jsonb(column)) -> '\(key)' END))"
        }
    }

    /// Text values of a group joined with `separator` (`DISTINCT` values once each).
    public func groupConcat(_ expression: String, separator: String = ",", distinct: Bool = false) -> String {
        switch self {
        case .sqlite:
            // SQLite's DISTINCT form takes no separator argument; its default is ",".
            distinct ? "group_concat(DISTINCT \(expression))" : "group_concat(\(expression), '\(separator)')"
        case .postgres: "string_agg(\(distinct ? "DISTINCT " : "")\(expression), '\(separator)')"
        }
    }

    /// The position (1-based, 0 when absent) of the bytes `needle` in the bytes `haystack`.
    public func position(of needle: String, in haystack: String) -> String {
        switch self {
        case .sqlite: "instr(\(haystack), \(needle))"
        case .postgres: "position(\(needle) in \(haystack))"
        }
    }

    /// The greatest byte string of a group (PostgreSQL has no `max(bytea)`).
    public func maxBytes(_ expression: String) -> String {
        switch self {
        case .sqlite: "MAX(\(expression))"
        case .postgres: "(array_agg(\(expression) ORDER BY \(expression) DESC))[1]"
        }
    }

    private static func jsonb(_ column: String) -> String { "convert_from(\(column), 'UTF8')::jsonb" }
}

extension SQLDialect {
    /// One `ORDER BY` term that sorts as SQLite sorts on both engines: NULLs smallest, and a
    /// `column COLLATE NOCASE` as `lower(column)` on PostgreSQL.
    public func orderTerm(_ column: String, descending: Bool) -> String {
        var column = column
        if self == .postgres, column.hasSuffix(" COLLATE NOCASE") {
            column = "lower(\(column.dropLast(" COLLATE NOCASE".count)))"
        }
        return "\(column) \(descending ? "DESC NULLS LAST" : "ASC NULLS FIRST")"
    }
}
