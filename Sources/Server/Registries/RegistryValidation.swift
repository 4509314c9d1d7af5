import Foundation
import Registry
import Scan
import Store

/// A validated registry create/update request.
struct RegistryInput {
    var name: String?
    var provider: RegistryProvider?
    var url: String?
    /// `.some(nil)` removes credentials (update); nil leaves them unchanged.
    var credentials: RegistryCredentials??
    var scanMethod: ScanMethod?
    var scanners: [String]?
    var schedule: Schedule?
    var tagInclude: String??
    var tagExclude: String??
    var insecure: Bool?
}

enum RegistryValidation {
    static let createFields: Set<String> = [
        "name", "provider", "url", "credentials", "scanMethod", "scanners", "schedule", "includeTags", "excludeTags",
        "insecure",
    ]
    static let updateFields: Set<String> = [
        "name", "scanning", "url", "credentials", "insecure", "provider", "scanMethod",
        // The create form's top-level names, accepted on update too.
        "schedule", "scanners", "includeTags", "excludeTags",
    ]
    static let readOnlyFields: Set<String> = [
        "id", "createdAt", "updatedAt", "imageCount", "health", "hasCredentials", "webhookUrl", "sensorApiKey",
        "webhookToken", "credentialsDropped",
    ]

    static func create(_ body: ObjectReader) throws -> RegistryInput {
        var r = body
        r.rejectUnknown(allowed: createFields)
        var input = RegistryInput()
        input.name = name(&r, required: true)
        input.provider = r.enumValue("provider", RegistryProvider.self, required: true)
        input.scanMethod = r.enumValue("scanMethod", ScanMethod.self) ?? .cloud
        input.schedule = r.enumValue("schedule", Schedule.self) ?? .daily
        input.scanners = scanners(&r, key: "scanners") ?? ["trivy", "grype", "syft"]
        input.tagInclude = .some(globs(&r, key: "includeTags"))
        input.tagExclude = .some(globs(&r, key: "excludeTags"))
        input.insecure = r.bool("insecure") ?? false
        let rawURL = r.string("url", maxLength: 2048)
        if let provider = input.provider {
            if let rawURL {
                input.url = url(&r, rawURL, insecure: input.insecure ?? false)
            } else if provider.requiresURL {
                r.fail("url", "Required for provider \(provider.rawValue).")
            } else {
                input.url = provider.defaultURL ?? ""
            }
            input.credentials = .some(credentials(&r, provider: provider, required: !provider.allowsAnonymous))
        }
        try r.check()
        return input
    }

    static func update(_ body: ObjectReader, existing: RegistryRecord) throws -> RegistryInput {
        var r = body
        r.rejectUnknown(allowed: updateFields, ignored: readOnlyFields)
        var input = RegistryInput()
        if let p = r.string("provider"), p != existing.provider.rawValue {
            r.fail("provider", "The provider of a registry cannot change; create a new registry.")
        }
        if let m = r.string("scanMethod"), m != existing.scanMethod.rawValue {
            r.fail("scanMethod", "The scan method of a registry cannot change; create a new registry.")
        }
        if r.has("name") { input.name = name(&r, required: true) }
        input.schedule = r.enumValue("schedule", Schedule.self)
        input.scanners = scanners(&r, key: "scanners")
        if r.has("includeTags") { input.tagInclude = .some(globs(&r, key: "includeTags")) }
        if r.has("excludeTags") { input.tagExclude = .some(globs(&r, key: "excludeTags")) }
        if var s = r.object("scanning") {
            s.rejectUnknown(allowed: ["schedule", "scanners", "tagInclude", "tagExclude"])
            if let v = s.enumValue("schedule", Schedule.self) { input.schedule = v }
            if let v = scanners(&s, key: "scanners") { input.scanners = v }
            if s.has("tagInclude") { input.tagInclude = .some(globs(&s, key: "tagInclude")) }
            if s.has("tagExclude") { input.tagExclude = .some(globs(&s, key: "tagExclude")) }
            r.absorb(s)
        }
        input.insecure = r.bool("insecure")
        let insecure = input.insecure ?? existing.insecure
        if let raw = r.string("url", maxLength: 2048) {
            input.url = url(&r, raw, insecure: insecure)
        } else if input.insecure == false, existing.url.lowercased().hasPrefix("http://") {
            r.fail("insecure", "The registry URL uses http://, which requires insecure: true.")
        }
        if r.has("credentials") {
            input.credentials = .some(
                credentials(&r, provider: existing.provider, required: !existing.provider.allowsAnonymous))
        }
        try r.check()
        return input
    }

    static func name(_ r: inout ObjectReader, required: Bool) -> String? {
        guard let n = r.string("name", required: required, minLength: 1, maxLength: 100) else { return nil }
        if n.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            r.fail("name", "Must not be blank.")
            return nil
        }
        if n.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            r.fail("name", "Must not contain control characters.")
            return nil
        }
        return n
    }

    static func scanners(_ r: inout ObjectReader, key: String) -> [String]? {
        guard let list = r.stringArray(key, maxCount: 4) else { return nil }
        var seen: [String] = []
        for (i, s) in list.enumerated() {
            guard ScannerName(rawValue: s) != nil else {
                r.fail("\(key)[\(i)]", "Unknown scanner '\(s)'; must be one of trivy, grype, syft, native.")
                return nil
            }
            if !seen.contains(s) { seen.append(s) }
        }
        return seen
    }

    static func globs(_ r: inout ObjectReader, key: String) -> String? {
        guard let s = r.string(key, maxLength: 1000, nullable: true) else { return nil }
        if s.trimmingCharacters(in: .whitespaces).isEmpty { return nil }
        do {
            _ = try TagFilter.parseList(s)
        } catch {
            r.fail(key, error.description)
            return nil
        }
        return s
    }

    static func url(_ r: inout ObjectReader, _ raw: String, insecure: Bool) -> String? {
        guard let comps = URLComponents(string: raw), let scheme = comps.scheme?.lowercased(),
              let host = comps.host, !host.isEmpty
        else {
            r.fail("url", "Must be an absolute http(s) URL with a host.")
            return nil
        }
        guard scheme == "https" || scheme == "http" else {
            r.fail("url", "Must use https:// (or http:// with insecure: true).")
            return nil
        }
        if comps.user != nil || comps.password != nil {
            r.fail("url", "Must not contain credentials; use the credentials field.")
            return nil
        }
        if comps.query != nil || comps.fragment != nil {
            r.fail("url", "Must not have a query or fragment.")
            return nil
        }
        if scheme == "http", !insecure {
            r.fail("url", "http:// is only allowed with insecure: true.")
            return nil
        }
        var s = raw
        while s.hasSuffix("/") { s.removeLast() }
        return s
    }

    /// Whether two registry URLs name the same endpoint: scheme, host and port compared
    /// without case (a missing port is the scheme's default), the path exactly (trailing
    /// slashes aside). Anything that does not parse is a different endpoint.
    static func sameEndpoint(_ a: String, _ b: String) -> Bool {
        func canonical(_ raw: String) -> String? {
            guard let c = URLComponents(string: raw), let scheme = c.scheme?.lowercased(), let host = c.host?.lowercased(),
                  !host.isEmpty
            else { return nil }
            let port = c.port ?? (scheme == "https" ? 443 : scheme == "http" ? 80 : -1)
            var path = c.percentEncodedPath
            while path.hasSuffix("/") { path.removeLast() }
            let user = c.percentEncodedUser ?? ""
            return "\(scheme)://\(user)@\(host):\(port)\(path)?\(c.percentEncodedQuery ?? "")#\(c.percentEncodedFragment ?? "")"
        }
        guard let x = canonical(a), let y = canonical(b) else { return false }
        return x == y
    }

    /// Parses a credentials object and checks it fits one of the provider's credential kinds.
    static func credentials(_ r: inout ObjectReader, provider: RegistryProvider, required: Bool) -> RegistryCredentials? {
        guard r.has("credentials") else {
            if required { r.fail("credentials", "Required for provider \(provider.rawValue).") }
            return nil
        }
        guard var c = r.object("credentials") else {
            if required, case .null? = r.object["credentials"] {
                r.fail("credentials", "Required for provider \(provider.rawValue).")
            }
            return nil
        }
        let keys = Set(c.object.keys)
        var fields: [String: String] = [:]
        for key in keys.sorted() {
            if let v = c.string(key, required: true, minLength: 1, maxLength: 65_536) { fields[key] = v }
        }
        let accepted = provider.acceptedCredentialKinds
        // The accepted kind that fits best: most required fields present, fewest strays.
        let best = accepted.max { a, b in
            score(a, keys) < score(b, keys)
        } ?? .usernamePassword
        let allowed = Set(best.requiredFields + best.optionalFields)
        c.rejectUnknown(allowed: allowed)
        for f in best.requiredFields where !keys.contains(f) {
            c.fail(f, "Required for \(best.rawValue) credentials of provider \(provider.rawValue).")
        }
        if best == .googleGar, let key = fields["serviceAccountKey"] {
            let ok = (try? JSONSerialization.jsonObject(with: Data(key.utf8)) as? [String: Any]).map {
                $0["client_email"] is String && $0["private_key"] is String
            } ?? false
            if !ok { c.fail("serviceAccountKey", "Must be a service-account JSON key with client_email and private_key.") }
        }
        if best == .harborRobot, let n = fields["robotName"], !n.hasPrefix("robot") {
            c.fail("robotName", "Harbor robot accounts are named robot$… (or robot$project+name).")
        }
        let ok = c.issues.isEmpty
        r.absorb(c)
        return ok ? RegistryCredentials(kind: best, fields: fields) : nil
    }

    static func score(_ kind: RegistryCredentials.Kind, _ keys: Set<String>) -> Int {
        let req = Set(kind.requiredFields)
        let all = req.union(kind.optionalFields)
        return keys.intersection(req).count * 2 - keys.subtracting(all).count
    }
}
