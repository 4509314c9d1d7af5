import Foundation

/// `Codable` values to and from rows, the way the app's GRDB records have always been
/// stored, so one record type reads and writes the same rows on both engines: columns are the
/// properties' names in snake case; `Date`s are RFC 3339 UTC text with whole seconds
/// (`Timestamp`); `Bool`s are 0/1; enums are their raw values; any other nested value (an
/// array of scanner names, say) is JSON text.
public enum SQLRowCoding {
    /// Foundation's `convertToSnakeCase` (what GRDB's records used): words start at an
    /// uppercase letter after a lowercase one, and at the last capital of a run before a
    /// lowercase letter (`sourceURLValue` → `source_url_value`).
    public static func snakeCase(_ key: String) -> String {
        let chars = Array(key)
        var out = ""
        out.reserveCapacity(chars.count + 4)
        for (i, c) in chars.enumerated() {
            if c.isUppercase, i > 0 {
                let prevLower = chars[i - 1].isLowercase || chars[i - 1].isNumber
                let nextLower = i + 1 < chars.count && chars[i + 1].isLowercase
                if prevLower || (chars[i - 1].isUppercase && nextLower) { out += "_" }
            }
            out += c.lowercased()
        }
        return out
    }

    /// Decodes `T` from `row`.
    public static func decode<T: Decodable>(_ type: T.Type, from row: SQLRow) throws -> T {
        try T(from: RowDecoder(row: row))
    }

    /// The columns `value` encodes to, in property order (a nil optional as NULL, as GRDB's
    /// records write it).
    public static func encode<T: Encodable>(_ value: T) throws -> [(column: String, value: SQLValue)] {
        let box = ColumnsBox()
        try value.encode(to: RowEncoder(box: box))
        return box.columns
    }

    struct KeyError: Error, CustomStringConvertible {
        var description: String
    }

    // MARK: Decoding

    struct RowDecoder: Decoder {
        let row: SQLRow
        var codingPath: [any CodingKey] = []
        var userInfo: [CodingUserInfoKey: Any] { [:] }

        func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
            KeyedDecodingContainer(RowContainer<Key>(row: row))
        }
        func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
            throw KeyError(description: "a row decodes to a keyed value only")
        }
        func singleValueContainer() throws -> any SingleValueDecodingContainer {
            throw KeyError(description: "a row decodes to a keyed value only")
        }
    }

    struct RowContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
        let row: SQLRow
        var codingPath: [any CodingKey] { [] }
        var allKeys: [Key] { row.columns.compactMap { Key(stringValue: $0) } }

        func value(_ key: Key) -> SQLValue { row.value(snakeCase(key.stringValue)) }
        func contains(_ key: Key) -> Bool { row.columns.contains(snakeCase(key.stringValue)) }
        func decodeNil(forKey key: Key) throws -> Bool {
            if case .null = value(key) { return true }
            return false
        }

        func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
            try decodeColumn(type, value(key), column: snakeCase(key.stringValue))
        }

        func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws
            -> KeyedDecodingContainer<NestedKey>
        {
            throw KeyError(description: "nested containers are stored as JSON text")
        }
        func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
            throw KeyError(description: "nested containers are stored as JSON text")
        }
        func superDecoder() throws -> any Decoder { RowDecoder(row: row) }
        func superDecoder(forKey key: Key) throws -> any Decoder { RowDecoder(row: row) }
    }

    static func decodeColumn<T: Decodable>(_ type: T.Type, _ v: SQLValue, column: String) throws -> T {
        func mismatch() -> any Error { KeyError(description: "column \(column) holds \(v), not \(T.self)") }
        if T.self == Date.self {
            guard let s = SQLRow.string(v), let d = Timestamp.parse(s) else { throw mismatch() }
            return d as! T
        }
        if let c = T.self as? any SQLColumnDecodable.Type {
            guard let d = c.decode(v) else { throw mismatch() }
            return d as! T
        }
        // Enums and other single values first, then JSON text.
        if let single = try? T(from: ValueDecoder(value: v)) { return single }
        guard let text = SQLRow.string(v) else { throw mismatch() }
        do {
            return try JSONDecoder().decode(T.self, from: Data(text.utf8))
        } catch {
            throw mismatch()
        }
    }

    /// One column's value as a single-value decoder (raw-value enums).
    struct ValueDecoder: Decoder, SingleValueDecodingContainer {
        let value: SQLValue
        var codingPath: [any CodingKey] { [] }
        var userInfo: [CodingUserInfoKey: Any] { [:] }

        func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
            throw KeyError(description: "not a keyed value")
        }
        func unkeyedContainer() throws -> any UnkeyedDecodingContainer { throw KeyError(description: "not a list") }
        func singleValueContainer() throws -> any SingleValueDecodingContainer { self }

        func decodeNil() -> Bool {
            if case .null = value { return true }
            return false
        }
        func decode<T: Decodable>(_ type: T.Type) throws -> T {
            guard let c = T.self as? any SQLColumnDecodable.Type, let d = c.decode(value) else {
                throw KeyError(description: "\(value) is not a \(T.self)")
            }
            return d as! T
        }
    }

    // MARK: Encoding

    final class ColumnsBox {
        var columns: [(column: String, value: SQLValue)] = []
    }

    struct RowEncoder: Encoder {
        let box: ColumnsBox
        var codingPath: [any CodingKey] { [] }
        var userInfo: [CodingUserInfoKey: Any] { [:] }

        func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
            KeyedEncodingContainer(RowEncodingContainer<Key>(box: box))
        }
        func unkeyedContainer() -> any UnkeyedEncodingContainer { fatalError("a record encodes to a keyed value") }
        func singleValueContainer() -> any SingleValueEncodingContainer { fatalError("a record encodes to a keyed value") }
    }

    struct RowEncodingContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
        let box: ColumnsBox
        var codingPath: [any CodingKey] { [] }

        mutating func encodeNil(forKey key: Key) throws {
            box.columns.append((snakeCase(key.stringValue), .null))
        }

        mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
            box.columns.append((snakeCase(key.stringValue), try encodeColumn(value)))
        }

        // A nil optional is a NULL column, not a missing one (so a full update clears it).
        mutating func encodeIfPresent<T: Encodable>(_ value: T?, forKey key: Key) throws { try put(value, key) }
        mutating func encodeIfPresent(_ value: Bool?, forKey key: Key) throws { try put(value, key) }
        mutating func encodeIfPresent(_ value: String?, forKey key: Key) throws { try put(value, key) }
        mutating func encodeIfPresent(_ value: Double?, forKey key: Key) throws { try put(value, key) }
        mutating func encodeIfPresent(_ value: Float?, forKey key: Key) throws { try put(value, key) }
        mutating func encodeIfPresent(_ value: Int?, forKey key: Key) throws { try put(value, key) }
        mutating func encodeIfPresent(_ value: Int8?, forKey key: Key) throws { try put(value, key) }
        mutating func encodeIfPresent(_ value: Int16?, forKey key: Key) throws { try put(value, key) }
        mutating func encodeIfPresent(_ value: Int32?, forKey key: Key) throws { try put(value, key) }
        mutating func encodeIfPresent(_ value: Int64?, forKey key: Key) throws { try put(value, key) }
        mutating func encodeIfPresent(_ value: UInt?, forKey key: Key) throws { try put(value, key) }
        mutating func encodeIfPresent(_ value: UInt8?, forKey key: Key) throws { try put(value, key) }
        mutating func encodeIfPresent(_ value: UInt16?, forKey key: Key) throws { try put(value, key) }
        mutating func encodeIfPresent(_ value: UInt32?, forKey key: Key) throws { try put(value, key) }
        mutating func encodeIfPresent(_ value: UInt64?, forKey key: Key) throws { try put(value, key) }

        private mutating func put<T: Encodable>(_ value: T?, _ key: Key) throws {
            if let value { try encode(value, forKey: key) } else { try encodeNil(forKey: key) }
        }

        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key)
            -> KeyedEncodingContainer<NestedKey>
        {
            fatalError("nested containers are stored as JSON text")
        }
        mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
            fatalError("nested containers are stored as JSON text")
        }
        mutating func superEncoder() -> any Encoder { RowEncoder(box: box) }
        mutating func superEncoder(forKey key: Key) -> any Encoder { RowEncoder(box: box) }
    }

    static func encodeColumn<T: Encodable>(_ value: T) throws -> SQLValue {
        if let d = value as? Date { return .text(Timestamp.format(d)) }
        if let b = value as? any SQLBindable { return b.sqlValue }
        // Raw-value enums and other single values, else JSON text.
        let single = ValueEncoder()
        if (try? value.encode(to: single)) != nil, let v = single.box.value { return v }
        let json = try JSONEncoder().encode(value)
        return .text(String(decoding: json, as: UTF8.self))
    }

    final class ValueBox {
        var value: SQLValue?
    }

    struct ValueEncoder: Encoder, SingleValueEncodingContainer {
        let box = ValueBox()
        var codingPath: [any CodingKey] { [] }
        var userInfo: [CodingUserInfoKey: Any] { [:] }

        func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
            KeyedEncodingContainer(FailingKeyed<Key>())
        }
        func unkeyedContainer() -> any UnkeyedEncodingContainer { FailingUnkeyed() }
        func singleValueContainer() -> any SingleValueEncodingContainer { self }

        mutating func encodeNil() throws { box.value = .null }
        mutating func encode<T: Encodable>(_ value: T) throws {
            guard let b = value as? any SQLBindable else { throw KeyError(description: "not a single value") }
            box.value = b.sqlValue
        }
    }

    /// Containers that make a single-value attempt fail (the value is then stored as JSON).
    struct FailingKeyed<Key: CodingKey>: KeyedEncodingContainerProtocol {
        var codingPath: [any CodingKey] { [] }
        mutating func encodeNil(forKey key: Key) throws { throw KeyError(description: "keyed") }
        mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws { throw KeyError(description: "keyed") }
        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key)
            -> KeyedEncodingContainer<NestedKey>
        { KeyedEncodingContainer(FailingKeyed<NestedKey>()) }
        mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer { FailingUnkeyed() }
        mutating func superEncoder() -> any Encoder { ValueEncoder() }
        mutating func superEncoder(forKey key: Key) -> any Encoder { ValueEncoder() }
    }

    struct FailingUnkeyed: UnkeyedEncodingContainer {
        var codingPath: [any CodingKey] { [] }
        var count: Int { 0 }
        mutating func encodeNil() throws { throw KeyError(description: "unkeyed") }
        mutating func encode<T: Encodable>(_ value: T) throws { throw KeyError(description: "unkeyed") }
        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
            KeyedEncodingContainer(FailingKeyed<NestedKey>())
        }
        mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer { FailingUnkeyed() }
        mutating func superEncoder() -> any Encoder { ValueEncoder() }
    }
}

/// A `Codable` row of one table, stored the same way on both engines (see `SQLRowCoding`).
public protocol SQLRecord: Codable {
    static var tableName: String { get }
    /// The primary key's columns (default `id`).
    static var primaryKeyColumns: [String] { get }
}

extension SQLRecord {
    public static var primaryKeyColumns: [String] { ["id"] }

    public init(row: SQLRow) throws {
        self = try SQLRowCoding.decode(Self.self, from: row)
    }

    /// Inserts this record's row.
    public func insert(into db: any SQLConnection) throws {
        // A NULL primary key is left to the table (SQLite's rowid, PostgreSQL's identity).
        let columns = try SQLRowCoding.encode(self).filter { !(Self.primaryKeyColumns.contains($0.column) && $0.value == .null) }
        let names = columns.map(\.column).joined(separator: ", ")
        let marks = Array(repeating: "?", count: columns.count).joined(separator: ", ")
        try db.execute("INSERT INTO \(Self.tableName) (\(names)) VALUES (\(marks))", columns.map(\.value))
    }

    /// Writes every column of this record's row (found by its primary key).
    public func update(in db: any SQLConnection) throws {
        let columns = try SQLRowCoding.encode(self)
        let values = Dictionary(columns.map { ($0.column, $0.value) }, uniquingKeysWith: { a, _ in a })
        let set = columns.filter { !Self.primaryKeyColumns.contains($0.column) }
        let whereSQL = Self.primaryKeyColumns.map { "\($0) = ?" }.joined(separator: " AND ")
        try db.execute(
            "UPDATE \(Self.tableName) SET \(set.map { "\($0.column) = ?" }.joined(separator: ", ")) WHERE \(whereSQL)",
            set.map(\.value) + Self.primaryKeyColumns.map { values[$0] ?? .null })
    }

    /// Applies `change`, then writes the columns it changed (none: no statement). Returns
    /// whether a column changed.
    @discardableResult
    public mutating func updateChanges(_ db: any SQLConnection, modify change: (inout Self) throws -> Void) throws -> Bool {
        let before = Dictionary(try SQLRowCoding.encode(self).map { ($0.column, $0.value) }, uniquingKeysWith: { a, _ in a })
        try change(&self)
        let after = try SQLRowCoding.encode(self)
        let changed = after.filter { before[$0.column] != $0.value && !Self.primaryKeyColumns.contains($0.column) }
            .map { ($0.column, $0.value) }
        guard !changed.isEmpty else { return false }
        let keys = Dictionary(after.map { ($0.column, $0.value) }, uniquingKeysWith: { a, _ in a })
        let set = changed.map { "\($0.0) = ?" }.joined(separator: ", ")
        let whereSQL = Self.primaryKeyColumns.map { "\($0) = ?" }.joined(separator: " AND ")
        try db.execute(
            "UPDATE \(Self.tableName) SET \(set) WHERE \(whereSQL)",
            changed.map(\.1) + Self.primaryKeyColumns.map { keys[$0] ?? before[$0] ?? .null })
        return true
    }
}

extension SQLConnection {
    public func fetchOne<R: SQLRecord>(_ type: R.Type, _ sql: String, _ arguments: [any SQLBindable] = []) throws -> R? {
        try queryOne(sql, arguments).map(R.init(row:))
    }

    public func fetchAll<R: SQLRecord>(_ type: R.Type, _ sql: String, _ arguments: [any SQLBindable] = []) throws -> [R] {
        try query(sql, arguments).map(R.init(row:))
    }
}
