import Cron
import Foundation
import GRDB
import Hummingbird
import Store

/// The accounts' domain operations for the API and the console: API keys, personal access
/// tokens (always the caller's own), members, sign-in and sign-out, the audit log. Each takes
/// the caller's `Principal` and authorizes it as the API always did (admin for keys and
/// members, any signed-in user for their own PATs, admin or auditor for the audit log).
struct AccountService: Sendable {
    let s: AppServices

    // MARK: API keys

    func keys(_ p: Principal, page: PageRequest) async throws -> (keys: [KeyDTO], total: Int) {
        try p.authorize(.admin, operation: "GET /api/api-keys")
        return try await s.db.read { db in
            let found = try AccountRepository.organizationKeys(db, org: p.orgId, limit: page.limit, offset: page.offset)
            return (found.keys.map { KeyDTO($0) }, found.total)
        }
    }

    struct KeyRequest: Sendable {
        var name: String
        var role: Role
        var expiresAt: Date?
        var registryId: String?
    }

    /// A key's or PAT's fields, validated and bounded by its maker's own role, reach and expiry.
    func keyRequest(_ body: ObjectReader, creator: Principal, kind: CredentialBounds.Kind) throws -> KeyRequest {
        var r = body
        let allowRegistry = kind == .apiKey
        r.rejectUnknown(allowed: allowRegistry ? ["name", "role", "expiresAt", "registryId"] : ["name", "role", "expiresAt"])
        let name = r.string("name", required: true, minLength: 1, maxLength: 100)
        let role = r.enumValue("role", Role.self, required: kind == .apiKey)
        let expires = r.date("expiresAt")
        if let expires, expires <= s.now { r.fail("expiresAt", "Must be in the future.") }
        let registryId = allowRegistry ? r.string("registryId", maxLength: 64) : nil
        try r.check()
        let bounded = try CredentialBounds.apply(
            kind: kind, role: role, registryId: registryId, expiresAt: expires, maker: creator)
        return KeyRequest(name: name ?? "", role: bounded.role, expiresAt: bounded.expiresAt, registryId: bounded.registryId)
    }

    /// Checks the caller may create an API key (admin, within the rate limit) before its body is read.
    func mayCreateKey(_ p: Principal) throws {
        try p.authorize(.admin, operation: "POST /api/api-keys")
        try s.keyLimiter.hit("key:\(p.id)", now: s.now)
    }

    /// Creates an API key (after `mayCreateKey`); the answer carries the key, shown once.
    func createKey(_ p: Principal, _ k: KeyRequest, ip: String?) async throws -> KeyDTO {
        let token = Tokens.generate(prefix: Tokens.apiKeyPrefix)
        let now = s.now
        let id = IDs.make("key")
        return try await s.db.write { db in
            if let reg = k.registryId, try RegistryRecord.fetch(db, id: reg, org: p.orgId) == nil {
                throw APIError.validation("registryId", "No such registry in this organization.")
            }
            try AccountRepository.insertKey(
                db,
                APIKeyRecord(
                    id: id, orgId: p.orgId, kind: .api, name: k.name, token: token, role: k.role, registryId: k.registryId,
                    createdBy: p.actor, createdAt: now, expiresAt: k.expiresAt))
            try AppServices.audit(db, org: p.orgId, actor: p.actor, action: "api_key.create", target: id, ip: ip, now: now)
            return try Self.key(db, id, token: token)
        }
    }

    func revokeKey(_ p: Principal, id: String, ip: String?) async throws -> KeyDTO {
        try p.authorize(.admin, operation: "DELETE /api/api-keys/\(id)")
        let now = s.now
        return try await s.db.write { db in
            guard let key = try AccountRepository.organizationKey(db, id: id, org: p.orgId)
            else { throw APIError.notFound("API key") }
            if let role = Role(rawValue: key.role), role > p.role {
                throw APIError.forbidden
            }
            return try Self.revoke(db, id, action: "api_key.revoke", by: p, ip: ip, now: now)
        }
    }

    // MARK: Personal access tokens (always the caller's own)

    func requireUser(_ p: Principal) throws -> String {
        guard let uid = p.userId else {
            throw APIError(.forbidden, code: "FORBIDDEN", message: "Personal access tokens belong to users; sign in as a user.")
        }
        return uid
    }

    func personalTokens(_ p: Principal, page: PageRequest) async throws -> (keys: [KeyDTO], total: Int) {
        try p.authorize(.viewer, operation: "GET /api/personal-access-tokens")
        let uid = try requireUser(p)
        return try await s.db.read { db in
            let found = try AccountRepository.personalTokens(db, userId: uid, limit: page.limit, offset: page.offset)
            return (found.keys.map { KeyDTO($0) }, found.total)
        }
    }

    /// Checks the caller may create a PAT (a user, within the rate limit) before its body is read.
    func mayCreatePersonalToken(_ p: Principal) throws {
        try p.authorize(.viewer, operation: "POST /api/personal-access-tokens")
        let uid = try requireUser(p)
        try s.patLimiter.hit("pat:\(uid)", now: s.now)
    }

    func createPersonalToken(_ p: Principal, _ k: KeyRequest, ip: String?) async throws -> KeyDTO {
        let uid = try requireUser(p)
        let token = Tokens.generate(prefix: Tokens.patPrefix)
        let now = s.now
        let id = IDs.make("pat")
        return try await s.db.write { db in
            try AccountRepository.insertKey(
                db,
                APIKeyRecord(
                    id: id, orgId: p.orgId, kind: .pat, userId: uid, name: k.name, token: token, role: k.role,
                    createdBy: p.actor, createdAt: now, expiresAt: k.expiresAt))
            try AppServices.audit(db, org: p.orgId, actor: p.actor, action: "pat.create", target: id, ip: ip, now: now)
            return try Self.key(db, id, token: token)
        }
    }

    func revokePersonalToken(_ p: Principal, id: String, ip: String?) async throws -> KeyDTO {
        try p.authorize(.viewer, operation: "DELETE /api/personal-access-tokens/\(id)")
        let uid = try requireUser(p)
        let now = s.now
        return try await s.db.write { db in
            guard try AccountRepository.personalTokenExists(db, id: id, userId: uid)
            else { throw APIError.notFound("Personal access token") }
            return try Self.revoke(db, id, action: "pat.revoke", by: p, ip: ip, now: now)
        }
    }

    // MARK: Members

    func members(_ p: Principal, page: PageRequest) async throws -> (members: [MemberDTO], total: Int) {
        try p.authorize(.admin, operation: "GET /api/members")
        return try await s.db.read { db in
            let found = try AccountRepository.users(db, org: p.orgId, limit: page.limit, offset: page.offset)
            return (found.users.map(MemberDTO.init), found.total)
        }
    }

    /// Creates a member from a request body (`username`, `password`, `role`, `name`).
    func createMember(_ p: Principal, _ body: ObjectReader, ip: String?) async throws -> MemberDTO {
        try p.authorize(.admin, operation: "POST /api/members")
        var r = body
        r.rejectUnknown(allowed: ["username", "password", "role", "name"])
        let username = r.string("username", required: true, minLength: 1, maxLength: 64)
        if let u = username, !u.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "._@-".contains($0)) }) {
            r.fail("username", "Use letters, digits and . _ @ - only.")
        }
        let password = r.string("password", required: true, maxLength: 1000)
        if let pw = password, let problem = Passwords.validate(pw) { r.fail("password", problem) }
        let role = r.enumValue("role", Role.self, required: true)
        let name = r.string("name", maxLength: 200)
        try r.check()
        guard let username, let password, let role else { throw APIError.validation(r.issues) }
        if role > p.role { throw APIError.validation("role", "Cannot be above your own role (\(p.role.rawValue)).") }
        let hash = try await Passwords.hash(password, cost: s.config.bcryptCost)
        let now = s.now
        let id = IDs.make("usr")
        return try await s.db.write { db in
            if try AccountRepository.usernameExists(db, username) {
                throw APIError.conflict("A user named '\(username)' already exists.")
            }
            try AccountRepository.insertUser(
                db, UserRecord(id: id, orgId: p.orgId, username: username, name: name, passwordHash: hash, role: role, now: now))
            try AppServices.audit(db, org: p.orgId, actor: p.actor, action: "member.create", target: id, ip: ip, now: now)
            return try Self.member(db, id)
        }
    }

    /// Changes a member's role, name or password (`role`, `name`, `password`).
    func updateMember(_ p: Principal, id: String, _ body: ObjectReader, ip: String?) async throws -> MemberDTO {
        try p.authorize(.admin, operation: "PUT /api/members/\(id)")
        var r = body
        r.rejectUnknown(allowed: ["role", "name", "password"], ignored: ["id", "username", "createdAt", "updatedAt"])
        let role = r.enumValue("role", Role.self)
        let name = r.string("name", maxLength: 200)
        let password = r.string("password", maxLength: 1000)
        if let pw = password, let problem = Passwords.validate(pw) { r.fail("password", problem) }
        try r.check()
        if let role, role > p.role { throw APIError.validation("role", "Cannot be above your own role (\(p.role.rawValue)).") }
        let hash: String? = if let password { try await Passwords.hash(password, cost: s.config.bcryptCost) } else { nil }
        let now = s.now
        return try await s.db.write { db in
            guard let current = try AccountRepository.user(db, id: id, org: p.orgId)
            else { throw APIError.notFound("Member") }
            let currentRole = Role(rawValue: current.role) ?? .viewer
            if currentRole > p.role { throw APIError.forbidden }
            if currentRole == .owner, let role, role != .owner { try Self.ensureAnotherOwner(db, org: p.orgId, except: id) }
            try AccountRepository.updateUser(db, id: id, role: role, name: name, passwordHash: hash, now: now)
            try AppServices.audit(db, org: p.orgId, actor: p.actor, action: "member.update", target: id, ip: ip, now: now)
            return try Self.member(db, id)
        }
    }

    /// Marks a key or PAT revoked (keeping the first revocation time), audits it, returns it.
    static func revoke(_ db: any SQLConnection, _ id: String, action: String, by p: Principal, ip: String?, now: Date) throws -> KeyDTO {
        try AccountRepository.revokeKey(db, id: id, at: now)
        try AppServices.audit(db, org: p.orgId, actor: p.actor, action: action, target: id, ip: ip, now: now)
        return try key(db, id)
    }

    static func key(_ db: any SQLConnection, _ id: String, token: String? = nil) throws -> KeyDTO {
        guard let key = try AccountRepository.key(db, id: id) else { throw APIError.notFound("Key") }
        return KeyDTO(key, key: token)
    }

    static func member(_ db: any SQLConnection, _ id: String) throws -> MemberDTO {
        guard let user = try AccountRepository.user(db, id: id) else { throw APIError.notFound("Member") }
        return MemberDTO(user)
    }

    static func ensureAnotherOwner(_ db: any SQLConnection, org: String, except id: String) throws {
        if try AccountRepository.otherOwnerCount(db, org: org, except: id) == 0 { throw APIError.conflict("The organization must keep at least one owner.") }
    }

    func deleteMember(_ p: Principal, id: String, ip: String?) async throws {
        try p.authorize(.admin, operation: "DELETE /api/members/\(id)")
        let now = s.now
        try await s.db.write { db in
            guard let current = try AccountRepository.user(db, id: id, org: p.orgId)
            else { throw APIError.notFound("Member") }
            let currentRole = Role(rawValue: current.role) ?? .viewer
            if currentRole > p.role { throw APIError.forbidden }
            if currentRole == .owner { try Self.ensureAnotherOwner(db, org: p.orgId, except: id) }
            try AccountRepository.deleteUser(db, id: id)
            try AppServices.audit(db, org: p.orgId, actor: p.actor, action: "member.delete", target: id, ip: ip, now: now)
        }
    }

    // MARK: Sign-in

    struct SignedIn: Sendable {
        var user: MemberDTO
        var token: String
        var expiresAt: Date
    }

    /// Checks a username and password (`username`, `password`) and opens a session. Failures are
    /// rate-limited per (account, client address) and per client address.
    func signIn(_ body: ObjectReader, ip: String?) async throws -> SignedIn {
        var r = body
        r.rejectUnknown(allowed: ["username", "password"])
        let username = r.string("username", required: true, minLength: 1, maxLength: 64)
        let password = r.string("password", required: true, minLength: 1, maxLength: 1000)
        try r.check()
        guard let username, let password else { throw APIError.validation(r.issues) }
        let now = s.now
        // Failures are limited per (account, client address) and per client address, never per
        // account alone: someone else's wrong passwords cannot lock a user out of an address
        // they have not failed from. Each attempt is counted before bcrypt runs (so parallel
        // guesses cannot overtake the count) and given back when the password is right.
        let address = ip ?? "unknown"
        let pair = "\(username.lowercased())\u{0}\(address)"
        try s.signInAddressFailures.hit(address, now: now)
        do {
            try s.signInFailures.hit(pair, now: now)
        } catch {
            s.signInAddressFailures.release(address)
            throw error
        }
        struct UserRow: Sendable { var dto: MemberDTO; var hash: String; var org: String }
        let user: UserRow? = try await s.db.read { db in
            try AccountRepository.user(db, username: username).map {
                UserRow(dto: MemberDTO($0), hash: $0.passwordHash, org: $0.orgId)
            }
        }
        // Spend the same bcrypt work when the user does not exist, so timing does not reveal usernames.
        let ok: Bool
        if let hash = user?.hash {
            ok = try await Passwords.verify(password, hash: hash)
        } else {
            _ = try await Passwords.hash(password, cost: s.config.bcryptCost)
            ok = false
        }
        guard ok, let user else {
            if let user {
                let org = user.org
                try? await s.db.write { db in
                    try AppServices.audit(db, org: org, actor: "user:\(username)", action: "auth.sign_in.failed", target: nil, ip: ip, now: now)
                }
            }
            throw APIError(.unauthorized, code: "UNAUTHORIZED", message: "Wrong username or password.")
        }
        s.signInFailures.reset(pair)
        s.signInAddressFailures.release(address)
        let token = Tokens.generate(prefix: Tokens.sessionPrefix)
        let expires = now.addingTimeInterval(s.config.sessionLifetime)
        let uid = user.dto.id
        let org = user.org
        try await s.db.write { db in
            try AccountRepository.insertSession(
                db, SessionRecord(tokenHash: Tokens.hash(token), userId: uid, createdAt: now, expiresAt: expires), now: now)
            try AppServices.audit(db, org: org, actor: "user:\(username)", action: "auth.sign_in", target: uid, ip: ip, now: now)
        }
        return SignedIn(user: user.dto, token: token, expiresAt: expires)
    }

    /// Ends the caller's session (`token`, the session cookie's value); other credentials keep working.
    func signOut(_ p: Principal, sessionToken token: String?, ip: String?) async throws {
        try p.authorize(.viewer, reach: .registry, operation: "POST /api/auth/sign-out")
        if p.kind == .session, let token {
            let now = s.now
            try await s.db.write { db in
                try AccountRepository.deleteSession(db, tokenHash: Tokens.hash(token))
                try AppServices.audit(db, org: p.orgId, actor: p.actor, action: "auth.sign_out", target: p.id, ip: ip, now: now)
            }
        }
    }

    // MARK: Audit log

    func auditLog(_ p: Principal, page: PageRequest) async throws -> (events: [AuditEventDTO], total: Int) {
        try p.authorize(.admin, alsoAllowed: [.auditor], operation: "GET /api/audit-log")
        return try await s.db.read { db in
            let found = try AuditRepository.entries(db, org: p.orgId, limit: page.limit, offset: page.offset)
            return (found.entries.map {
                AuditEventDTO(id: "aud_\($0.seq ?? 0)", actor: $0.actor, action: $0.action, target: $0.target,
                      ip: $0.ip, createdAt: Timestamp.format($0.createdAt))
            }, found.total)
        }
    }
}
