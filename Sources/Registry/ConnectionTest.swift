import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// The outcome of `RegistryClient.testConnection`, shaped like the API's test-connection answer.
public struct ConnectionTestResult: Sendable, Hashable, Codable {
    /// The API's status values.
    public enum Status: String, Sendable, Hashable, Codable {
        case ok
        case authFailed = "auth_failed"
        case unreachable
        case tlsError = "tls_error"
        case notARegistry = "not_a_registry"
        case timeout
    }

    /// The auth scheme the registry asked for.
    public enum AuthScheme: String, Sendable, Hashable, Codable {
        case none
        case basic
        case bearer
    }

    /// The classification.
    public var status: Status
    /// A readable explanation without secrets.
    public var message: String
    /// Time from start to answer in milliseconds.
    public var latencyMs: Int
    /// The auth scheme seen on `/v2/`.
    public var authScheme: AuthScheme
    /// The first few repositories (empty when listing is refused).
    public var repositories: [String]

    /// Whether `status` is `ok`.
    public var ok: Bool { status == .ok }
}

extension ConnectionTestResult.Status {
    /// The status a failure of this kind reports.
    public init(_ error: RegistryError) {
        switch error {
        case .authFailed: self = .authFailed
        case .unreachable, .rateLimited, .targetNotAllowed: self = .unreachable
        case .tlsError: self = .tlsError
        case .timeout: self = .timeout
        case .invalidConfiguration: self = .authFailed
        case .notARegistry, .notFound, .httpStatus, .invalidResponse, .badRedirect, .tooLarge, .unsupportedMediaType,
             .digestMismatch, .sizeMismatch, .platformNotFound, .invalidReference, .invalidDigest:
            self = .notARegistry
        }
    }
}

extension RegistryClient {
    /// Checks that the URL is a registry and the credentials work: `GET /v2/`, auth as
    /// challenged, then the first few repositories. Always answers within `timeout`, whatever
    /// the server does (a slow server is abandoned: the test is cancelled when the time is up).
    public func testConnection(timeout: Duration = .seconds(15), repositoryCount: Int = 5) async -> ConnectionTestResult {
        let clock = ContinuousClock()
        let start = clock.now
        // Short limits for the probe; the caches stay shared, so a successful test warms them.
        // Requests end at 3/4 of the budget: AHC then reports why it could not connect (it
        // retries refused connections until the deadline), which beats a bare "timeout".
        let client = withLimits(
            requestTimeout: min(configuration.requestTimeout, timeout * 0.75),
            retry: RetryPolicy(maxAttempts: 2, baseDelay: .milliseconds(200), maxDelay: .seconds(1), maxTotalDelay: .seconds(2)))
        let latency: @Sendable () -> Int = { Int((clock.now - start).milliseconds) }
        // A race of the test and a sleep in one task group; the loser is cancelled. Requests
        // honour cancellation and name resolution abandons its lookup (`Blocking.run`), so
        // the group ends promptly when the sleep wins.
        var result = await withTaskGroup(of: ConnectionTestResult?.self) { group in
            group.addTask { await client.runConnectionTest(repositoryCount: repositoryCount) }
            group.addTask {
                guard (try? await Task.sleep(for: timeout)) != nil else { return nil }
                return ConnectionTestResult(status: .timeout, message: "no answer within \(timeout)", latencyMs: 0, authScheme: .none, repositories: [])
            }
            defer { group.cancelAll() }
            while let next = await group.next() {
                if let next { return next }
            }
            return ConnectionTestResult(status: .timeout, message: "cancelled", latencyMs: 0, authScheme: .none, repositories: [])
        }
        result.latencyMs = latency()
        return result
    }

    func runConnectionTest(repositoryCount: Int) async -> ConnectionTestResult {
        var scheme = ConnectionTestResult.AuthScheme.none
        func result(_ status: ConnectionTestResult.Status, _ message: String, _ repositories: [String] = []) -> ConnectionTestResult {
            ConnectionTestResult(status: status, message: message, latencyMs: 0, authScheme: scheme, repositories: repositories)
        }
        do {
            // 1. Anonymous ping: is this a registry, and which auth does it want?
            let ping = try await send(Call(url: base.root + "/v2/", authenticate: false, timeout: configuration.requestTimeout))
            let code = Int(ping.status.code)
            let apiVersion = ping.headers.first(name: "Docker-Distribution-API-Version")
            let body = (try? await Self.readBody(ping, limit: 64 * 1024, what: "ping")) ?? Data()
            switch code {
            case 200:
                let isJSON = (try? JSONSerialization.jsonObject(with: body)) is [String: Any]
                guard apiVersion != nil || isJSON else {
                    return result(.notARegistry, "GET /v2/ answered 200 but not like a registry")
                }
            case 401:
                let challenges = WWWAuthenticate.parse(ping.headers["WWW-Authenticate"])
                guard let chosen = Self.choose(challenges) else {
                    return result(.notARegistry, "GET /v2/ answered 401 without a Basic or Bearer challenge")
                }
                scheme = chosen.scheme == "bearer" ? .bearer : .basic
                await state.setChallenge(chosen)
                if chosen.scheme == "basic", try await resolvedCredential().basicPair == nil {
                    return result(.authFailed, "the registry requires credentials")
                }
                // 2. Authenticated ping (bearer: a token for no scope).
                let authed = try await send(Call(url: base.root + "/v2/", timeout: configuration.requestTimeout))
                await Self.discard(authed)
                guard authed.status.code == 200 else {
                    return result(authed.status.code == 401 || authed.status.code == 403 ? .authFailed : .notARegistry,
                                  "authenticated GET /v2/ answered HTTP \(authed.status.code)")
                }
            default:
                return result(.notARegistry, "GET /v2/ answered HTTP \(code)\(apiVersion == nil ? "" : " from a registry")")
            }
            // 3. A few repositories; refusals (Docker Hub's _catalog, scoped tokens) are fine.
            let repositories = ((try? await listRepositories(limit: repositoryCount)) ?? []).map(\.name)
            let how = switch scheme {
            case .none: "anonymous access"
            case .basic: "basic auth"
            case .bearer: configuration.credentials == nil ? "anonymous bearer token" : "bearer token"
            }
            return result(.ok, "connected to \(base.hostPort) (\(how))", repositories)
        } catch {
            let e = Self.classify(error)
            return result(ConnectionTestResult.Status(e), e.description)
        }
    }
}
