import Crypto
import Mustache
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Registry
import Scan
import Synchronization
import Store

extension JSONValue {
    /// The member `key` of an object, `.null` for anything else (so lookups chain).
    func field(_ key: String) -> JSONValue {
        if case .object(let o) = self { return o[key] ?? .null }
        return .null
    }
    var string: String? {
        if case .string(let s) = self { return s }
        return nil
    }
    var int: Int? {
        if case .number(let n) = self, n.isFinite { return Int(n) }
        return nil
    }
    var arrayValue: [JSONValue] {
        if case .array(let a) = self { return a }
        return []
    }
}

enum ConsoleJSON {
    /// A service's answer in the API's JSON shape, as plain values: for the scan, finding and
    /// vulnerability templates, which read the API's field names (flattened findings,
    /// `counts`, `layers`). The encoder is the API's; no HTTP, no router.
    static func plain(_ value: some Encodable) -> Any {
        guard let data = try? JSONCoding.encoder.encode(value), let json = try? JSONDecoder().decode(JSONValue.self, from: data)
        else { return [String: Any]() }
        return plain(json)
    }

    static func object(_ value: some Encodable) -> [String: Any] { plain(value) as? [String: Any] ?? [:] }

    /// JSON as plain Swift values for Mustache: objects become dictionaries (nulls dropped so
    /// sections on them are false), whole numbers Int, arrays [Any].
    static func plain(_ v: JSONValue) -> Any {
        switch v {
        case .null: return ""
        case .bool(let b): return b
        case .number(let n): return n.rounded() == n && abs(n) < 1e15 ? Int(n) : n
        case .string(let s): return s
        case .array(let a): return a.map(plain)
        case .object(let o):
            var d: [String: Any] = [:]
            for (k, x) in o where x != .null { d[k] = plain(x) }
            return d
        }
    }
}

/// `application/x-www-form-urlencoded` bodies of the console's forms, parsed and
/// percent-decoded by Hummingbird's `URLEncodedFormDecoder`. Fields are single values, and
/// repeated checkboxes are named `name[]` (`scanners[]`, `events[]`): the decoder refuses a
/// plain name sent twice, and a value that does not percent-decode.
struct ConsoleForm: Sendable, Decodable {
    var fields: [String: String] = [:]
    var lists: [String: [String]] = [:]

    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Key.self)
        for key in container.allKeys {
            if let list = try? container.decode([String].self, forKey: key) {
                lists[key.stringValue] = list
            } else {
                let value = try container.decode(String.self, forKey: key)
                fields[key.stringValue] = value
                lists[key.stringValue] = [value]
            }
        }
    }

    /// An empty form.
    init() {}

    init(query: String) throws {
        self = query.isEmpty ? ConsoleForm() : try URLEncodedFormDecoder().decode(ConsoleForm.self, from: query)
    }

    /// The request's form; a body that is not a well-formed form is a 400.
    static func read(_ request: Request) async throws -> ConsoleForm {
        let buffer = try await request.body.collect(upTo: 1 << 20)
        do {
            return try ConsoleForm(query: String(decoding: buffer.readableBytesView, as: UTF8.self))
        } catch {
            throw HTTPError(.badRequest, message: "The form could not be read: \(error)")
        }
    }

    subscript(_ key: String) -> String? { fields[key] }

    /// A trimmed value, nil when absent or blank.
    func value(_ key: String) -> String? {
        guard let v = fields[key]?.trimmingCharacters(in: .whitespacesAndNewlines), !v.isEmpty else { return nil }
        return v
    }
}

/// Per-session CSRF tokens: an HMAC of a fixed label keyed by the session token, which the
/// browser keeps in an HttpOnly cookie another site can neither read nor make it send on a
/// cross-site POST (SameSite=Lax). Nothing is stored server-side.
enum ConsoleCSRF {
    static let field = "_csrf"

    static func token(forSession session: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(
            for: Data("harborguard-console-csrf-v1".utf8), using: SymmetricKey(data: Data(session.utf8)))
        return Data(mac).hexString
    }

    static func isValid(_ submitted: String?, session: String) -> Bool {
        guard let submitted else { return false }
        return Tokens.constantTimeEquals(Data(submitted.utf8), Data(token(forSession: session).utf8))
    }
}

enum ConsoleHTTP {
    /// No inline script or style anywhere: everything the page runs comes from /console/assets.
    static let contentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        + "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

    static func securityHeaders() -> HTTPFields {
        var h = HTTPFields()
        h[.contentSecurityPolicy] = contentSecurityPolicy
        h[HTTPField.Name("X-Frame-Options")!] = "DENY"
        h[.xContentTypeOptions] = "nosniff"
        h[HTTPField.Name("Referrer-Policy")!] = "same-origin"
        h[.cacheControl] = "no-store"
        return h
    }

    static func html(_ body: String, status: HTTPResponse.Status = .ok, cookies: [String] = []) -> Response {
        var h = securityHeaders()
        h[.contentType] = "text/html; charset=utf-8"
        for c in cookies { h.append(HTTPField(name: .setCookie, value: c)) }
        return Response(status: status, headers: h, body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
    }

    /// 303 after a form post, so a reload never repeats the action.
    static func redirect(_ location: String, cookies: [String] = []) -> Response {
        var h = securityHeaders()
        h[.location] = location
        for c in cookies { h.append(HTTPField(name: .setCookie, value: c)) }
        return Response(status: .seeOther, headers: h)
    }

    /// Keeps a redirect target on this site and under the console.
    static func localPath(_ s: String?, fallback: String) -> String {
        guard let s, s.hasPrefix("/console"), !s.hasPrefix("//"), !s.contains("\\"), !s.contains("\r"), !s.contains("\n")
        else { return fallback }
        return s
    }

    static func percentEncode(_ s: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return s.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
    }
}

/// What a template sees: a typed value (a service's DTO or a page's view model, read by
/// Mustache through reflection) with a few extra keys on top (a grade, a sensor status, the
/// CSRF token and the viewer's roles). A nil optional reads as absent, as a missing key does.
struct ConsoleView: MustacheParent {
    var base: Any
    var extra: [String: Any]

    init(_ base: Any, _ extra: [String: Any] = [:]) {
        self.base = base
        self.extra = extra
    }

    func child(named name: String) -> Any? {
        if let v = extra[name] { return v }
        if let parent = base as? any MustacheParent { return parent.child(named: name) }
        guard let c = Mirror(reflecting: base).children.first(where: { $0.label == name }) else { return nil }
        return Self.unwrap(c.value)
    }

    static func unwrap(_ v: Any) -> Any? {
        let m = Mirror(reflecting: v)
        guard m.displayStyle == .optional else { return v }
        guard let wrapped = m.children.first?.value else { return nil }
        return unwrap(wrapped)
    }
}

extension PageRequest {
    /// A page of a console list (the console's own query parameters, already checked).
    init(page: Int, limit: Int, sortField: String? = nil, descending: Bool = false, search: String? = nil) {
        self.page = page
        self.limit = limit
        self.sortField = sortField
        self.descending = descending
        self.search = search
    }
}
