import Foundation
import Scan
import Store

/// The console's policy form: what the inputs hold, the API body they make (validated by
/// `PolicyService` with the API's own `PolicyInput`), and the API's issues mapped back onto
/// the inputs. Rules are numbered slots (`r0.type`, `r0.level`, …); a slot with no type is
/// left out, so the issue paths (`rules[1].percentile`) are mapped back through `slots`.
struct PolicyForm: Sendable, Equatable {
    struct Slot: Sendable, Equatable {
        var type = ""
        var level = "HIGH"
        var fixableOnly = false
        var percentile = ""
        var slaSeverity = "CRITICAL"
        var days = ""
        var purl = ""
        var versions = ""
        var countSeverity = "HIGH"
        var max = ""
    }

    var name = ""
    var action = "fail"
    var enabled = true
    var registryIds: [String] = []
    /// One glob per line.
    var repositories = ""
    var tags = ""
    var slots: [Slot] = []

    static let ruleTypes: [(value: String, label: String)] = [
        ("severity", "Severity at or above a level"), ("kev", "In CISA KEV"), ("epss", "EPSS percentile at or above"),
        ("sla", "Open longer than an SLA"), ("package", "Denied package"), ("count", "More findings than allowed"),
    ]
    static let severities = ["LOW", "MEDIUM", "HIGH", "CRITICAL"]

    init() {}

    /// The submitted form (every slot kept, blank ones too, so the page comes back as typed).
    init(form f: ConsoleForm) {
        name = f["name"] ?? ""
        action = f["action"] ?? ""
        enabled = f["enabled"] == "true"
        registryIds = (f.lists["registryIds"] ?? []).filter { !$0.isEmpty }
        repositories = f["repositories"] ?? ""
        tags = f["tags"] ?? ""
        for i in 0..<PolicyInput.maxRules {
            guard let type = f["r\(i).type"] else { continue }
            var s = Slot()
            s.type = type
            s.level = f["r\(i).level"] ?? s.level
            s.fixableOnly = f["r\(i).fixableOnly"] == "true"
            s.percentile = f["r\(i).percentile"] ?? ""
            s.slaSeverity = f["r\(i).slaSeverity"] ?? s.slaSeverity
            s.days = f["r\(i).days"] ?? ""
            s.purl = f["r\(i).purl"] ?? ""
            s.versions = f["r\(i).versions"] ?? ""
            s.countSeverity = f["r\(i).countSeverity"] ?? s.countSeverity
            s.max = f["r\(i).max"] ?? ""
            slots.append(s)
        }
    }

    /// A saved policy's values.
    init(policy p: PolicyDTO) {
        name = p.name
        action = p.action
        enabled = p.enabled
        registryIds = p.scope.field("registryIds").arrayValue.compactMap(\.string)
        repositories = p.scope.field("repositories").arrayValue.compactMap(\.string).joined(separator: "\n")
        tags = p.scope.field("tags").arrayValue.compactMap(\.string).joined(separator: "\n")
        slots = p.rules.map { r in
            var s = Slot()
            s.type = r.field("type").string ?? ""
            func text(_ k: String) -> String {
                guard case .number(let n) = r.field(k) else { return "" }
                return n.rounded() == n && abs(n) < 1e15 ? String(Int(n)) : String(n)
            }
            switch s.type {
            case "severity":
                s.level = r.field("level").string ?? s.level
                s.fixableOnly = r.field("fixableOnly") == .bool(true)
            case "epss": s.percentile = text("percentile")
            case "sla":
                s.slaSeverity = r.field("severity").string ?? s.slaSeverity
                s.days = text("days")
            case "package":
                s.purl = r.field("purl").string ?? ""
                s.versions = r.field("versions").string ?? ""
            case "count":
                s.countSeverity = r.field("severity").string ?? s.countSeverity
                s.max = text("max")
            default: break
            }
            return s
        }
    }

    /// The form with blank slots after the rules (two more, at least three, at most 50).
    func padded() -> PolicyForm {
        var out = self
        let used = slots.lastIndex { !$0.type.isEmpty }.map { $0 + 1 } ?? 0
        let want = Swift.min(Swift.max(used + 2, 3), PolicyInput.maxRules)
        out.slots = Array(slots.prefix(Swift.max(used, want)))
        while out.slots.count < want { out.slots.append(Slot()) }
        return out
    }

    /// A number input's value: absent when blank (the API says "Required."), a number when it
    /// reads as one, else the text itself (the API says which type it expected).
    static func number(_ text: String) -> JSONValue? {
        let t = text.trimmingCharacters(in: .whitespaces)
        if t.isEmpty { return nil }
        if let d = Double(t), d.isFinite { return .number(d) }
        return .string(t)
    }

    static func lines(_ text: String) -> [JSONValue] {
        text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.map(JSONValue.string)
    }

    /// The API body, and for each rule in it the slot it came from.
    func body() -> (body: [String: JSONValue], slots: [Int]) {
        var rules: [JSONValue] = []
        var from: [Int] = []
        for (i, s) in slots.enumerated() where !s.type.isEmpty {
            var o: [String: JSONValue] = ["type": .string(s.type)]
            switch s.type {
            case "severity":
                o["level"] = .string(s.level)
                o["fixableOnly"] = .bool(s.fixableOnly)
            case "epss": o["percentile"] = Self.number(s.percentile)
            case "sla":
                o["severity"] = .string(s.slaSeverity)
                o["days"] = Self.number(s.days)
            case "package":
                o["purl"] = .string(s.purl.trimmingCharacters(in: .whitespaces))
                let v = s.versions.trimmingCharacters(in: .whitespaces)
                if !v.isEmpty { o["versions"] = .string(v) }
            case "count":
                o["severity"] = .string(s.countSeverity)
                o["max"] = Self.number(s.max)
            default: break
            }
            rules.append(.object(o))
            from.append(i)
        }
        let scope: [String: JSONValue] = [
            "registryIds": .array(registryIds.map(JSONValue.string)), "repositories": .array(Self.lines(repositories)),
            "tags": .array(Self.lines(tags)),
        ]
        return (
            ["name": .string(name.trimmingCharacters(in: .whitespaces)), "action": .string(action), "enabled": .bool(enabled),
             "scope": .object(scope), "rules": .array(rules)], from
        )
    }

    /// The API's refusal on the form: messages by input (`name`, `repositories`, `r2.percentile`,
    /// …) and what belongs to no input.
    struct Errors: Sendable, Equatable {
        var fields: [String: String] = [:]
        var general: [String] = []
        var isEmpty: Bool { fields.isEmpty && general.isEmpty }
    }

    /// The slot input of a rule field, by the rule's type (sla's and count's `severity`).
    static func slotField(_ type: String, _ field: String) -> String {
        switch (type, field) {
        case ("sla", "severity"): "slaSeverity"
        case ("count", "severity"): "countSeverity"
        case (_, let f): f
        }
    }

    func errors(_ issues: [ValidationIssue], slots from: [Int]) -> Errors {
        var e = Errors()
        func add(_ key: String, _ message: String) {
            e.fields[key] = e.fields[key].map { "\($0) \(message)" } ?? message
        }
        for issue in issues {
            let path = issue.path
            if ["name", "action", "enabled", "rules"].contains(path) {
                add(path, issue.message)
            } else if path.hasPrefix("scope.") {
                let rest = path.dropFirst("scope.".count)
                let key = String(rest.prefix { $0 != "[" })
                guard ["registryIds", "repositories", "tags"].contains(key) else {
                    e.general.append("\(path): \(issue.message)")
                    continue
                }
                if key != "registryIds", let n = Self.index(rest.dropFirst(key.count)) {
                    add(key, "Line \(n + 1): \(issue.message)")
                } else {
                    add(key, issue.message)
                }
            } else if path.hasPrefix("rules["), let close = path.firstIndex(of: "]"),
                let n = Int(path[path.index(path.startIndex, offsetBy: 6)..<close]), n < from.count
            {
                let slot = from[n]
                let field = path[path.index(after: close)...].drop { $0 == "." }
                let type = slots[slot].type
                let known: Set<String> = ["level", "fixableOnly", "percentile", "severity", "days", "purl", "versions", "max"]
                add("r\(slot).\(field.isEmpty || !known.contains(String(field)) ? "type" : Self.slotField(type, String(field)))", issue.message)
            } else {
                e.general.append(path.isEmpty ? issue.message : "\(path): \(issue.message)")
            }
        }
        return e
    }

    /// `[3]` → 3.
    static func index(_ s: Substring) -> Int? {
        guard s.hasPrefix("["), let close = s.firstIndex(of: "]") else { return nil }
        return Int(s[s.index(after: s.startIndex)..<close])
    }

    /// The form as the `policy-form` template reads it.
    func view(registries: [(id: String, name: String)], errors: Errors) -> [String: Any] {
        func options(_ values: [String], _ chosen: String) -> [[String: Any]] {
            values.map { ["value": $0, "selected": $0 == chosen] }
        }
        var topErrors: [String: Any] = [:]
        for k in ["name", "action", "enabled", "registryIds", "repositories", "tags", "rules"] { topErrors[k] = errors.fields[k] }
        return [
            "name": name, "enabled": enabled, "repositories": repositories, "tags": tags,
            "actionOptions": [
                ["value": "fail", "label": "fail (blocks: the image fails)", "selected": action == "fail"],
                ["value": "warn", "label": "warn (the image passes with a warning)", "selected": action == "warn"],
            ] as [[String: Any]],
            "registryOptions": registries.map { ["id": $0.id, "name": $0.name, "selected": registryIds.contains($0.id)] as [String: Any] },
            "err": topErrors,
            "slots": slots.enumerated().map { i, s -> [String: Any] in
                var err: [String: Any] = [:]
                for k in ["type", "level", "fixableOnly", "percentile", "slaSeverity", "days", "purl", "versions", "countSeverity", "max"] {
                    err[k] = errors.fields["r\(i).\(k)"]
                }
                return [
                    "index": i, "number": i + 1,
                    "types": [["value": "", "label": i == 0 ? "choose a rule" : "no rule", "selected": s.type.isEmpty] as [String: Any]]
                        + Self.ruleTypes.map { ["value": $0.value, "label": $0.label, "selected": $0.value == s.type] as [String: Any] },
                    "levelOptions": options(Self.severities, s.level), "slaOptions": options(Self.severities, s.slaSeverity),
                    "countOptions": options(Self.severities, s.countSeverity),
                    "fixableOnly": s.fixableOnly, "percentile": s.percentile, "days": s.days, "purl": s.purl, "versions": s.versions,
                    "max": s.max, "err": err,
                ]
            },
        ]
    }
}
