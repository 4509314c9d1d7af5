public import Foundation

/// A VEX document (OpenVEX 0.2.0 or CycloneDX 1.4–1.6 with `vulnerabilities[].analysis`),
/// read into one model the server's import and the CLI's `scan --vex` share. Statements keep
/// their VEX status; what a status means for triage is the caller's.
public struct VEXDocument: Sendable, Equatable {
    public enum Format: String, Sendable, CaseIterable { case openvex, cyclonedx }

    public var format: Format
    /// OpenVEX `@id`, CycloneDX `serialNumber` (nil when the CycloneDX document has none).
    public var id: String?
    /// OpenVEX `author`; CycloneDX `metadata.authors[].name` / `metadata.manufacturer.name` / tool name.
    public var author: String?
    public var statements: [VEXStatement]

    public init(format: Format, id: String?, author: String?, statements: [VEXStatement]) {
        self.format = format
        self.id = id
        self.author = author
        self.statements = statements
    }

    /// How deep a VEX document may nest objects and arrays (a real one needs fewer than 10).
    public static let maxDepth = 32
}

public enum VEXStatus: String, Sendable, CaseIterable {
    case notAffected = "not_affected", affected, fixed, underInvestigation = "under_investigation"
}

/// The OpenVEX justification vocabulary; CycloneDX justifications map onto it.
public enum VEXJustification: String, Sendable, CaseIterable {
    case componentNotPresent = "component_not_present"
    case vulnerableCodeNotPresent = "vulnerable_code_not_present"
    case vulnerableCodeNotInExecutePath = "vulnerable_code_not_in_execute_path"
    case vulnerableCodeCannotBeControlledByAdversary = "vulnerable_code_cannot_be_controlled_by_adversary"
    case inlineMitigationsAlreadyExist = "inline_mitigations_already_exist"

    /// CycloneDX `analysis.justification` → OpenVEX.
    public init?(cycloneDX: String) {
        switch cycloneDX {
        case "code_not_present": self = .vulnerableCodeNotPresent
        case "code_not_reachable": self = .vulnerableCodeNotInExecutePath
        case "requires_dependency": self = .componentNotPresent
        case "requires_configuration", "requires_environment": self = .vulnerableCodeCannotBeControlledByAdversary
        case "protected_by_compiler", "protected_at_runtime", "protected_at_perimeter", "protected_by_mitigating_control":
            self = .inlineMitigationsAlreadyExist
        default: return nil
        }
    }

    /// OpenVEX → CycloneDX (the inverse of `init(cycloneDX:)` on the values it produces).
    public var cycloneDX: String {
        switch self {
        case .componentNotPresent: return "requires_dependency"
        case .vulnerableCodeNotPresent: return "code_not_present"
        case .vulnerableCodeNotInExecutePath: return "code_not_reachable"
        case .vulnerableCodeCannotBeControlledByAdversary: return "requires_environment"
        case .inlineMitigationsAlreadyExist: return "protected_by_mitigating_control"
        }
    }

    public static let cycloneDXValues = [
        "code_not_present", "code_not_reachable", "requires_configuration", "requires_dependency", "requires_environment",
        "protected_by_compiler", "protected_at_runtime", "protected_at_perimeter", "protected_by_mitigating_control",
    ]
}

public struct VEXStatement: Sendable, Equatable {
    /// Where the statement is in its document (`/statements/0`, `/vulnerabilities/2`).
    public var path: String
    public var vulnerability: String
    public var aliases: [String]
    /// Product purls (or other identifiers) the statement names.
    public var products: [String]
    /// Subcomponent purls: the packages inside the products the statement is about (empty: all).
    public var subcomponents: [String]
    public var status: VEXStatus
    public var justification: VEXJustification?
    /// OpenVEX `impact_statement`, or CycloneDX `analysis.detail` of a not_affected state.
    public var impactStatement: String?
    /// OpenVEX `action_statement`, or CycloneDX `analysis.detail` / `response` of an exploitable state.
    public var actionStatement: String?
    /// OpenVEX `status_notes`.
    public var statusNotes: String?

    public init(
        path: String, vulnerability: String, aliases: [String] = [], products: [String], subcomponents: [String] = [],
        status: VEXStatus, justification: VEXJustification? = nil, impactStatement: String? = nil, actionStatement: String? = nil,
        statusNotes: String? = nil
    ) {
        self.path = path
        self.vulnerability = vulnerability
        self.aliases = aliases
        self.products = products
        self.subcomponents = subcomponents
        self.status = status
        self.justification = justification
        self.impactStatement = impactStatement
        self.actionStatement = actionStatement
        self.statusNotes = statusNotes
    }

    /// not_affected and fixed: the finding is excepted (left out of output and exit codes).
    public var excepts: Bool { status == .notAffected || status == .fixed }

    /// The note a triage decision made from this statement carries.
    public var note: String? {
        switch status {
        case .notAffected: return impactStatement ?? statusNotes
        case .affected: return actionStatement
        case .fixed, .underInvestigation: return statusNotes ?? actionStatement ?? impactStatement
        }
    }
}

/// One problem with a VEX document: a JSON-pointer path and what is wrong there.
public struct VEXIssue: Sendable, Equatable, CustomStringConvertible {
    public var path: String
    public var message: String
    public init(_ path: String, _ message: String) {
        self.path = path
        self.message = message
    }
    public var description: String { "\(path.isEmpty ? "/" : path): \(message)" }
}

public struct VEXError: Error, Sendable, Equatable, CustomStringConvertible {
    public var issues: [VEXIssue]
    public init(_ issues: [VEXIssue]) { self.issues = issues }
    public var description: String { issues.map(\.description).joined(separator: "; ") }
}

extension VEXDocument {
    public static let openVEXContext = "https://openvex.dev/ns/v0.2.0"
    static let cycloneDXVersions: Set<String> = ["1.4", "1.5", "1.6"]

    /// Parses a document, detecting its format by content. Every problem found is reported
    /// (one issue each); nothing is returned unless the whole document is usable.
    public static func parse(_ data: Data) throws(VEXError) -> VEXDocument {
        if let depth = nestingDepthOver(maxDepth, in: data) {
            throw VEXError([VEXIssue("", "The document nests objects and arrays \(depth) deep; at most \(maxDepth) levels are accepted.")])
        }
        let any: Any
        do {
            any = try JSONSerialization.jsonObject(with: data, options: [])
        } catch {
            throw VEXError([VEXIssue("", "The document is not valid JSON.")])
        }
        guard let root = any as? [String: Any] else { throw VEXError([VEXIssue("", "A VEX document is a JSON object.")]) }
        if root["@context"] != nil {
            return try parseOpenVEX(root)
        }
        if root["bomFormat"] != nil || root["specVersion"] != nil {
            return try parseCycloneDX(root)
        }
        throw VEXError([VEXIssue(
            "", "Not a VEX document this server reads: expected OpenVEX (an \"@context\" of \(openVEXContext)) or CycloneDX (\"bomFormat\": \"CycloneDX\").")])
    }

    /// The depth reached when it is over `limit`, else nil (strings are skipped).
    static func nestingDepthOver(_ limit: Int, in data: Data) -> Int? {
        var depth = 0, inString = false, escaped = false
        for byte in data {
            if inString {
                if escaped { escaped = false } else if byte == UInt8(ascii: "\\") { escaped = true } else if byte == UInt8(ascii: "\"") { inString = false }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
                if depth > limit { return depth }
            case UInt8(ascii: "}"), UInt8(ascii: "]"): depth -= 1
            default: break
            }
        }
        return nil
    }

    // MARK: OpenVEX

    static func parseOpenVEX(_ root: [String: Any]) throws(VEXError) -> VEXDocument {
        var issues: [VEXIssue] = []
        guard let context = root["@context"] as? String else {
            throw VEXError([VEXIssue("/@context", "Expected a string.")])
        }
        if context != openVEXContext && context != "https://openvex.dev/ns" {
            if context.hasPrefix("https://openvex.dev/ns") {
                throw VEXError([VEXIssue("/@context", "Unsupported OpenVEX version \"\(clip(context))\"; this server reads \(openVEXContext).")])
            }
            throw VEXError([VEXIssue("/@context", "Unknown context \"\(clip(context))\"; expected \(openVEXContext).")])
        }
        let id = requiredString(root, "@id", at: "", &issues)
        let author = requiredString(root, "author", at: "", &issues)
        _ = requiredString(root, "timestamp", at: "", &issues)
        if root["version"] == nil {
            issues.append(VEXIssue("/version", "Required."))
        } else if !(root["version"] is NSNumber) || (root["version"] as? Int).map({ $0 < 1 }) ?? true {
            issues.append(VEXIssue("/version", "Expected an integer of at least 1 (the document's version)."))
        }
        var statements: [VEXStatement] = []
        if let list = root["statements"] as? [Any] {
            if list.isEmpty { issues.append(VEXIssue("/statements", "A document has at least one statement.")) }
            for (i, item) in list.enumerated() {
                let at = "/statements/\(i)"
                guard let s = item as? [String: Any] else {
                    issues.append(VEXIssue(at, "Expected an object."))
                    continue
                }
                if let st = openVEXStatement(s, at: at, &issues) { statements.append(st) }
            }
        } else {
            issues.append(VEXIssue("/statements", root["statements"] == nil ? "Required." : "Expected an array."))
        }
        if !issues.isEmpty { throw VEXError(issues) }
        return VEXDocument(format: .openvex, id: id, author: author, statements: statements)
    }

    static func openVEXStatement(_ s: [String: Any], at: String, _ issues: inout [VEXIssue]) -> VEXStatement? {
        let before = issues.count
        var vulnerability = ""
        var aliases: [String] = []
        switch s["vulnerability"] {
        case let name as String where !name.isEmpty:
            vulnerability = name
        case let v as [String: Any]:
            if let name = v["name"] as? String, !name.isEmpty { vulnerability = name } else {
                issues.append(VEXIssue("\(at)/vulnerability/name", "Required: the vulnerability's identifier (CVE-…, GHSA-…)."))
            }
            if let a = v["aliases"] {
                if let list = a as? [String] { aliases = list } else { issues.append(VEXIssue("\(at)/vulnerability/aliases", "Expected an array of strings.")) }
            }
        case nil:
            issues.append(VEXIssue("\(at)/vulnerability", "Required."))
        default:
            issues.append(VEXIssue("\(at)/vulnerability", "Expected an object with a name."))
        }
        var products: [String] = []
        var subcomponents: [String] = []
        if let list = s["products"] {
            if let list = list as? [Any] {
                for (j, p) in list.enumerated() {
                    let pat = "\(at)/products/\(j)"
                    guard let p = p as? [String: Any] else { issues.append(VEXIssue(pat, "Expected an object.")); continue }
                    if let purl = componentIdentifier(p) { products.append(purl) } else {
                        issues.append(VEXIssue(pat, "A product needs an \"@id\" or identifiers.purl (a pkg:oci purl names an image)."))
                    }
                    if let subs = p["subcomponents"] {
                        guard let subs = subs as? [Any] else { issues.append(VEXIssue("\(pat)/subcomponents", "Expected an array.")); continue }
                        for (k, sub) in subs.enumerated() {
                            if let sub = sub as? [String: Any], let purl = componentIdentifier(sub) { subcomponents.append(purl) } else {
                                issues.append(VEXIssue("\(pat)/subcomponents/\(k)", "A subcomponent needs an \"@id\" or identifiers.purl."))
                            }
                        }
                    }
                }
            } else {
                issues.append(VEXIssue("\(at)/products", "Expected an array."))
            }
        }
        if products.isEmpty && s["products"] == nil {
            issues.append(VEXIssue("\(at)/products", "Required: the products (pkg:oci purls) the statement is about."))
        }
        let status: VEXStatus?
        if let raw = s["status"] as? String {
            status = VEXStatus(rawValue: raw)
            if status == nil {
                issues.append(VEXIssue("\(at)/status", "Unknown status \"\(clip(raw))\"; expected one of \(VEXStatus.allCases.map(\.rawValue).joined(separator: ", "))."))
            }
        } else {
            status = nil
            issues.append(VEXIssue("\(at)/status", s["status"] == nil ? "Required." : "Expected a string."))
        }
        var justification: VEXJustification?
        if let raw = s["justification"] {
            if let raw = raw as? String, let j = VEXJustification(rawValue: raw) { justification = j } else {
                issues.append(VEXIssue("\(at)/justification", "Expected one of \(VEXJustification.allCases.map(\.rawValue).joined(separator: ", "))."))
            }
        }
        let impact = optionalString(s, "impact_statement", at: at, &issues)
        let action = optionalString(s, "action_statement", at: at, &issues)
        let notes = optionalString(s, "status_notes", at: at, &issues)
        if status == .notAffected && justification == nil && impact == nil && s["justification"] == nil {
            issues.append(VEXIssue("\(at)/justification", "A not_affected statement needs a justification or an impact_statement."))
        }
        if status == .affected && action == nil {
            issues.append(VEXIssue("\(at)/action_statement", "An affected statement needs an action_statement."))
        }
        guard issues.count == before, let status else { return nil }
        return VEXStatement(
            path: at, vulnerability: vulnerability, aliases: aliases, products: products, subcomponents: subcomponents, status: status,
            justification: justification, impactStatement: impact, actionStatement: action, statusNotes: notes)
    }

    static func componentIdentifier(_ c: [String: Any]) -> String? {
        if let ids = c["identifiers"] as? [String: Any], let purl = ids["purl"] as? String, !purl.isEmpty { return purl }
        if let id = c["@id"] as? String, !id.isEmpty { return id }
        return nil
    }

    // MARK: CycloneDX

    static let cycloneDXStates: [String: VEXStatus] = [
        "not_affected": .notAffected, "false_positive": .notAffected, "resolved": .fixed, "resolved_with_pedigree": .fixed,
        "exploitable": .affected, "in_triage": .underInvestigation,
    ]

    static func parseCycloneDX(_ root: [String: Any]) throws(VEXError) -> VEXDocument {
        guard root["bomFormat"] as? String == "CycloneDX" else {
            throw VEXError([VEXIssue("/bomFormat", "Expected \"CycloneDX\".")])
        }
        guard let spec = root["specVersion"] as? String else {
            throw VEXError([VEXIssue("/specVersion", root["specVersion"] == nil ? "Required." : "Expected a string.")])
        }
        guard cycloneDXVersions.contains(spec) else {
            throw VEXError([VEXIssue("/specVersion", "Unsupported CycloneDX version \"\(clip(spec))\"; this server reads 1.4, 1.5 and 1.6.")])
        }
        var issues: [VEXIssue] = []
        // bom-ref → purl, from the metadata component and the components (nested ones too).
        var refs: [String: String] = [:]
        var mainProduct: String?
        let metadata = root["metadata"] as? [String: Any]
        func collect(_ c: [String: Any], depth: Int) {
            let purl = c["purl"] as? String
            if let ref = c["bom-ref"] as? String, let purl { refs[ref] = purl }
            if depth < 8, let subs = c["components"] as? [Any] {
                for sub in subs { if let sub = sub as? [String: Any] { collect(sub, depth: depth + 1) } }
            }
        }
        if let main = metadata?["component"] as? [String: Any] {
            collect(main, depth: 0)
            mainProduct = (main["purl"] as? String) ?? (main["bom-ref"] as? String)
        }
        for c in (root["components"] as? [Any]) ?? [] {
            if let c = c as? [String: Any] { collect(c, depth: 0) }
        }
        var author: String?
        if let authors = metadata?["authors"] as? [Any] {
            author = authors.compactMap { ($0 as? [String: Any])?["name"] as? String }.first
        }
        if author == nil, let m = metadata?["manufacturer"] as? [String: Any] { author = m["name"] as? String }
        if author == nil, let m = metadata?["supplier"] as? [String: Any] { author = m["name"] as? String }
        if author == nil, let tools = metadata?["tools"] as? [String: Any], let comps = tools["components"] as? [Any] {
            author = comps.compactMap { ($0 as? [String: Any])?["name"] as? String }.first
        }
        var statements: [VEXStatement] = []
        guard let vulns = root["vulnerabilities"] as? [Any] else {
            throw VEXError([VEXIssue(
                "/vulnerabilities", root["vulnerabilities"] == nil ? "Required: a VEX document lists vulnerabilities with an analysis." : "Expected an array.")])
        }
        if vulns.isEmpty { issues.append(VEXIssue("/vulnerabilities", "A VEX document has at least one vulnerability.")) }
        for (i, item) in vulns.enumerated() {
            let at = "/vulnerabilities/\(i)"
            let before = issues.count
            guard let v = item as? [String: Any] else { issues.append(VEXIssue(at, "Expected an object.")); continue }
            let id = v["id"] as? String
            if id?.isEmpty ?? true { issues.append(VEXIssue("\(at)/id", "Required: the vulnerability's identifier.")) }
            var aliases: [String] = []
            for r in (v["references"] as? [Any]) ?? [] {
                if let r = r as? [String: Any], let rid = r["id"] as? String { aliases.append(rid) }
            }
            guard let analysis = v["analysis"] as? [String: Any] else {
                issues.append(VEXIssue("\(at)/analysis", v["analysis"] == nil ? "Required: a VEX statement carries an analysis." : "Expected an object."))
                continue
            }
            var status: VEXStatus?
            if let raw = analysis["state"] as? String {
                status = cycloneDXStates[raw]
                if status == nil {
                    issues.append(VEXIssue("\(at)/analysis/state", "Unknown state \"\(clip(raw))\"; expected one of \(cycloneDXStates.keys.sorted().joined(separator: ", "))."))
                }
            } else {
                issues.append(VEXIssue("\(at)/analysis/state", analysis["state"] == nil ? "Required." : "Expected a string."))
            }
            var justification: VEXJustification?
            if let raw = analysis["justification"] {
                if let raw = raw as? String, let j = VEXJustification(cycloneDX: raw) { justification = j } else {
                    issues.append(VEXIssue("\(at)/analysis/justification", "Expected one of \(VEXJustification.cycloneDXValues.joined(separator: ", "))."))
                }
            }
            let detail = optionalString(analysis, "detail", at: "\(at)/analysis", &issues)
            var responses: [String] = []
            if let r = analysis["response"] {
                if let r = r as? [String] { responses = r } else { issues.append(VEXIssue("\(at)/analysis/response", "Expected an array of strings.")) }
            }
            var products: [String] = []
            var subcomponents: [String] = []
            if let affects = v["affects"] {
                guard let affects = affects as? [Any] else { issues.append(VEXIssue("\(at)/affects", "Expected an array.")); continue }
                for (j, a) in affects.enumerated() {
                    guard let a = a as? [String: Any], let ref = a["ref"] as? String, !ref.isEmpty else {
                        issues.append(VEXIssue("\(at)/affects/\(j)/ref", "Required: a bom-ref or a purl."))
                        continue
                    }
                    let purl = refs[ref] ?? ref
                    if purl.hasPrefix("pkg:oci/") || purl == mainProduct { products.append(purl) } else { subcomponents.append(purl) }
                }
            }
            if products.isEmpty, let mainProduct { products.append(mainProduct) }
            if products.isEmpty && subcomponents.isEmpty {
                issues.append(VEXIssue("\(at)/affects", "Required: the product (a pkg:oci purl, directly or through metadata.component) the analysis is about."))
            }
            guard issues.count == before, let status, let id else { continue }
            var impact: String?, action: String?
            if status == .notAffected { impact = detail } else if status == .affected {
                action = detail ?? (responses.isEmpty ? nil : "Response: " + responses.joined(separator: ", "))
            }
            statements.append(VEXStatement(
                path: at, vulnerability: id, aliases: aliases, products: products, subcomponents: subcomponents, status: status,
                justification: justification, impactStatement: impact, actionStatement: action,
                statusNotes: status == .fixed || status == .underInvestigation ? detail : nil))
        }
        if !issues.isEmpty { throw VEXError(issues) }
        return VEXDocument(format: .cyclonedx, id: root["serialNumber"] as? String, author: author, statements: statements)
    }

    // MARK: helpers

    static func requiredString(_ o: [String: Any], _ key: String, at: String, _ issues: inout [VEXIssue]) -> String? {
        guard let v = o[key] else { issues.append(VEXIssue("\(at)/\(key)", "Required.")); return nil }
        guard let s = v as? String, !s.isEmpty else { issues.append(VEXIssue("\(at)/\(key)", "Expected a non-empty string.")); return nil }
        return s
    }

    static func optionalString(_ o: [String: Any], _ key: String, at: String, _ issues: inout [VEXIssue]) -> String? {
        guard let v = o[key] else { return nil }
        guard let s = v as? String else { issues.append(VEXIssue("\(at)/\(key)", "Expected a string.")); return nil }
        return s.isEmpty ? nil : s
    }

    static func clip(_ s: String) -> String { s.count > 80 ? String(s.prefix(80)) + "…" : s }
}
