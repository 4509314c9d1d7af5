import Foundation
import Scan
import Store

/// Reading policies from request bodies (one VALIDATION_ERROR issue per bad field) and from
/// their stored JSON.
enum PolicyInput {
    static let fields: Set<String> = ["name", "enabled", "action", "scope", "rules"]
    static let readOnly: Set<String> = ["id", "createdAt", "updatedAt"]
    static let scopeFields: Set<String> = ["registryIds", "repositories", "tags"]
    static let maxRules = 50

    struct Fields {
        var name: String?
        var enabled: Bool?
        var action: PolicyAction?
        var scope: PolicyScope?
        var rules: [PolicyRule]?
    }

    static func read(_ r: inout ObjectReader, creating: Bool) -> Fields {
        r.rejectUnknown(allowed: fields, ignored: creating ? [] : readOnly)
        var out = Fields()
        out.name = r.string("name", required: creating, minLength: 1, maxLength: 100)
        out.enabled = r.bool("enabled")
        out.action = r.enumValue("action", PolicyAction.self, required: creating)
        if r.has("scope") {
            if let s = r.object("scope") {
                var sr = s
                out.scope = readScope(&sr)
                r.absorb(sr)
            } else if case .null? = r.object["scope"] {
                out.scope = PolicyScope()
            }
        }
        if let v = r.object["rules"] {
            guard case .array(let items) = v else {
                r.fail("rules", "Expected an array of rules, got \(v.typeName).")
                return out
            }
            if items.isEmpty { r.fail("rules", "At least one rule.") }
            if items.count > maxRules { r.fail("rules", "At most \(maxRules) rules.") }
            var rules: [PolicyRule] = []
            for (i, item) in items.prefix(maxRules).enumerated() {
                guard case .object(let o) = item else {
                    r.fail("rules[\(i)]", "Expected a rule object, got \(item.typeName).")
                    continue
                }
                var rr = ObjectReader(o, prefix: r.prefix.isEmpty ? "rules[\(i)]" : "\(r.prefix).rules[\(i)]")
                if let rule = readRule(&rr) { rules.append(rule) }
                r.absorb(rr)
            }
            out.rules = rules
        } else if creating {
            r.fail("rules", "Required.")
        }
        return out
    }

    static func readScope(_ r: inout ObjectReader) -> PolicyScope {
        r.rejectUnknown(allowed: scopeFields)
        var scope = PolicyScope()
        if let ids = r.stringArray("registryIds", maxCount: 100) {
            for (i, id) in ids.enumerated() where id.isEmpty || id.count > 100 { r.fail("registryIds[\(i)]", "Must be a registry id.") }
            scope.registryIds = ids
        }
        scope.repositories = globs(&r, "repositories", repository: true)
        scope.tags = globs(&r, "tags")
        return scope
    }

    static func globs(_ r: inout ObjectReader, _ key: String, repository: Bool = false) -> [Glob] {
        guard let patterns = r.stringArray(key, maxCount: 100) else { return [] }
        var out: [Glob] = []
        for (i, p) in patterns.enumerated() {
            guard !p.isEmpty else {
                r.fail("\(key)[\(i)]", "Must not be empty.")
                continue
            }
            do {
                out.append(try Glob(p, repository: repository))
            } catch {
                r.fail("\(key)[\(i)]", error.description)
            }
        }
        return out
    }

    static func number(_ r: inout ObjectReader, _ key: String, integer: Bool, range: ClosedRange<Double>) -> Double? {
        guard let v = r.object[key] else {
            r.fail(key, "Required.")
            return nil
        }
        guard case .number(let n) = v else {
            r.fail(key, "Expected a number, got \(v.typeName).")
            return nil
        }
        if integer && n.rounded() != n {
            r.fail(key, "Expected a whole number.")
            return nil
        }
        guard range.contains(n) else {
            r.fail(key, "Must be between \(integer ? String(Int(range.lowerBound)) : String(range.lowerBound)) and \(integer ? String(Int(range.upperBound)) : String(range.upperBound)).")
            return nil
        }
        return n
    }

    static func severity(_ r: inout ObjectReader, _ key: String) -> Severity? {
        guard let s = r.string(key, required: true) else { return nil }
        guard let level = Severity(rawValue: s.uppercased()), level != .unknown else {
            r.fail(key, "Must be one of: LOW, MEDIUM, HIGH, CRITICAL.")
            return nil
        }
        return level
    }

    /// One rule; nil (with issues) when it is not a valid rule.
    static func readRule(_ r: inout ObjectReader) -> PolicyRule? {
        guard let type = r.string("type", required: true) else { return nil }
        switch type {
        case "severity":
            r.rejectUnknown(allowed: ["type", "level", "fixableOnly"])
            let level = severity(&r, "level")
            let fixableOnly = r.bool("fixableOnly") ?? false
            return level.map { .severity(level: $0, fixableOnly: fixableOnly) }
        case "kev":
            r.rejectUnknown(allowed: ["type"])
            return .kev
        case "epss":
            r.rejectUnknown(allowed: ["type", "percentile"])
            return number(&r, "percentile", integer: false, range: 0...1).map { .epss(percentile: $0) }
        case "sla":
            r.rejectUnknown(allowed: ["type", "severity", "days"])
            let level = severity(&r, "severity")
            let days = number(&r, "days", integer: true, range: 0...3650)
            guard let level, let days else { return nil }
            return .sla(severity: level, days: Int(days))
        case "package":
            r.rejectUnknown(allowed: ["type", "purl", "versions"])
            var purl = r.string("purl", required: true, minLength: 1, maxLength: 500)
            if let p = purl {
                let rest = p.dropFirst(4)
                if !p.lowercased().hasPrefix("pkg:") || !rest.contains("/") || rest.hasPrefix("/") || rest.hasSuffix("/") {
                    r.fail("purl", "Expected a package URL like pkg:pypi/pyyaml.")
                    purl = nil
                } else if PolicyRule.versionless(p) != p.lowercased() {
                    r.fail("purl", "Give the purl without a version, qualifiers or subpath; put versions in \"versions\".")
                    purl = nil
                }
            }
            var range: VersionRange?
            if let text = r.string("versions", minLength: 1, maxLength: 200) {
                switch VersionRange.parse(text) {
                case .success(let v): range = v
                case .failure(let e): r.fail("versions", "Not a version range (\(e.reason)); expected e.g. \"<5.4\" or \">=1.0,<2.0\".")
                }
                if range == nil { return nil }
            }
            return purl.map { .package(purl: $0.lowercased(), versions: range) }
        case "count":
            r.rejectUnknown(allowed: ["type", "severity", "max"])
            let level = severity(&r, "severity")
            let max = number(&r, "max", integer: true, range: 0...1_000_000)
            guard let level, let max else { return nil }
            return .count(severity: level, max: Int(max))
        default:
            r.fail("type", "Unknown rule type '\(type)'; expected one of: \(PolicyRule.types.joined(separator: ", ")).")
            return nil
        }
    }

    // MARK: Stored form

    static func scopeJSON(_ s: PolicyScope) -> JSONValue {
        .object([
            "registryIds": .array(s.registryIds.map(JSONValue.string)),
            "repositories": .array(s.repositories.map { .string($0.pattern) }),
            "tags": .array(s.tags.map { .string($0.pattern) }),
        ])
    }

    static func encode(_ v: JSONValue) throws -> String {
        String(decoding: try JSONCoding.encoder.encode(v), as: UTF8.self)
    }

    /// A stored policy's scope and rules (written by this server, so valid; anything unreadable
    /// is dropped rather than crash an evaluation).
    static func decode(scope: String, rules: String) -> (PolicyScope, [PolicyRule]) {
        var scopeOut = PolicyScope()
        if case .object(let o)? = try? JSONDecoder().decode(JSONValue.self, from: Data(scope.utf8)) {
            var r = ObjectReader(o)
            scopeOut = readScope(&r)
        }
        var rulesOut: [PolicyRule] = []
        if case .array(let items)? = try? JSONDecoder().decode(JSONValue.self, from: Data(rules.utf8)) {
            for case .object(let o) in items {
                var r = ObjectReader(o)
                if let rule = readRule(&r) { rulesOut.append(rule) }
            }
        }
        return (scopeOut, rulesOut)
    }
}
