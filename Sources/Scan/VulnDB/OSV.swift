public import Foundation

/// Any JSON value, kept for the free-form `ecosystem_specific` / `database_specific`
/// objects of OSV records.
public enum JSONValue: Sendable, Hashable, Codable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        // Strings first: they are by far the most common leaves (Go symbol lists), and
        // every failed attempt costs a thrown error.
        if c.decodeNil() {
            self = .null
        } else if let s = try? c.decode(String.self) {
            self = .string(s)
        } else if let n = try? c.decode(Double.self) {
            self = .number(n)
        } else if let b = try? c.decode(Bool.self) {
            self = .bool(b)
        } else if let a = try? c.decode([JSONValue].self) {
            self = .array(a)
        } else {
            self = .object(try c.decode([String: JSONValue].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let b): try c.encode(b)
        case .number(let n): try c.encode(n)
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }

    /// The member `key` of an object, else nil.
    public subscript(key: String) -> JSONValue? {
        if case .object(let o) = self { return o[key] }
        return nil
    }

    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }
}

/// One OSV record (https://ossf.github.io/osv-schema/, schema 1.x).
public struct OSVRecord: Sendable, Hashable, Codable {
    public var schemaVersion: String?
    public var id: String
    /// RFC 3339 time of the last change; the newer record wins on import.
    public var modified: String
    public var published: String?
    /// Set when the advisory was retracted; withdrawn records are not matched.
    public var withdrawn: String?
    public var aliases: [String]?
    public var related: [String]?
    public var upstream: [String]?
    public var summary: String?
    public var details: String?
    public var severity: [OSVSeverity]?
    public var affected: [OSVAffected]?
    public var references: [OSVReference]?
    public var databaseSpecific: JSONValue?

    enum CodingKeys: String, CodingKey {
        case schemaVersion = "schema_version"
        case id, modified, published, withdrawn, aliases, related, upstream, summary, details, severity, affected,
            references
        case databaseSpecific = "database_specific"
    }

    public init(id: String, modified: String) {
        self.id = id
        self.modified = modified
    }
}

/// A severity score: `type` is `CVSS_V2`, `CVSS_V3`, `CVSS_V4` or `Ubuntu`; `score` is a
/// vector string (or a word for `Ubuntu`).
public struct OSVSeverity: Sendable, Hashable, Codable {
    public var type: String
    public var score: String

    public init(type: String, score: String) {
        self.type = type
        self.score = score
    }
}

public struct OSVPackage: Sendable, Hashable, Codable {
    public var ecosystem: String
    public var name: String
    public var purl: String?

    public init(ecosystem: String, name: String, purl: String? = nil) {
        self.ecosystem = ecosystem
        self.name = name
        self.purl = purl
    }
}

/// One `affected[]` entry: a package and the versions of it that are affected.
public struct OSVAffected: Sendable, Hashable, Codable {
    public var package: OSVPackage?
    public var severity: [OSVSeverity]?
    public var ranges: [OSVRange]?
    public var versions: [String]?
    public var ecosystemSpecific: JSONValue?
    public var databaseSpecific: JSONValue?

    enum CodingKeys: String, CodingKey {
        case package, severity, ranges, versions
        case ecosystemSpecific = "ecosystem_specific"
        case databaseSpecific = "database_specific"
    }

    public init(package: OSVPackage?, ranges: [OSVRange]? = nil, versions: [String]? = nil) {
        self.package = package
        self.ranges = ranges
        self.versions = versions
    }
}

/// A range: `type` `ECOSYSTEM`, `SEMVER` or `GIT`, and its events in any order.
public struct OSVRange: Sendable, Hashable, Codable {
    public var type: String
    public var repo: String?
    public var events: [OSVEvent]

    public init(type: String, events: [OSVEvent]) {
        self.type = type
        self.events = events
    }
}

/// One range event. Exactly one kind is set in a valid record.
public struct OSVEvent: Sendable, Hashable, Codable {
    public enum Kind: String, Sendable, Hashable, Codable {
        case introduced, fixed, lastAffected = "last_affected", limit
    }

    public var kind: Kind
    public var version: String

    public init(_ kind: Kind, _ version: String) {
        self.kind = kind
        self.version = version
    }

    enum CodingKeys: String, CodingKey {
        case introduced, fixed, limit
        case lastAffected = "last_affected"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        if let v = try c.decodeIfPresent(String.self, forKey: .introduced) {
            self.init(.introduced, v)
        } else if let v = try c.decodeIfPresent(String.self, forKey: .fixed) {
            self.init(.fixed, v)
        } else if let v = try c.decodeIfPresent(String.self, forKey: .lastAffected) {
            self.init(.lastAffected, v)
        } else if let v = try c.decodeIfPresent(String.self, forKey: .limit) {
            self.init(.limit, v)
        } else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "OSV event without a known kind"))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        switch kind {
        case .introduced: try c.encode(version, forKey: .introduced)
        case .fixed: try c.encode(version, forKey: .fixed)
        case .lastAffected: try c.encode(version, forKey: .lastAffected)
        case .limit: try c.encode(version, forKey: .limit)
        }
    }
}

public struct OSVReference: Sendable, Hashable, Codable {
    public var type: String
    public var url: String

    public init(type: String, url: String) {
        self.type = type
        self.url = url
    }
}

extension OSVRecord {
    /// Decodes one record, or every record of a JSON array of records.
    public static func decodeAll(from data: Data) throws -> [OSVRecord] {
        let decoder = JSONDecoder()
        let first = data.first { !($0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09) }
        if first == UInt8(ascii: "[") { return try decoder.decode([OSVRecord].self, from: data) }
        return [try decoder.decode(OSVRecord.self, from: data)]
    }

    /// The summary, or the first line of the details.
    public var title: String? {
        if let summary, !summary.isEmpty { return summary }
        return details?.split(separator: "\n", maxSplits: 1).first.map(String.init)
    }
}
