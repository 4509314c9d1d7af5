import Cron
import Foundation
import GRDB
import Hummingbird

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

    init(row: Row, key: String? = nil) {
        id = row["id"]
        name = row["name"]
        kind = row["kind"]
        let storedRole: String = row["role"]
        // An uncapped PAT shows no role: it acts with its user's current role.
        role = kind == "pat" && storedRole == Role.owner.rawValue ? nil : storedRole
        prefix = row["token_prefix"]
        registryId = row["registry_id"]
        createdBy = row["created_by"]
        createdAt = row["created_at"]
        expiresAt = row["expires_at"]
        lastUsedAt = row["last_used_at"]
        revokedAt = row["revoked_at"]
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

    init(row: Row) {
        id = row["id"]
        username = row["username"]
        name = row["name"]
        role = row["role"]
        createdAt = row["created_at"]
        updatedAt = row["updated_at"]
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
            try Row.fetchOne(
                db,
                sql: """
                    SELECT o.id, o.name, o.created_at,
                      (SELECT COUNT(*) FROM registries r WHERE r.org_id = o.id) AS registries,
                      (SELECT COUNT(*) FROM users u WHERE u.org_id = o.id) AS members
                    FROM organizations o WHERE o.id = ?
                    """,
                arguments: [p.orgId]
            ).map { row in
                Org(id: row["id"], name: row["name"], createdAt: row["created_at"], registryCount: row["registries"],
                    memberCount: row["members"], role: role)
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
            let total = try Int.fetchOne(
                db, sql: "SELECT COUNT(*) FROM api_keys WHERE org_id = ? AND kind IN ('api','sensor')",
                arguments: [p.orgId]) ?? 0
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT * FROM api_keys WHERE org_id = ? AND kind IN ('api','sensor')
                    ORDER BY created_at, id LIMIT ? OFFSET ?
                    """,
                arguments: [p.orgId, page.limit, page.offset])
            return (rows.map { KeyDTO(row: $0) }, total)
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
            try db.execute(
                sql: """
                    INSERT INTO api_keys (id, org_id, kind, name, token_hash, token_prefix, role, registry_id,
                        created_by, created_at, expires_at)
                    VALUES (?, ?, 'api', ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    id, p.orgId, k.name, Tokens.hash(token), Tokens.displayPrefix(token), k.role.rawValue, k.registryId,
                    p.actor, Timestamp.format(now), k.expiresAt.map(Timestamp.format),
                ])
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
            guard
                let row = try Row.fetchOne(
                    db, sql: "SELECT * FROM api_keys WHERE id = ? AND org_id = ? AND kind IN ('api','sensor')",
                    arguments: [id, p.orgId])
            else { throw APIError.notFound("API key") }
            if let roleRaw = row["role"] as String?, let role = Role(rawValue: roleRaw), role > p.role {
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
            let total = try Int.fetchOne(
                db, sql: "SELECT COUNT(*) FROM api_keys WHERE kind = 'pat' AND user_id = ?", arguments: [uid]) ?? 0
            let rows = try Row.fetchAll(
                db, sql: "SELECT * FROM api_keys WHERE kind = 'pat' AND user_id = ? ORDER BY created_at, id LIMIT ? OFFSET ?",
                arguments: [uid, page.limit, page.offset])
            return (rows.map { KeyDTO(row: $0) }, total)
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
            try db.execute(
                sql: """
                    INSERT INTO api_keys (id, org_id, kind, user_id, name, token_hash, token_prefix, role, created_by,
                        created_at, expires_at)
                    VALUES (?, ?, 'pat', ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    id, p.orgId, uid, k.name, Tokens.hash(token), Tokens.displayPrefix(token), k.role.rawValue, p.actor,
                    Timestamp.format(now), k.expiresAt.map(Timestamp.format),
                ])
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
            guard
                try Row.fetchOne(
                    db, sql: "SELECT id FROM api_keys WHERE id = ? AND kind = 'pat' AND user_id = ?", arguments: [id, uid])
                    != nil
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
            let total = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM users WHERE org_id = ?", arguments: [p.orgId]) ?? 0
            let rows = try Row.fetchAll(
                db, sql: "SELECT * FROM users WHERE org_id = ? ORDER BY created_at, id LIMIT ? OFFSET ?",
                arguments: [p.orgId, page.limit, page.offset])
            return (rows.map(MemberDTO.init(row:)), total)
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
            if try Bool.fetchOne(db, sql: "SELECT 1 FROM users WHERE username = ?", arguments: [username]) == true {
                throw APIError.conflict("A user named '\(username)' already exists.")
            }
            let ts = Timestamp.format(now)
            try db.execute(
                sql: """
                    INSERT INTO users (id, org_id, username, name, password_hash, role, created_at, updated_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [id, p.orgId, username, name, hash, role.rawValue, ts, ts])
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
            guard let current = try Row.fetchOne(db, sql: "SELECT * FROM users WHERE id = ? AND org_id = ?", arguments: [id, p.orgId])
            else { throw APIError.notFound("Member") }
            let currentRole = Role(rawValue: current["role"]) ?? .viewer
            if currentRole > p.role { throw APIError.forbidden }
            if currentRole == .owner, let role, role != .owner { try Self.ensureAnotherOwner(db, org: p.orgId, except: id) }
            let ts = Timestamp.format(now)
            if let role { try db.execute(sql: "UPDATE users SET role = ?, updated_at = ? WHERE id = ?", arguments: [role.rawValue, ts, id]) }
            if let name { try db.execute(sql: "UPDATE users SET name = ?, updated_at = ? WHERE id = ?", arguments: [name, ts, id]) }
            if let hash {
                try db.execute(sql: "UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ?", arguments: [hash, ts, id])
                try db.execute(sql: "DELETE FROM sessions WHERE user_id = ?", arguments: [id])
            }
            try AppServices.audit(db, org: p.orgId, actor: p.actor, action: "member.update", target: id, ip: ctx.remoteIP, now: now)
            return try Self.member(db, id)
        }
        return try Reply.data(dto)
    }

    /// Marks a key or PAT revoked (keeping the first revocation time), audits it, returns it.
    static func revoke(_ db: Database, _ id: String, action: String, by p: Principal, ip: String?, now: Date) throws -> KeyDTO {
        try db.execute(
            sql: "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?",
            arguments: [Timestamp.format(now), id])
        try AppServices.audit(db, org: p.orgId, actor: p.actor, action: action, target: id, ip: ip, now: now)
        return try key(db, id)
    }

    static func key(_ db: Database, _ id: String, token: String? = nil) throws -> KeyDTO {
        guard let row = try Row.fetchOne(db, sql: "SELECT * FROM api_keys WHERE id = ?", arguments: [id]) else {
            throw APIError.notFound("Key")
        }
        return KeyDTO(row: row, key: token)
    }

    static func member(_ db: Database, _ id: String) throws -> MemberDTO {
        guard let row = try Row.fetchOne(db, sql: "SELECT * FROM users WHERE id = ?", arguments: [id]) else {
            throw APIError.notFound("Member")
        }
        return MemberDTO(row: row)
    }

    static func ensureAnotherOwner(_ db: Database, org: String, except id: String) throws {
        let owners = try Int.fetchOne(
            db, sql: "SELECT COUNT(*) FROM users WHERE org_id = ? AND role = 'owner' AND id != ?", arguments: [org, id]) ?? 0
        if owners == 0 { throw APIError.conflict("The organization must keep at least one owner.") }
    }

    @Sendable func deleteMember(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await s.authorize(req, .admin)
        let id = ctx.parameters.get("memberId") ?? ""
        let now = s.now
        try await s.db.write { db in
            guard let current = try Row.fetchOne(db, sql: "SELECT * FROM users WHERE id = ? AND org_id = ?", arguments: [id, p.orgId])
            else { throw APIError.notFound("Member") }
            let currentRole = Role(rawValue: current["role"]) ?? .viewer
            if currentRole > p.role { throw APIError.forbidden }
            if currentRole == .owner { try Self.ensureAnotherOwner(db, org: p.orgId, except: id) }
            try db.execute(sql: "DELETE FROM users WHERE id = ?", arguments: [id])
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
            try Row.fetchOne(db, sql: "SELECT * FROM users WHERE username = ?", arguments: [username]).map {
                UserRow(dto: MemberDTO(row: $0), hash: $0["password_hash"], org: $0["org_id"])
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
            try db.execute(sql: "DELETE FROM sessions WHERE expires_at <= ?", arguments: [Timestamp.format(now)])
            try db.execute(
                sql: "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
                arguments: [Tokens.hash(token), uid, Timestamp.format(now), Timestamp.format(expires)])
            try AppServices.audit(db, org: org, actor: "user:\(username)", action: "auth.sign_in", target: uid, ip: ctx.remoteIP, now: now)
        }
        var cookie = "\(s.sessionCookieName)=\(token); Path=/; HttpOnly; SameSite=Lax; Max-Age=\(Int(s.config.sessionLifetime))"
        if s.config.tls { cookie += "; Secure" }
        struct SignedIn: Encodable { var user: MemberDTO; var expiresAt: String }
        return try Reply.data(
            SignedIn(user: user.dto, expiresAt: Timestamp.format(expires)), headers: [.setCookie: cookie])
    }

    @Sendable func signOut(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await s.authorize(req, .viewer, reach: .registry)
        if p.kind == .session, let token = req.cookies[s.sessionCookieName]?.value {
            let now = s.now
            try await s.db.write { db in
                try db.execute(sql: "DELETE FROM sessions WHERE token_hash = ?", arguments: [Tokens.hash(token)])
                try AppServices.audit(db, org: p.orgId, actor: p.actor, action: "auth.sign_out", target: p.id, ip: ctx.remoteIP, now: now)
            }
        }
        var cookie = "\(s.sessionCookieName)=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"
        if s.config.tls { cookie += "; Secure" }
        return try Reply.data(["signedOut": true], headers: [.setCookie: cookie])
    }

    // MARK: Jobs and audit

    @Sendable func job(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await s.authorize(req, .viewer, reach: .registry)
        let id = ctx.parameters.get("jobId") ?? ""
        guard let job = try await s.jobs.get(id), job.orgId == p.orgId else { throw APIError.notFound("Job") }
        if p.registryScope != nil, !p.reaches(registry: job.concurrencyKey ?? "") { throw APIError.notFound("Job") }
        return try Reply.data(JobDTO(job))
    }

    @Sendable func auditLog(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await s.authorize(req, .admin, alsoAllowed: [.auditor])
        let page = try PageRequest(req.uri, sortable: [])
        let (rows, total) = try await s.db.read { db in
            let total = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM audit_log WHERE org_id = ?", arguments: [p.orgId]) ?? 0
            let rows = try Row.fetchAll(
                db, sql: "SELECT * FROM audit_log WHERE org_id = ? ORDER BY seq DESC LIMIT ? OFFSET ?",
                arguments: [p.orgId, page.limit, page.offset])
            return (rows.map {
                AuditEventDTO(id: "aud_\($0["seq"] as Int64)", actor: $0["actor"], action: $0["action"], target: $0["target"],
                      ip: $0["ip"], createdAt: $0["created_at"])
            }, total)
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
