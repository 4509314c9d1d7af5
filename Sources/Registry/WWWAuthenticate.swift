/// One challenge of a `WWW-Authenticate` header (RFC 7235 §4.1), e.g. `Bearer realm="…",service="…"`.
public struct AuthChallenge: Sendable, Hashable, CustomStringConvertible {
    /// The scheme, lowercased (`basic`, `bearer`, …).
    public let scheme: String
    /// The auth-params with lowercased names and unquoted values.
    public let parameters: [String: String]
    /// A token68 value (`Negotiate abc==`), when the challenge carries one instead of params.
    public let token68: String?

    /// Creates a challenge; the scheme and parameter names are lowercased.
    public init(scheme: String, parameters: [String: String] = [:], token68: String? = nil) {
        self.scheme = scheme.lowercased()
        self.parameters = Dictionary(parameters.map { ($0.key.lowercased(), $0.value) }, uniquingKeysWith: { a, _ in a })
        self.token68 = token68
    }

    /// The `realm` parameter.
    public var realm: String? { parameters["realm"] }
    /// The `service` parameter (bearer).
    public var service: String? { parameters["service"] }
    /// The `scope` parameter (bearer).
    public var scope: String? { parameters["scope"] }

    /// The challenge as a header value that `WWWAuthenticate.parse` reads back: values are
    /// quoted with `"` and `\` escaped, a token68 follows the scheme.
    public var description: String {
        if let token68 { return "\(scheme) \(token68)" }
        let params = parameters.keys.sorted().map { key in
            var quoted = String.UnicodeScalarView()
            for scalar in (parameters[key] ?? "").unicodeScalars {
                if scalar == "\"" || scalar == "\\" { quoted.append("\\") }
                quoted.append(scalar)
            }
            return "\(key)=\"\(String(quoted))\""
        }.joined(separator: ",")
        return params.isEmpty ? scheme : "\(scheme) \(params)"
    }
}

/// Parses `WWW-Authenticate` header values into challenges.
public enum WWWAuthenticate {
    /// Parses every challenge in `headerValues` (one entry per header line; each line may hold
    /// several comma-separated challenges). Malformed parts are skipped, never fatal.
    public static func parse(_ headerValues: [String]) -> [AuthChallenge] {
        headerValues.flatMap { parse($0) }
    }

    /// Parses one header value, e.g. `Bearer realm="https://a/token", service="x", Basic realm="r"`.
    public static func parse(_ header: String) -> [AuthChallenge] {
        var p = Parser(Array(header.utf8))
        var result: [AuthChallenge] = []
        while true {
            p.skip { $0 == .space || $0 == .tab || $0 == .comma }
            guard !p.atEnd else { break }
            guard let scheme = p.token() else {
                // Not a token where a scheme should start: skip to the next comma.
                p.skip { $0 != .comma }
                continue
            }
            var params: [String: String] = [:]
            var token68: String?
            p.skip { $0 == .space || $0 == .tab }
            // After the scheme: either a token68, auth-params, or nothing (next challenge / end).
            paramLoop: while !p.atEnd {
                let mark = p.index
                if p.peek == UInt8.comma {
                    // Comma: either between params or before the next challenge.
                    p.skip { $0 == .space || $0 == .tab || $0 == .comma }
                    let save = p.index
                    guard p.token() != nil else { p.index = save; break paramLoop }
                    p.skip { $0 == .space || $0 == .tab }
                    let isParam = p.peek == UInt8.equals
                    p.index = save
                    if !isParam { break paramLoop }
                    continue
                }
                guard let name = p.token() else {
                    // Garbage: drop to the next comma.
                    p.skip { $0 != .comma }
                    if p.index == mark { break paramLoop }
                    continue
                }
                p.skip { $0 == .space || $0 == .tab }
                if p.peek == UInt8.equals {
                    // `name=value`, or a token68 ending in '=' padding (e.g. `abc==`).
                    let afterName = p.index
                    p.index += 1
                    if params.isEmpty, token68 == nil, p.peek == UInt8.equals || p.atEnd || p.peek == UInt8.comma {
                        p.index = afterName
                        p.skip { $0 == .equals }
                        token68 = String(decoding: p.bytes[mark..<p.index], as: UTF8.self)
                        p.skip { $0 == .space || $0 == .tab }
                        continue
                    }
                    p.skip { $0 == .space || $0 == .tab }
                    let value: String
                    if p.peek == UInt8.quote {
                        value = p.quotedString()
                    } else {
                        value = p.token() ?? ""
                    }
                    let key = name.lowercased()
                    if params[key] == nil { params[key] = value }
                    p.skip { $0 == .space || $0 == .tab }
                } else if params.isEmpty, token68 == nil {
                    token68 = name
                } else {
                    // A bare word after params: the start of a new challenge without a comma.
                    p.index = mark
                    break paramLoop
                }
            }
            result.append(AuthChallenge(scheme: scheme, parameters: params, token68: token68))
        }
        return result
    }

    struct Parser {
        let bytes: [UInt8]
        var index = 0
        init(_ bytes: [UInt8]) { self.bytes = bytes }

        var atEnd: Bool { index >= bytes.count }
        var peek: UInt8? { atEnd ? nil : bytes[index] }

        mutating func skip(while predicate: (UInt8) -> Bool) {
            while index < bytes.count, predicate(bytes[index]) { index += 1 }
        }

        /// RFC 7230 token characters, plus '/' and ':' seen in unquoted realm URLs in the wild.
        static func isTokenChar(_ c: UInt8) -> Bool {
            if c >= 0x30 && c <= 0x39 { return true }
            if c >= 0x41 && c <= 0x5A { return true }
            if c >= 0x61 && c <= 0x7A { return true }
            return "!#$%&'*+-.^_`|~/:".utf8.contains(c)
        }

        mutating func token() -> String? {
            let start = index
            while index < bytes.count, Self.isTokenChar(bytes[index]) { index += 1 }
            return index > start ? String(decoding: bytes[start..<index], as: UTF8.self) : nil
        }

        /// A quoted-string with backslash escapes; an unterminated one runs to the end.
        mutating func quotedString() -> String {
            index += 1
            var out: [UInt8] = []
            while index < bytes.count {
                let c = bytes[index]
                index += 1
                if c == .quote { break }
                if c == .backslash, index < bytes.count {
                    out.append(bytes[index])
                    index += 1
                } else {
                    out.append(c)
                }
            }
            return String(decoding: out, as: UTF8.self)
        }
    }
}

extension UInt8 {
    static let space = UInt8(ascii: " ")
    static let tab = UInt8(ascii: "\t")
    static let comma = UInt8(ascii: ",")
    static let equals = UInt8(ascii: "=")
    static let quote = UInt8(ascii: "\"")
    static let backslash = UInt8(ascii: "\\")
}
