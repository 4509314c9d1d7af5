import Foundation

/// A cache of values that expire, where concurrent callers asking for the same missing key
/// share one fetch (the first caller starts a Task, the others await it).
actor ExpiringCache<Key: Hashable & Sendable, Value: Sendable> {
    private struct Entry {
        let value: Value
        let expires: Date
    }

    private var entries: [Key: Entry] = [:]
    private var inflight: [Key: Task<(Value, Date), any Error>] = [:]
    private let now: @Sendable () -> Date
    private static var pruneThreshold: Int { 512 }

    init(now: @escaping @Sendable () -> Date = { Date() }) {
        self.now = now
    }

    /// The cached value for `key`, or the result of `fetch` (value and expiry), fetched once
    /// however many callers wait. A failed fetch is not cached.
    func value(for key: Key, fetch: @escaping @Sendable () async throws -> (Value, Date)) async throws -> Value {
        if let entry = entries[key], entry.expires > now() { return entry.value }
        if let task = inflight[key] { return try await task.value.0 }
        let task = Task { try await fetch() }
        inflight[key] = task
        do {
            let (value, expires) = try await task.value
            inflight[key] = nil
            if entries.count >= Self.pruneThreshold {
                // One entry per scope (repository) adds up on big registries: drop dead ones.
                let current = now()
                entries = entries.filter { $0.value.expires > current }
            }
            entries[key] = Entry(value: value, expires: expires)
            return value
        } catch {
            inflight[key] = nil
            throw error
        }
    }

    /// Drops `key` (e.g. after the registry refused the token).
    func invalidate(_ key: Key) {
        entries[key] = nil
    }

    /// How many entries are held, live or expired (for tests).
    var count: Int { entries.count }
}

/// Key of a bearer token: the realm, service and scope it was issued for.
struct TokenKey: Hashable, Sendable {
    let realm: String
    let service: String
    let scope: String
}

/// Credentials after provider-specific exchanges (ECR, GAR, ACR), as the registry wants them.
enum ResolvedCredential: Sendable, Hashable {
    /// No credentials.
    case anonymous
    /// Username and password/token for Basic auth (and for the token realm).
    case basic(username: String, password: String)
    /// An identity (refresh) token: POSTed as `grant_type=refresh_token`, Basic as a fallback.
    case identityToken(username: String, token: String)

    var basicPair: (String, String)? {
        switch self {
        case .anonymous: nil
        case let .basic(u, p): (u, p)
        case let .identityToken(u, t): (u, t)
        }
    }
}

/// Mutable state shared by all copies of one client: the registry's challenge, the token and
/// credential caches, and the last rate-limit header seen.
actor ClientState {
    var challenge: AuthChallenge?
    var rateLimitRemaining: Int?

    func setChallenge(_ c: AuthChallenge) { challenge = c }
    func setRateLimitRemaining(_ n: Int) { rateLimitRemaining = n }
}
