import Foundation
import HTTPTypes
import Hummingbird
import Registry
import Store

/// The `Host` values the server answers when `serve --public-url` is set, against DNS
/// rebinding: a page on an attacker's domain that re-resolves that domain to this server
/// makes the browser send `Host: <attacker's domain>`, which is refused (421
/// HOST_NOT_ALLOWED). Allowed: the public URL's host with its port (the scheme's default port
/// when the URL names none; a `Host` without a port matches the host alone), `localhost` on any port, and any IP literal (a rebinding attack
/// needs a name: a browser whose origin is an IP address sends that address). A request
/// without a `Host` header (HTTP/1.0) is not a browser's and is let through. Off when no
/// public URL is set.
public struct HostAllowList: Sendable, Hashable {
    public let host: String
    public let port: Int

    /// Nil when `publicURL` is not an absolute http(s) URL with a host.
    public init?(publicURL: String) {
        guard let c = URLComponents(string: publicURL), let scheme = c.scheme?.lowercased(), scheme == "http" || scheme == "https",
              let host = c.host, !host.isEmpty else { return nil }
        self.host = Self.normalized(host)
        self.port = c.port ?? (scheme == "https" ? 443 : 80)
    }

    static func normalized(_ host: String) -> String {
        var h = host.lowercased()
        if h.hasPrefix("["), h.hasSuffix("]") { h = String(h.dropFirst().dropLast()) }
        while h.hasSuffix(".") { h.removeLast() }
        return h
    }

    /// Whether a `Host` header value (`host[:port]`, IPv6 in brackets) is allowed. A value
    /// without a port is the default port of the scheme the client used, which behind a
    /// TLS-terminating proxy is not this server's own: only the host is compared then.
    public func permits(authority: String) -> Bool {
        guard let (host, port) = Self.split(authority) else { return false }
        if host == "localhost" || OutgoingPolicy.Address(literal: host) != nil { return true }
        return host == self.host && (port == nil || port == self.port)
    }

    /// Splits `host[:port]`; nil for a malformed value.
    static func split(_ authority: String) -> (String, Int?)? {
        let a = authority.trimmingCharacters(in: .whitespaces)
        guard !a.isEmpty else { return nil }
        var host: Substring
        var rest: Substring
        if a.hasPrefix("[") {
            guard let close = a.firstIndex(of: "]") else { return nil }
            host = a[a.index(after: a.startIndex)..<close]
            rest = a[a.index(after: close)...]
        } else if let colon = a.lastIndex(of: ":") {
            host = a[..<colon]
            rest = a[colon...]
        } else {
            host = Substring(a)
            rest = ""
        }
        var port: Int?
        if !rest.isEmpty {
            guard rest.hasPrefix(":"), let p = Int(rest.dropFirst()), (0...65535).contains(p) else { return nil }
            port = p
        }
        guard !host.isEmpty, !host.contains(":") || a.hasPrefix("[") else { return nil }
        return (normalized(String(host)), port)
    }
}

/// Answers 421 HOST_NOT_ALLOWED for a `Host` the allow-list refuses.
struct HostAllowListMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let allowList: HostAllowList

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let authority = request.head.authority, !allowList.permits(authority: authority) {
            throw APIError(
                .misdirectedRequest, code: "HOST_NOT_ALLOWED",
                message: "This server answers only requests for its public URL's host (serve --public-url), localhost or an IP address.")
        }
        return try await next(request, context)
    }
}
