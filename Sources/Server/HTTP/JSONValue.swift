public import Foundation
public import Scan
import Store

// Request bodies are parsed into Scan's `JSONValue` (the one JSON tree type of the
// product), so they can be validated field by field (unknown fields, wrong types) with one
// issue per bad field instead of one decoding error.
extension JSONValue {
    public var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .number: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }

    var array: [JSONValue] {
        if case .array(let a) = self { return a }
        return []
    }
}

/// Reads typed fields from a JSON object, collecting one issue per bad field.
public struct ObjectReader {
    public let object: [String: JSONValue]
    public let prefix: String
    public private(set) var issues: [ValidationIssue] = []

    public init(_ object: [String: JSONValue], prefix: String = "") {
        self.object = object
        self.prefix = prefix
    }

    /// Parses a request body that must be one JSON object.
    public static func parse(_ data: Data) throws -> ObjectReader {
        if let problem = StrictJSON.problem(in: data) { throw APIError.badRequest(problem) }
        let value: JSONValue
        do {
            value = try JSONDecoder().decode(JSONValue.self, from: data)
        } catch {
            throw APIError.badRequest("The request body is not valid JSON.")
        }
        guard case .object(let o) = value else {
            throw APIError.badRequest("The request body must be a JSON object.")
        }
        return ObjectReader(o)
    }

    func path(_ key: String) -> String { prefix.isEmpty ? key : "\(prefix).\(key)" }

    public mutating func fail(_ key: String, _ message: String) {
        issues.append(ValidationIssue(path(key), message))
    }

    /// Flags every field not in `allowed` (read-only fields in `ignored` pass silently).
    public mutating func rejectUnknown(allowed: Set<String>, ignored: Set<String> = []) {
        for key in object.keys.sorted() where !allowed.contains(key) && !ignored.contains(key) {
            fail(key, "Unknown field.")
        }
    }

    public func has(_ key: String) -> Bool { object[key] != nil }

    public mutating func string(
        _ key: String, required: Bool = false, minLength: Int = 0, maxLength: Int = 10_000, nullable: Bool = false
    ) -> String? {
        guard let v = object[key] else {
            if required { fail(key, "Required.") }
            return nil
        }
        if case .null = v, nullable || !required { return nil }
        guard case .string(let s) = v else {
            fail(key, "Expected a string, got \(v.typeName).")
            return nil
        }
        if s.count < minLength {
            fail(key, minLength == 1 ? "Must not be empty." : "Must be at least \(minLength) characters.")
            return nil
        }
        if s.count > maxLength {
            fail(key, "Must be at most \(maxLength) characters.")
            return nil
        }
        return s
    }

    public mutating func bool(_ key: String) -> Bool? {
        guard let v = object[key] else { return nil }
        if case .null = v { return nil }
        guard case .bool(let b) = v else {
            fail(key, "Expected a boolean, got \(v.typeName).")
            return nil
        }
        return b
    }

    public mutating func enumValue<E: RawRepresentable>(_ key: String, _: E.Type, required: Bool = false) -> E?
    where E.RawValue == String, E: CaseIterable {
        guard let s = string(key, required: required) else { return nil }
        guard let e = E(rawValue: s) else {
            fail(key, "Must be one of: \(E.allCases.map(\.rawValue).joined(separator: ", ")).")
            return nil
        }
        return e
    }

    public mutating func stringArray(_ key: String, maxCount: Int = 100) -> [String]? {
        guard let v = object[key] else { return nil }
        if case .null = v { return nil }
        guard case .array(let a) = v else {
            fail(key, "Expected an array of strings, got \(v.typeName).")
            return nil
        }
        if a.count > maxCount {
            fail(key, "At most \(maxCount) items.")
            return nil
        }
        var out: [String] = []
        for (i, item) in a.enumerated() {
            guard case .string(let s) = item else {
                fail("\(key)[\(i)]", "Expected a string, got \(item.typeName).")
                return nil
            }
            out.append(s)
        }
        return out
    }

    public mutating func object(_ key: String) -> ObjectReader? {
        guard let v = object[key] else { return nil }
        if case .null = v { return nil }
        guard case .object(let o) = v else {
            fail(key, "Expected an object, got \(v.typeName).")
            return nil
        }
        return ObjectReader(o, prefix: path(key))
    }

    public mutating func date(_ key: String) -> Date? {
        guard let s = string(key) else { return nil }
        guard let d = RFC3339.parse(s) else {
            fail(key, "Expected an RFC 3339 date-time.")
            return nil
        }
        return d
    }

    public mutating func absorb(_ other: ObjectReader) {
        issues.append(contentsOf: other.issues)
    }

    /// Throws VALIDATION_ERROR when any issue was collected.
    public func check() throws {
        if !issues.isEmpty { throw APIError.validation(issues) }
    }
}
