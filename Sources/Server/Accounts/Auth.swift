import Cron
import Foundation
import HTTPTypes
import GRDB
public import Hummingbird
public import Store

extension AppServices {
    /// The session cookie over plain HTTP.
    public static let sessionCookie = "next-auth.session-token"
    /// Under TLS: the `__Host-` prefix makes browsers keep it only when it is `Secure`, has
    /// `Path=/` and no `Domain`, so no other host or plain-HTTP page can set or shadow it.
    public static let tlsSessionCookie = "__Host-next-auth.session-token"

    /// The session cookie's name for this server (`__Host-` under TLS); the API and the console read only it.
    public var sessionCookieName: String { config.tls ? Self.tlsSessionCookie : Self.sessionCookie }

    /// The authorization step every API handler calls. Resolves the caller, then checks the role
    /// (`minimum`, or one of `alsoAllowed`) and the reach: an operation on the whole organization
    /// refuses a registry-scoped credential, naming its scope. Missing, malformed, unknown, expired
    /// or revoked credentials → 401; a role too low, a scope too narrow, or a sensor key off its
    /// endpoints → 403. Handlers of `.registry` operations then check the registry they touch with
    /// `Principal.reaches(registry:)`.
    public func authorize(
        _ request: Request, _ minimum: Role, alsoAllowed: Set<Role> = [], reach: Reach = .organization
    ) async throws -> Principal {
        let p = try await authenticate(request)
        try p.authorize(minimum, alsoAllowed: alsoAllowed, reach: reach, operation: "\(request.method.rawValue) \(request.uri.path)")
        return p
    }

    /// Credentials in order: `X-API-Key`, `Authorization: Bearer`, the session cookie.
    public func authenticate(_ request: Request) async throws -> Principal {
        let token: String
        if let k = request.headers[HTTPField.Name("X-API-Key")!] {
            token = k.trimmingCharacters(in: .whitespaces)
        } else if let a = request.headers[.authorization] {
            let parts = a.split(separator: " ", maxSplits: 1)
            guard parts.count == 2, parts[0].lowercased() == "bearer" else { throw APIError.unauthorized }
            token = parts[1].trimmingCharacters(in: .whitespaces)
        } else if let c = request.cookies[sessionCookieName]?.value {
            // SameSite=Lax keeps the cookie off other sites' POSTs in today's browsers; a change
            // that still arrives with it from another origin is refused as well.
            if Self.isCrossOriginWrite(request) { throw APIError.forbidden }
            token = c
        } else {
            throw APIError.unauthorized
        }
        return try await principal(forToken: token)
    }

    /// An unsafe method whose `Origin` is not this server's host (or that the browser marks
    /// `Sec-Fetch-Site: cross-site`). Clients that send no `Origin` (curl, scripts) are not browsers.
    static func isCrossOriginWrite(_ request: Request) -> Bool {
        if [.get, .head, .options].contains(request.method) { return false }
        if request.headers[HTTPField.Name("Sec-Fetch-Site")!] == "cross-site" { return true }
        guard let origin = request.headers[HTTPField.Name("Origin")!] else { return false }
        guard let parts = URLComponents(string: origin), let host = parts.host, let authority = request.head.authority else {
            return true
        }
        let from = parts.port.map { "\(host):\($0)" } ?? host
        return from.lowercased() != authority.lowercased()
    }

    public func principal(forToken token: String) async throws -> Principal {
        let now = self.now
        if Tokens.isWellFormed(token, prefix: Tokens.apiKeyPrefix) || Tokens.isWellFormed(token, prefix: Tokens.patPrefix) {
            return try await keyPrincipal(token: token, now: now)
        }
        if Tokens.isWellFormed(token, prefix: Tokens.sessionPrefix) {
            return try await sessionPrincipal(token: token, now: now)
        }
        throw APIError.unauthorized
    }

    /// A credential verified before and still cached; 401 once it has expired.
    func cachedPrincipal(_ hash: Data, now: Date) throws -> HotCaches.CachedPrincipal? {
        guard let hit = caches.principals.get(hash) else { return nil }
        if let exp = hit.expiresAt, exp <= Timestamp.format(now) { throw APIError.unauthorized }
        return hit
    }

    func keyPrincipal(token: String, now: Date) async throws -> Principal {
        let hash = Tokens.hash(token)
        let generation = caches.principals.generation
        if let hit = try cachedPrincipal(hash, now: now) {
            if hit.lastUsedAt.addingTimeInterval(60) < now { await recordUse(hit.principal.id, at: now) }
            return hit.principal
        }
        struct KeyRow: Sendable {
            var id: String, orgId: String, kind: String, name: String, hash: Data, role: String, registryId: String?
            var expiresAt: String?, revokedAt: String?, lastUsedAt: String?, userId: String?, userRole: String?
            var username: String?
        }
        let row: KeyRow? = try await db.read { db in
            try AccountRepository.credential(db, tokenHash: hash).map { c in
                let k = c.key
                return KeyRow(
                    id: k.id, orgId: k.orgId, kind: k.kind.rawValue, name: k.name, hash: k.tokenHash, role: k.role,
                    registryId: k.registryId, expiresAt: k.expiresAt.map(Timestamp.format),
                    revokedAt: k.revokedAt.map(Timestamp.format), lastUsedAt: k.lastUsedAt.map(Timestamp.format),
                    userId: k.userId, userRole: c.userRole, username: c.username)
            }
        }
        guard let row, Tokens.constantTimeEquals(row.hash, hash) else { throw APIError.unauthorized }
        if row.revokedAt != nil { throw APIError.unauthorized }
        if let exp = row.expiresAt, exp <= Timestamp.format(now) { throw APIError.unauthorized }
        let kind = row.kind
        let id = row.id
        guard var role = Role(rawValue: row.role) else { throw APIError.unauthorized }
        var principalKind: Principal.Kind = kind == "sensor" ? .sensorKey : .apiKey
        var actor = "key:\(row.name)"
        if kind == "pat" {
            // A PAT acts as its user with the user's current role, optionally capped lower.
            guard let userRole = row.userRole.flatMap(Role.init(rawValue:)) else {
                throw APIError.unauthorized
            }
            role = min(role, userRole)
            principalKind = .pat
            actor = "user:\(row.username ?? "?")"
        }
        // Record use at most once a minute per key, so verification stays read-only on the hot path.
        var lastUsed = row.lastUsedAt.flatMap(Timestamp.parse) ?? .distantPast
        if lastUsed.addingTimeInterval(60) < now {
            await recordUse(id, at: now)
            lastUsed = now
        }
        let principal = Principal(
            kind: principalKind, id: id, orgId: row.orgId, role: role, actor: actor, userId: row.userId,
            registryScope: row.registryId, credentialRole: Role(rawValue: row.role),
            expiresAt: row.expiresAt.flatMap(Timestamp.parse))
        // Not stored when anything the principal depends on changed since the read began.
        caches.principals.put(
            hash, HotCaches.CachedPrincipal(principal: principal, expiresAt: row.expiresAt, lastUsedAt: lastUsed),
            ifGeneration: generation)
        return principal
    }

    func recordUse(_ keyId: String, at now: Date) async {
        try? await db.write { db in try AccountRepository.recordKeyUse(db, id: keyId, at: now) }
    }

    func sessionPrincipal(token: String, now: Date) async throws -> Principal {
        let hash = Tokens.hash(token)
        let generation = caches.principals.generation
        if let hit = try cachedPrincipal(hash, now: now) { return hit.principal }
        let found: (Principal, String)? = try await db.read { db in
            guard
                let row = try AccountRepository.sessionUser(db, tokenHash: hash),
                Tokens.constantTimeEquals(row.tokenHash, hash),
                let exp = row.expiresAt, exp > now,
                let role = Role(rawValue: row.role)
            else { return nil }
            let uid = row.userId
            let principal = Principal(
                kind: .session, id: uid, orgId: row.orgId, role: role, actor: "user:\(row.username)",
                userId: uid, registryScope: nil)
            return (principal, Timestamp.format(exp))
        }
        guard let (principal, expiresAt) = found else { throw APIError.unauthorized }
        caches.principals.put(
            hash, HotCaches.CachedPrincipal(principal: principal, expiresAt: expiresAt, lastUsedAt: now), ifGeneration: generation)
        return principal
    }
}
