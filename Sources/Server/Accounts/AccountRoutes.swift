import Cron
import Foundation
import GRDB
import Hummingbird
import Store

struct KeyDTO: Encodable {
    var id: String
    var name: String
    var kind: String
    var role: String?
    var prefix: String
    var registryId: String?
    var createdBy: String?
    var createdAt: String
    var expiresAt: String?
    var lastUsedAt: String?
    var revokedAt: String?
    var key: String?

    init(_ k: APIKeyRecord, key: String? = nil) {
        id = k.id
        name = k.name
        kind = k.kind.rawValue
        // An uncapped PAT shows no role: it acts with its user's current role.
        role = k.kind == .pat && k.role == Role.owner.rawValue ? nil : k.role
        prefix = k.tokenPrefix
        registryId = k.registryId
        createdBy = k.createdBy
        createdAt = Timestamp.format(k.createdAt)
        expiresAt = k.expiresAt.map(Timestamp.format)
        lastUsedAt = k.lastUsedAt.map(Timestamp.format)
        revokedAt = k.revokedAt.map(Timestamp.format)
        self.key = key
    }

    enum CodingKeys: String, CodingKey {
        case id, name, kind, role, prefix, registryId, createdBy, createdAt, expiresAt, lastUsedAt, revokedAt, key
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(name, forKey: .name)
        try c.encode(kind, forKey: .kind)
        try c.encode(role, forKey: .role)
        try c.encode(prefix, forKey: .prefix)
        try c.encode(registryId, forKey: .registryId)
        try c.encode(createdBy, forKey: .createdBy)
        try c.encode(createdAt, forKey: .createdAt)
        try c.encode(expiresAt, forKey: .expiresAt)
        try c.encode(lastUsedAt, forKey: .lastUsedAt)
        try c.encode(revokedAt, forKey: .revokedAt)
        try c.encodeIfPresent(key, forKey: .key)
    }
}

struct MemberDTO: Encodable {
    var id: String
    var username: String
    var name: String?
    var role: String
    var createdAt: String
    var updatedAt: String

    init(_ u: UserRecord) {
        id = u.id
        username = u.username
        name = u.name
        role = u.role
        createdAt = Timestamp.format(u.createdAt)
        updatedAt = Timestamp.format(u.updatedAt)
    }
}

/// Keys, PATs, members, sign-in, organization, jobs and the audit log.
struct AccountRoutes {
    let s: AppServices

    func register(_ api: RouteTable) {
        api.get("/api/organization", organization)
        api.get("/api/api-keys", listKeys)
        api.post("/api/api-keys", createKey)
        api.delete("/api/api-keys/{keyId}", revokeKey)
        api.get("/api/personal-access-tokens", listPATs)
        api.post("/api/personal-access-tokens", createPAT)
        api.delete("/api/personal-access-tokens/{tokenId}", revokePAT)
        api.get("/api/members", listMembers)
        api.post("/api/members", createMember)
        api.put("/api/members/{memberId}", updateMember)
        api.delete("/api/members/{memberId}", deleteMember)
        api.post("/api/auth/sign-in", signIn)
        api.post("/api/auth/sign-out", signOut)
        api.get("/api/jobs/{jobId}", job)
        api.get("/api/audit-log", auditLog)
    }

    @Sendable func organization(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await s.authorize(req, .viewer)
        struct Org: Encodable, Sendable {
            var id: String, name: String, createdAt: String, registryCount: Int, memberCount: Int, role: String
        }
        let role = p.role.rawValue
        let org: Org? = try await s.db.read { db in
            try AccountRepository.organizationSummary(db, id: p.orgId).map { o in
                Org(id: o.id, name: o.name, createdAt: o.createdAt, registryCount: o.registryCount,
                    memberCount: o.memberCount, role: role)
            }
        }
        guard let org else { throw APIError.notFound("Organization") }
        return try Reply.data(org)
    }

    // MARK: API keys

    @Sendable func listKeys(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await s.authorize(req, .admin)
        let page = try PageRequest(req.uri, sortable: [])
        let (rows, total) = try await s.db.read { db in
            let found = try AccountRepository.organizationKeys(db, org: p.orgId, limit: page.limit, offset: page.offset)
            return (found.keys.map { KeyDTO($0) }, found.total)
        }
        return try Reply.json(ListEnvelope(data: rows, page: page, total: total, uri: req.uri))
    }

    struct KeyRequest {
        var name: String
        var role: Role
        var expiresAt: Date?
        var registryId: String?
    }

    func parseKeyRequest(_ req: Request, creator: Principal, kind: CredentialBounds.Kind) async throws -> KeyRequest {
        var r = try await req.jsonObject()
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

    @Sendable func createKey(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await s.authorize(req, .admin)
        try s.keyLimiter.hit("key:\(p.id)", now: s.now)
        let k = try await parseKeyRequest(req, creator: p, kind: .apiKey)
        let token = Tokens.generate(prefix: Tokens.apiKeyPrefix)
        let now = s.now
        let id = IDs.make("key")
        let dto: KeyDTO = try await s.db.write { db in
            if let reg = k.registryId, try RegistryRecord.fetch(db, id: reg, org: p.orgId) == nil {
                throw APIError.validation("registryId", "No such registry in this organization.")
            }
            try AccountRepository.insertKey(
                db,
                APIKeyRecord(
                    id: id, orgId: p.orgId, kind: .api, name: k.name, token: token, role: k.role, registryId: k.registryId,
                    createdBy: p.actor, createdAt: now, expiresAt: k.expiresAt))
            try AppServices.audit(db, org: p.orgId, actor: p.actor, action: "api_key.create", target: id, ip: ctx.remoteIP, now: now)
            return try Self.key(db, id, token: token)
        }
        return try Reply.data(dto, status: .created, headers: [.location: "/api/api-keys/\(id)"])
    }

    @Sendable func revokeKey(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await s.authorize(req, .admin)
        let id = ctx.parameters.get("keyId") ?? ""
        let now = s.now
        let dto: KeyDTO = try await s.db.write { db in
            guard let key = try AccountRepository.organizationKey(db, id: id, org: p.orgId)
            else { throw APIError.notFound("API key") }
            if let role = Role(rawValue: key.role), role > p.role {
                throw APIError.forbidden
            }
            return try Self.revoke(db, id, action: "api_key.revoke", by: p, ip: ctx.remoteIP, now: now)
        }
        return try Reply.data(dto)
    }

    // MARK: Personal access tokens (always the caller's own)

    func requireUser(_ p: Principal) throws -> String {
        guard let uid = p.userId else {
            throw APIError(.forbidden, code: "FORBIDDEN", message: "Personal access tokens belong to users; sign in as a user.")
        }
        return uid
    }

    @Sendable func listPATs(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await s.authorize(req, .viewer)
        let uid = try requireUser(p)
        let page = try PageRequest(req.uri, sortable: [])
        let (rows, total) = try await s.db.read { db in
            let found = try AccountRepository.personalTokens(db, userId: uid, limit: page.limit, offset: page.offset)
            return (found.keys.map { KeyDTO($0) }, found.total)
        }
        return try Reply.json(ListEnvelope(data: rows, page: page, total: total, uri: req.uri))
    }

    @Sendable func createPAT(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await s.authorize(req, .viewer)
        let uid = try requireUser(p)
        try s.patLimiter.hit("pat:\(uid)", now: s.now)
        let k = try await parseKeyRequest(req, creator: p, kind: .pat)
        let token = Tokens.generate(prefix: Tokens.patPrefix)
        let now = s.now
        let id = IDs.make("pat")
        let dto: KeyDTO = try await s.db.write { db in
            try AccountRepository.insertKey(
                db,
                APIKeyRecord(
                    id: id, orgId: p.orgId, kind: .pat, userId: uid, name: k.name, token: token, role: k.role,
                    createdBy: p.actor, createdAt: now, expiresAt: k.expiresAt))
            try AppServices.audit(db, org: p.orgId, actor: p.actor, action: "pat.create", target: id, ip: ctx.remoteIP, now: now)
            return try Self.key(db, id, token: token)
        }
        return try Reply.data(
            dto, status: .created, headers: [.location: "/api/personal-access-tokens/\(id)"])
    }

    @Sendable func revokePAT(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await s.authorize(req, .viewer)
        let uid = try requireUser(p)
        let id = ctx.parameters.get("tokenId") ?? ""
        let now = s.now
        let dto: KeyDTO = try await s.db.write { db in
            guard try AccountRepository.personalTokenExists(db, id: id, userId: uid)
            else { throw APIError.notFound("Personal access token") }
            return try Self.revoke(db, id, action: "pat.revoke", by: p, ip: ctx.remoteIP, now: now)
        }
        return try Reply.data(dto)
    }

    // MARK: Members

    @Sendable func listMembers(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await s.authorize(req, .admin)
        let page = try PageRequest(req.uri, sortable: [])
        let (rows, total) = try await s.db.read { db in
            let found = try AccountRepository.users(db, org: p.orgId, limit: page.limit, offset: page.offset)
            return (found.users.map(MemberDTO.init), found.total)
        }
        return try Reply.json(ListEnvelope(data: rows, page: page, total: total, uri: req.uri))
    }

    @Sendable func createMember(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await s.authorize(req, .admin)
        var r = try await req.jsonObject()
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
        let dto: MemberDTO = try await s.db.write { db in
            if try AccountRepository.usernameExists(db, username) {
                throw APIError.conflict("A user named '\(username)' already exists.")
            }
            try AccountRepository.insertUser(
                db, UserRecord(id: id, orgId: p.orgId, username: username, name: name, passwordHash: hash, role: role, now: now))
            try AppServices.audit(db, org: p.orgId, actor: p.actor, action: "member.create", target: id, ip: ctx.remoteIP, now: now)
            return try Self.member(db, id)
        }
        return try Reply.data(dto, status: .created, headers: [.location: "/api/members/\(id)"])
    }

    @Sendable func updateMember(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await s.authorize(req, .admin)
        let id = ctx.parameters.get("memberId") ?? ""
        var r = try await req.jsonObject()
        r.rejectUnknown(allowed: ["role", "name", "password"], ignored: ["id", "username", "createdAt", "updatedAt"])
        let role = r.enumValue("role", Role.self)
        let name = r.string("name", maxLength: 200)
        let password = r.string("password", maxLength: 1000)
        if let pw = password, let problem = Passwords.validate(pw) { r.fail("password", problem) }
        try r.check()
        if let role, role > p.role { throw APIError.validation("role", "Cannot be above your own role (\(p.role.rawValue)).") }
        let hash: String? = if let password { try await Passwords.hash(password, cost: s.config.bcryptCost) } else { nil }
        let now = s.now
        let dto: MemberDTO = try await s.db.write { db in
            guard let current = try AccountRepository.user(db, id: id, org: p.orgId)
            else { throw APIError.notFound("Member") }
            let currentRole = Role(rawValue: current.role) ?? .viewer
            if currentRole > p.role { throw APIError.forbidden }
            if currentRole == .owner, let role, role != .owner { try Self.ensureAnotherOwner(db, org: p.orgId, except: id) }
            try AccountRepository.updateUser(db, id: id, role: role, name: name, passwordHash: hash, now: now)
            try AppServices.audit(db, org: p.orgId, actor: p.actor, action: "member.update", target: id, ip: ctx.remoteIP, now: now)
            return try Self.member(db, id)
        }
        return try Reply.data(dto)
    }

    /// Marks a key or PAT revoked (keeping the first revocation time), audits it, returns it.
    static func revoke(_ db: Database, _ id: String, action: String, by p: Principal, ip: String?, now: Date) throws -> KeyDTO {
        try AccountRepository.revokeKey(db, id: id, at: now)
        try AppServices.audit(db, org: p.orgId, actor: p.actor, action: action, target: id, ip: ip, now: now)
        return try key(db, id)
    }

    static func key(_ db: Database, _ id: String, token: String? = nil) throws -> KeyDTO {
        guard let key = try AccountRepository.key(db, id: id) else { throw APIError.notFound("Key") }
        return KeyDTO(key, key: token)
    }

    static func member(_ db: Database, _ id: String) throws -> MemberDTO {
        guard let user = try AccountRepository.user(db, id: id) else { throw APIError.notFound("Member") }
        return MemberDTO(user)
    }

    static func ensureAnotherOwner(_ db: Database, org: String, except id: String) throws {
        if try AccountRepository.otherOwnerCount(db, org: org, except: id) == 0 { throw APIError.conflict("The organization must keep at least one owner.") }
    }

    @Sendable func deleteMember(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await s.authorize(req, .admin)
        let id = ctx.parameters.get("memberId") ?? ""
        let now = s.now
        try await s.db.write { db in
            guard let current = try AccountRepository.user(db, id: id, org: p.orgId)
            else { throw APIError.notFound("Member") }
            let currentRole = Role(rawValue: current.role) ?? .viewer
            if currentRole > p.role { throw APIError.forbidden }
            if currentRole == .owner { try Self.ensureAnotherOwner(db, org: p.orgId, except: id) }
            try AccountRepository.deleteUser(db, id: id)
            try AppServices.audit(db, org: p.orgId, actor: p.actor, action: "member.delete", target: id, ip: ctx.remoteIP, now: now)
        }
        return try Reply.data(Deleted(id: id))
    }

    // MARK: Sign-in

    @Sendable func signIn(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        var r = try await req.jsonObject()
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
        let address = ctx.remoteIP ?? "unknown"
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
                    try AppServices.audit(db, org: org, actor: "user:\(username)", action: "auth.sign_in.failed", target: nil, ip: ctx.remoteIP, now: now)
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
            try AppServices.audit(db, org: org, actor: "user:\(username)", action: "auth.sign_in", target: uid, ip: ctx.remoteIP, now: now)
        }
        let cookie = s.sessionCookie(token: token).description
        struct SignedIn: Encodable { var user: MemberDTO; var expiresAt: String }
        return try Reply.data(
            SignedIn(user: user.dto, expiresAt: Timestamp.format(expires)), headers: [.setCookie: cookie])
    }

    @Sendable func signOut(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await s.authorize(req, .viewer, reach: .registry)
        if p.kind == .session, let token = req.cookies[s.sessionCookieName]?.value {
            let now = s.now
            try await s.db.write { db in
                try AccountRepository.deleteSession(db, tokenHash: Tokens.hash(token))
                try AppServices.audit(db, org: p.orgId, actor: p.actor, action: "auth.sign_out", target: p.id, ip: ctx.remoteIP, now: now)
            }
        }
        let cookie = s.clearedSessionCookie.description
        return try Reply.data(["signedOut": true], headers: [.setCookie: cookie])
    }

    // MARK: Jobs and audit

    @Sendable func job(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await s.authorize(req, .viewer, reach: .registry)
        let id = ctx.parameters.get("jobId") ?? ""
        guard let job = try await s.jobs.get(id), job.orgId == p.orgId else { throw APIError.notFound("Job") }
        if !p.reaches(registry: job.concurrencyKey ?? "") { throw APIError.notFound("Job") }
        return try Reply.data(JobDTO(job))
    }

    @Sendable func auditLog(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await s.authorize(req, .admin, alsoAllowed: [.auditor])
        let page = try PageRequest(req.uri, sortable: [])
        let (rows, total) = try await s.db.read { db in
            let found = try AuditRepository.entries(db, org: p.orgId, limit: page.limit, offset: page.offset)
            return (found.entries.map {
                AuditEventDTO(id: "aud_\($0.seq ?? 0)", actor: $0.actor, action: $0.action, target: $0.target,
                      ip: $0.ip, createdAt: Timestamp.format($0.createdAt))
            }, found.total)
        }
        return try Reply.json(ListEnvelope(data: rows, page: page, total: total, uri: req.uri))
    }
}

struct AuditEventDTO: Encodable {
            var id: String, actor: String, action: String, target: String?, ip: String?, createdAt: String
            func encode(to encoder: any Encoder) throws {
                var c = encoder.container(keyedBy: CodingKeys.self)
                try c.encode(id, forKey: .id); try c.encode(actor, forKey: .actor); try c.encode(action, forKey: .action)
                try c.encode(target, forKey: .target); try c.encode(ip, forKey: .ip); try c.encode(createdAt, forKey: .createdAt)
            }
            enum CodingKeys: String, CodingKey { case id, actor, action, target, ip, createdAt }
}

struct JobDTO: Encodable {
    var id: String
    var type: String
    var status: String
    var progress: [String: Int]
    var attempts: Int
    var error: String?
    var createdAt: Date
    var startedAt: Date?
    var finishedAt: Date?
    var registryId: String?

    init(_ j: Job) {
        id = j.id
        type = j.type
        status = j.status.rawValue
        progress = ["done": j.progressDone, "total": j.progressTotal]
        attempts = j.attempts
        error = j.error
        createdAt = j.createdAt
        startedAt = j.startedAt
        finishedAt = j.finishedAt
        registryId = j.concurrencyKey
    }

    enum CodingKeys: String, CodingKey { case id, type, status, progress, attempts, error, createdAt, startedAt, finishedAt, registryId }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id); try c.encode(type, forKey: .type); try c.encode(status, forKey: .status)
        try c.encode(progress, forKey: .progress); try c.encode(attempts, forKey: .attempts)
        try c.encode(error, forKey: .error); try c.encode(createdAt, forKey: .createdAt)
        try c.encode(startedAt, forKey: .startedAt); try c.encode(finishedAt, forKey: .finishedAt)
        try c.encode(registryId, forKey: .registryId)
    }
}
