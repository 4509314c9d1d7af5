public import AsyncHTTPClient
import Foundation
public import Logging
import NIOCore
import NIOHTTP1

/// A client of one OCI distribution registry: auth (Basic, Bearer with a shared token cache,
/// provider exchanges), bounded retries, manual same-origin-aware redirects, listing,
/// manifests and streamed, verified blobs.
///
/// The caller owns the `HTTPClient` (and shuts it down); configure it with
/// `RegistryClient.httpClientConfiguration()` so redirects are not followed automatically.
/// Copies of a client share their token cache.
public struct RegistryClient: Sendable {
    /// The configuration this client was made with.
    public private(set) var configuration: Configuration
    let base: BaseURL
    let http: OutgoingHTTPClient
    let logger: Logger
    let state: ClientState
    let tokens: ExpiringCache<TokenKey, String>
    let credentialCache: ExpiringCache<String, ResolvedCredential>
    let now: @Sendable () -> Date

    /// Creates a client; throws `invalidConfiguration` for a URL that is not http(s), has
    /// userinfo, or is `http://` without `insecure`.
    public init(configuration: Configuration, http: OutgoingHTTPClient, logger: Logger) throws(RegistryError) {
        try self.init(configuration: configuration, http: http, logger: logger, now: { Date() })
    }

    /// A client on a caller's `HTTPClient`: requests are checked by the default registry
    /// policy, but connect by name (see `OutgoingHTTPClient.init(unmanaged:)`).
    public init(configuration: Configuration, httpClient: HTTPClient, logger: Logger) throws(RegistryError) {
        try self.init(configuration: configuration, httpClient: httpClient, logger: logger, now: { Date() })
    }

    init(configuration: Configuration, httpClient: HTTPClient, logger: Logger, now: @escaping @Sendable () -> Date) throws(RegistryError) {
        try self.init(
            configuration: configuration, http: OutgoingHTTPClient(unmanaged: httpClient, policy: OutgoingPolicy(), purpose: .registry),
            logger: logger, now: now)
    }

    init(configuration: Configuration, http: OutgoingHTTPClient, logger: Logger, now: @escaping @Sendable () -> Date) throws(RegistryError) {
        self.configuration = configuration
        self.base = try BaseURL(configuration.url, insecure: configuration.insecure)
        self.http = http
        self.logger = logger
        self.state = ClientState()
        self.tokens = ExpiringCache(now: now)
        self.credentialCache = ExpiringCache(now: now)
        self.now = now
    }

    /// A copy with other limits (same URL and credentials) that shares this client's caches.
    func withLimits(requestTimeout: Duration, retry: RetryPolicy) -> RegistryClient {
        var copy = self
        copy.configuration.requestTimeout = requestTimeout
        copy.configuration.retry = retry
        return copy
    }

    /// The registry host as image references spell it (`host[:port]`).
    public var registryHost: String { base.hostPort }

    /// The last `ratelimit-remaining` value the registry sent (Docker Hub), if any.
    public func rateLimitRemaining() async -> Int? { await state.rateLimitRemaining }

    // MARK: - Requests

    struct Call {
        var method: HTTPMethod = .GET
        var url: String
        var headers: HTTPHeaders = [:]
        var body: ByteBuffer?
        /// Bearer scope(s), space separated; "" for none (the ping).
        var scope: String = ""
        /// Whether to attach registry auth (false for token, provider and Hub API calls).
        var authenticate: Bool = true
        var timeout: Duration
    }

    func call(_ method: HTTPMethod = .GET, _ path: String, scope: String, headers: HTTPHeaders = [:], body: ByteBuffer? = nil, timeout: Duration? = nil) -> Call {
        Call(method: method, url: base.root + path, headers: headers, body: body, scope: scope, timeout: timeout ?? configuration.requestTimeout)
    }

    static func pullScope(_ repository: Repository) -> String { "repository:\(repository.name):pull" }
    static func pushScope(_ repository: Repository) -> String { "repository:\(repository.name):pull,push" }
    static let catalogScope = "registry:catalog:*"

    /// Sends a call with auth, at most one auth retry, bounded 429/5xx retries and redirects.
    func send(_ call: Call) async throws -> HTTPClientResponse {
        let deadline = NIODeadline.now() + .nanoseconds(call.timeout.nanoseconds)
        let retry = configuration.retry
        var attempt = 0
        var waited = Duration.zero
        var authRetried = false
        var scope = call.scope
        while true {
            attempt += 1
            var headers = call.headers
            var usedToken: TokenKey?
            var usedBasic = false
            if call.authenticate, let auth = try await authorization(scope: scope) {
                headers.replaceOrAdd(name: "Authorization", value: auth.header)
                usedToken = auth.key
                usedBasic = auth.key == nil
            }
            let response = try await sendFollowingRedirects(call.method, call.url, headers: headers, body: call.body, deadline: deadline)
            if let remaining = response.headers.first(name: "ratelimit-remaining"),
               let n = Int(remaining.split(separator: ";").first?.trimmingCharacters(in: .whitespaces) ?? "") {
                await state.setRateLimitRemaining(n)
            }
            let code = Int(response.status.code)
            if code == 401, call.authenticate {
                await Self.discard(response)
                if let usedToken { await tokens.invalidate(usedToken) }
                if usedBasic { await credentialCache.invalidate("registry") }
                guard !authRetried else {
                    throw RegistryError.authFailed("the registry refused the credentials (HTTP 401)")
                }
                let challenges = WWWAuthenticate.parse(response.headers["WWW-Authenticate"])
                guard let chosen = Self.choose(challenges) else {
                    throw RegistryError.authFailed("the registry demands authentication but sent no Basic or Bearer challenge")
                }
                if chosen.scheme == "basic", try await resolvedCredential().basicPair == nil {
                    throw RegistryError.authFailed("the registry requires credentials")
                }
                if chosen.scheme == "bearer", chosen.parameters["error"] == "insufficient_scope", let s = chosen.scope {
                    scope = s
                } else if chosen.scheme == "bearer", scope.isEmpty, let s = chosen.scope {
                    scope = s
                }
                await state.setChallenge(chosen)
                authRetried = true
                continue
            }
            // 429 and 503 mean "not processed, come back later"; 502/504 may hide a request
            // that did reach the registry, so only idempotent methods retry those.
            let idempotent = call.method == .GET || call.method == .HEAD
            if code == 429 || code == 503 || (idempotent && (code == 502 || code == 504)) {
                let delay = Self.retryDelay(response.headers.first(name: "Retry-After"), attempt: attempt, policy: retry, now: now())
                await Self.discard(response)
                let nowNs = NIODeadline.now().uptimeNanoseconds
                let remaining = Duration.nanoseconds(deadline.uptimeNanoseconds > nowNs ? min(deadline.uptimeNanoseconds - nowNs, UInt64(Int64.max)) : 0)
                if attempt >= retry.maxAttempts || waited + delay > retry.maxTotalDelay || delay >= remaining {
                    if code == 429 { throw RegistryError.rateLimited("HTTP 429 after \(attempt) attempt(s)") }
                    throw RegistryError.httpStatus(code, "after \(attempt) attempt(s)")
                }
                logger.debug("registry busy, retrying", metadata: ["status": "\(code)", "attempt": "\(attempt)", "delayMs": "\(delay.milliseconds)"])
                try await Task.sleep(for: delay)
                waited += delay
                continue
            }
            return response
        }
    }

    /// Prefers a Bearer challenge with a realm, then Basic.
    static func choose(_ challenges: [AuthChallenge]) -> AuthChallenge? {
        challenges.first { $0.scheme == "bearer" && $0.realm != nil } ?? challenges.first { $0.scheme == "basic" }
    }

    struct Authorization {
        let header: String
        let key: TokenKey?
    }

    /// The Authorization header for `scope` under the challenge learned so far (nil before any).
    func authorization(scope: String) async throws -> Authorization? {
        guard let challenge = await state.challenge else { return nil }
        switch challenge.scheme {
        case "basic":
            guard let (u, p) = try await resolvedCredential().basicPair else { return nil }
            return Authorization(header: Self.basicHeader(u, p), key: nil)
        case "bearer":
            guard let realm = challenge.realm else { return nil }
            let key = TokenKey(realm: realm, service: challenge.service ?? "", scope: scope)
            let token = try await tokens.value(for: key) { [self] in try await fetchToken(key) }
            return Authorization(header: "Bearer \(token)", key: key)
        default:
            return nil
        }
    }

    static func basicHeader(_ user: String, _ password: String) -> String {
        "Basic " + Data("\(user):\(password)".utf8).base64EncodedString()
    }

    /// Sends one request, following up to `maxRedirects` redirects by hand. `Authorization`
    /// is dropped when a redirect leaves the origin (S3/CDN blob URLs carry their own
    /// signature); https→http downgrades are refused unless `insecure`.
    func sendFollowingRedirects(_ method: HTTPMethod, _ url: String, headers: HTTPHeaders, body: ByteBuffer?, deadline: NIODeadline) async throws -> HTTPClientResponse {
        var url = url
        var headers = headers
        var visited: Set<String> = [url]
        var hops = 0
        guard let firstOrigin = Origin(url) else { throw RegistryError.invalidConfiguration("not an http(s) URL") }
        var currentOrigin = firstOrigin
        while true {
            var request = HTTPClientRequest(url: url)
            request.method = method
            request.headers = headers
            if let body { request.body = .bytes(body) }
            let response = try await http.execute(request, deadline: deadline, logger: logger)
            let code = response.status.code
            guard [301, 302, 303, 307, 308].contains(code), method == .GET || method == .HEAD,
                  let location = response.headers.first(name: "Location") else { return response }
            await Self.discard(response)
            hops += 1
            guard hops <= configuration.maxRedirects else {
                throw RegistryError.badRedirect("more than \(configuration.maxRedirects) redirects")
            }
            guard let next = URL(string: location, relativeTo: URL(string: url))?.absoluteURL.absoluteString,
                  let nextOrigin = Origin(next) else {
                throw RegistryError.badRedirect("redirect to an unusable location")
            }
            if currentOrigin.scheme == "https", nextOrigin.scheme == "http", !configuration.insecure {
                throw RegistryError.badRedirect("redirect from https to http refused")
            }
            guard visited.insert(next).inserted else { throw RegistryError.badRedirect("redirect loop") }
            if nextOrigin != firstOrigin {
                headers.remove(name: "Authorization")
            }
            currentOrigin = nextOrigin
            url = next
        }
    }

    /// Reads and drops a small body so the connection can be reused; big or broken bodies
    /// are abandoned (AHC closes the connection).
    static func discard(_ response: HTTPClientResponse) async {
        _ = try? await response.body.collect(upTo: 64 * 1024)
    }

    /// Reads a body up to `limit` bytes, refusing early on a larger `Content-Length`.
    static func readBody(_ response: HTTPClientResponse, limit: Int, what: String) async throws -> Data {
        if let cl = response.headers.first(name: "Content-Length").flatMap({ Int64($0) }), cl > Int64(limit) {
            throw RegistryError.tooLarge("\(what) announces \(cl) bytes, the limit is \(limit)")
        }
        do {
            var buffer = try await response.body.collect(upTo: limit)
            return Data(buffer.readBytes(length: buffer.readableBytes) ?? [])
        } catch is NIOTooManyBytesError {
            throw RegistryError.tooLarge("\(what) is over \(limit) bytes")
        }
    }

    /// The wait before retry `attempt`: `Retry-After` (seconds or HTTP date) when present,
    /// else full-jitter exponential backoff; capped by the policy's `maxDelay`.
    static func retryDelay(_ retryAfter: String?, attempt: Int, policy: RetryPolicy, now: Date) -> Duration {
        if let retryAfter = retryAfter?.trimmingCharacters(in: .whitespaces) {
            if let seconds = Int(retryAfter), seconds >= 0 {
                return min(.seconds(seconds), policy.maxDelay)
            }
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.timeZone = TimeZone(identifier: "GMT")
            formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
            if let date = formatter.date(from: retryAfter) {
                let seconds = max(0, date.timeIntervalSince(now))
                return min(.milliseconds(Int64(seconds * 1000)), policy.maxDelay)
            }
        }
        let exponent = min(attempt - 1, 20)
        let cap = min(policy.baseDelay * (1 << exponent), policy.maxDelay)
        let nanos = cap.nanoseconds
        return .nanoseconds(nanos > 0 ? Int64.random(in: nanos / 2...nanos) : 0)
    }

    /// Maps a failed response to an error, reading the registry's `errors[].code` when sent.
    func statusError(_ response: HTTPClientResponse, _ what: String) async -> RegistryError {
        let code = Int(response.status.code)
        var detail = ""
        if let data = try? await Self.readBody(response, limit: 64 * 1024, what: "error body"),
           let decoded = try? JSONDecoder().decode(ErrorBody.self, from: data),
           let first = decoded.errors?.first {
            detail = [first.code, first.message].compactMap { $0 }.joined(separator: ": ")
            detail = String(detail.prefix(200))
        }
        let suffix = detail.isEmpty ? "" : " (\(detail))"
        switch code {
        case 404: return .notFound("\(what)\(suffix)")
        case 401: return .authFailed("\(what): HTTP 401\(suffix)")
        case 403: return .authFailed("\(what): access denied (HTTP 403)\(suffix)")
        case 429: return .rateLimited("\(what): HTTP 429")
        default: return .httpStatus(code, "\(what)\(suffix)")
        }
    }

    struct ErrorBody: Decodable {
        struct Item: Decodable {
            var code: String?
            var message: String?
        }
        var errors: [Item]?
    }

    /// Runs `body`, turning every error into a `RegistryError`.
    func mapped<T>(_ body: () async throws -> T) async throws(RegistryError) -> T {
        do { return try await body() } catch { throw Self.classify(error) }
    }

    /// Classifies transport and other errors; descriptions carry no secrets.
    static func classify(_ error: any Error) -> RegistryError {
        if let e = error as? RegistryError { return e }
        if let e = error as? TargetNotAllowed { return .targetNotAllowed(e.description) }
        if error is OutgoingResolutionFailed { return .unreachable("cannot resolve the host") }
        if let e = error as? OutgoingRedirectRefused { return .badRedirect(e.reason) }
        if error is CancellationError { return .timeout("cancelled") }
        if error is NIOTooManyBytesError { return .tooLarge("response body over its limit") }
        if let e = error as? HTTPClientError {
            switch e {
            case .connectTimeout: return .timeout("connecting to the registry")
            case .readTimeout, .deadlineExceeded, .writeTimeout, .getConnectionFromPoolTimeout: return .timeout("waiting for the registry")
            case .tlsHandshakeTimeout: return .timeout("TLS handshake")
            case .cancelled: return .timeout("cancelled")
            case .remoteConnectionClosed: return .unreachable("the registry closed the connection")
            default: break
            }
        }
        if error is DecodingError { return .invalidResponse("malformed JSON") }
        let type = String(reflecting: Swift.type(of: error))
        let text = String(describing: error)
        if type.contains("NIOSSL") || type.contains("BoringSSL") || text.contains("certificate") || text.contains("handshake") || text.contains("SSL") {
            return .tlsError("TLS handshake or certificate verification failed")
        }
        if type.contains("HTTPParserError") || text.contains("invalidEOFState") {
            return .unreachable("the connection ended mid-response")
        }
        if text.contains("refused") || text.contains("ECONNREFUSED") {
            return .unreachable("connection refused")
        }
        if type.contains("NIOConnectionError") || type.contains("SocketAddressError") || text.contains("resolve") || text.contains("DNS") {
            return .unreachable("cannot resolve or connect to the host")
        }
        return .unreachable(String(text.prefix(200)))
    }
}

extension Duration {
    var nanoseconds: Int64 {
        let (s, a) = components
        return s.multipliedReportingOverflow(by: 1_000_000_000).partialValue &+ a / 1_000_000_000
    }

    var milliseconds: Int64 { nanoseconds / 1_000_000 }
}
