public import AsyncHTTPClient
import Foundation
public import Logging
public import NIOCore
import NIOHTTP1
import Synchronization

/// An HTTP client that applies the `OutgoingPolicy` to every request and every redirect hop,
/// and connects to the address it checked.
///
/// Each request's host is resolved (`getaddrinfo`; results reused for 30 s), every address is
/// checked, and the request goes through an `HTTPClient` whose `dnsOverride` maps the host to
/// the chosen checked address (the first IPv4 one, else the first IPv6 one). The URL is left
/// as it is, so the `Host` header, TLS SNI and certificate verification still use the host
/// name. Those pinned clients are kept per (host, address) and reused; one whose address
/// changed is shut down two hours later (after any request on it has ended).
///
/// Redirects are never followed by the underlying clients: `execute(_:followRedirects:)`
/// follows them here, checking each hop.
public final class OutgoingHTTPClient: Sendable {
    public let policy: OutgoingPolicy
    public let purpose: OutgoingPolicy.Purpose
    let configuration: HTTPClient.Configuration
    let mode: Mode
    let state = Mutex(State())

    enum Mode {
        /// Pinned clients made from `configuration`, owned and shut down here.
        case managed
        /// A caller's client used as is: every hop is checked, but the client resolves the name
        /// again when it connects (tests and embedders; the server never uses this).
        case unmanaged(HTTPClient)
    }

    struct Pinned {
        var address: OutgoingPolicy.Address
        var expires: ContinuousClock.Instant
    }

    struct State {
        var clients: [String: (client: HTTPClient, used: ContinuousClock.Instant)] = [:]
        var pins: [String: Pinned] = [:]
        var retired: [(client: HTTPClient, at: ContinuousClock.Instant)] = []
        var shutDown = false
    }

    static let pinLifetime: Duration = .seconds(30)
    static let retiredGrace: Duration = .seconds(7200)
    static let maxClients = 128

    /// A client that owns its connections. Redirects in `configuration` are ignored (always
    /// followed here, hop by hop).
    public init(configuration: HTTPClient.Configuration, policy: OutgoingPolicy, purpose: OutgoingPolicy.Purpose) {
        var config = configuration
        config.redirectConfiguration = .disallow
        config.dnsOverride = [:]
        self.configuration = config
        self.policy = policy
        self.purpose = purpose
        self.mode = .managed
    }

    /// Wraps a caller's client (which the caller shuts down). Every request is still checked,
    /// but the connection is made by name, so a DNS answer that changes between the check and
    /// the connection is not caught; the server itself never uses this.
    public init(unmanaged client: HTTPClient, policy: OutgoingPolicy, purpose: OutgoingPolicy.Purpose) {
        self.configuration = HTTPClient.Configuration()
        self.policy = policy
        self.purpose = purpose
        self.mode = .unmanaged(client)
    }

    /// Checks a URL without sending anything (resolving it, and remembering the checked
    /// address for the next request).
    public func check(url: String) async throws {
        _ = try await route(url)
    }

    /// Sends one request (no redirects followed).
    public func execute(_ request: HTTPClientRequest, deadline: NIODeadline, logger: Logger? = nil) async throws -> HTTPClientResponse {
        let client = try await route(request.url)
        return try await client.execute(request, deadline: deadline, logger: logger)
    }

    /// Sends one request and follows up to `maxRedirects` redirects of a GET or HEAD, checking
    /// every hop; https → http is refused, and `Authorization` does not leave the origin.
    public func execute(
        _ request: HTTPClientRequest, deadline: NIODeadline, followRedirects maxRedirects: Int, logger: Logger? = nil
    ) async throws -> HTTPClientResponse {
        var request = request
        var visited: Set<String> = [request.url]
        let firstOrigin = Origin(request.url)
        var hops = 0
        while true {
            let response = try await execute(request, deadline: deadline, logger: logger)
            guard [301, 302, 303, 307, 308].contains(response.status.code), request.method == .GET || request.method == .HEAD,
                  let location = response.headers.first(name: "Location") else { return response }
            _ = try? await response.body.collect(upTo: 64 * 1024)
            hops += 1
            guard hops <= maxRedirects else { throw OutgoingRedirectRefused("more than \(maxRedirects) redirects") }
            guard let next = URL(string: location, relativeTo: URL(string: request.url))?.absoluteURL.absoluteString,
                  let nextOrigin = Origin(next) else { throw OutgoingRedirectRefused("redirect to an unusable location") }
            if Origin(request.url)?.scheme == "https", nextOrigin.scheme == "http" {
                throw OutgoingRedirectRefused("redirect from https to http refused")
            }
            guard visited.insert(next).inserted else { throw OutgoingRedirectRefused("redirect loop") }
            if nextOrigin != firstOrigin { request.headers.remove(name: "Authorization") }
            request.url = next
        }
    }

    /// The client to send `url` through, after the policy check.
    func route(_ url: String) async throws -> HTTPClient {
        guard let host = OutgoingPolicy.host(of: url) else { throw HTTPClientError.invalidURL }
        let now = ContinuousClock.now
        let cached: OutgoingPolicy.Address? = state.withLock { s in
            guard let pin = s.pins[host], pin.expires > now else { return nil }
            return pin.address
        }
        let address: OutgoingPolicy.Address
        if let cached {
            address = cached
        } else {
            let addresses = try await OutgoingPolicy.resolve(host)
            try policy.check(addresses, for: purpose)
            address = state.withLock { s in
                // Keep the address pinned before when it is still among the answers (round-robin DNS).
                let chosen = s.pins[host].map(\.address).flatMap { addresses.contains($0) ? $0 : nil }
                    ?? addresses.first(where: \.isIPv4) ?? addresses[0]
                s.pins[host] = Pinned(address: chosen, expires: now + Self.pinLifetime)
                return chosen
            }
        }
        switch mode {
        case .unmanaged(let client):
            return client
        case .managed:
            return try client(host: host, address: address, now: now)
        }
    }

    func client(host: String, address: OutgoingPolicy.Address, now: ContinuousClock.Instant) throws -> HTTPClient {
        // A literal host is connected to as written (and was checked as written).
        let literal = OutgoingPolicy.Address(literal: host) != nil
        let key = literal ? "literal" : "\(host)\u{0}\(address)"
        var toShutDown: [HTTPClient] = []
        defer { for c in toShutDown { c.shutdown { _ in } } }
        return try state.withLock { s throws -> HTTPClient in
            guard !s.shutDown else { throw HTTPClientError.alreadyShutdown }
            if var entry = s.clients[key] {
                entry.used = now
                s.clients[key] = entry
                return entry.client
            }
            // Retire the host's clients for other addresses, and the least recently used over the cap.
            if !literal {
                for (k, v) in s.clients where k.hasPrefix("\(host)\u{0}") {
                    s.clients[k] = nil
                    s.retired.append((v.client, now))
                }
            }
            if s.clients.count >= Self.maxClients, let oldest = s.clients.min(by: { $0.value.used < $1.value.used }) {
                s.clients[oldest.key] = nil
                s.retired.append((oldest.value.client, now))
            }
            let expired = s.retired.filter { now - $0.at > Self.retiredGrace }
            s.retired.removeAll { now - $0.at > Self.retiredGrace }
            toShutDown = expired.map(\.client)
            var config = configuration
            if !literal { config.dnsOverride = [host: address.description] }
            let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
            s.clients[key] = (client, now)
            return client
        }
    }

    /// Shuts down every client this one made (nothing for an unmanaged client).
    public func shutdown() async throws {
        let all: [HTTPClient] = state.withLock { s in
            s.shutDown = true
            let all = s.clients.values.map(\.client) + s.retired.map(\.client)
            s.clients = [:]
            s.retired = []
            return all
        }
        for c in all { try? await c.shutdown() }
    }
}

/// A redirect the outgoing client would not follow.
public struct OutgoingRedirectRefused: Error, Sendable, Hashable, CustomStringConvertible {
    public let reason: String
    init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}
