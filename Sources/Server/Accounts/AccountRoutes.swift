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

    var accounts: AccountService { AccountService(s: s) }

    // MARK: API keys

    @Sendable func listKeys(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await s.authorize(req, .admin)
        let page = try PageRequest(req.uri, sortable: [])
        let (rows, total) = try await accounts.keys(p, page: page)
        return try Reply.json(ListEnvelope(data: rows, page: page, total: total, uri: req.uri))
    }

    @Sendable func createKey(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await s.authenticate(req)
        try accounts.mayCreateKey(p)
        let k = try accounts.keyRequest(try await req.jsonObject(), creator: p, kind: .apiKey)
        let dto = try await accounts.createKey(p, k, ip: ctx.remoteIP)
        return try Reply.data(dto, status: .created, headers: [.location: "/api/api-keys/\(dto.id)"])
    }

    @Sendable func revokeKey(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await s.authorize(req, .admin)
        return try Reply.data(try await accounts.revokeKey(p, id: ctx.parameters.get("keyId") ?? "", ip: ctx.remoteIP))
    }

    // MARK: Personal access tokens (always the caller's own)

    @Sendable func listPATs(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await s.authorize(req, .viewer)
        _ = try accounts.requireUser(p)
        let page = try PageRequest(req.uri, sortable: [])
        let (rows, total) = try await accounts.personalTokens(p, page: page)
        return try Reply.json(ListEnvelope(data: rows, page: page, total: total, uri: req.uri))
    }

    @Sendable func createPAT(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await s.authenticate(req)
        try accounts.mayCreatePersonalToken(p)
        let k = try accounts.keyRequest(try await req.jsonObject(), creator: p, kind: .pat)
        let dto = try await accounts.createPersonalToken(p, k, ip: ctx.remoteIP)
        return try Reply.data(dto, status: .created, headers: [.location: "/api/personal-access-tokens/\(dto.id)"])
    }

    @Sendable func revokePAT(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await s.authorize(req, .viewer)
        return try Reply.data(try await accounts.revokePersonalToken(p, id: ctx.parameters.get("tokenId") ?? "", ip: ctx.remoteIP))
    }

    // MARK: Members

    @Sendable func listMembers(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await s.authorize(req, .admin)
        let page = try PageRequest(req.uri, sortable: [])
        let (rows, total) = try await accounts.members(p, page: page)
        return try Reply.json(ListEnvelope(data: rows, page: page, total: total, uri: req.uri))
    }

    @Sendable func createMember(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await s.authorize(req, .admin)
        let dto = try await accounts.createMember(p, try await req.jsonObject(), ip: ctx.remoteIP)
        return try Reply.data(dto, status: .created, headers: [.location: "/api/members/\(dto.id)"])
    }

    @Sendable func updateMember(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await s.authorize(req, .admin)
        let id = ctx.parameters.get("memberId") ?? ""
        return try Reply.data(try await accounts.updateMember(p, id: id, try await req.jsonObject(), ip: ctx.remoteIP))
    }

    @Sendable func deleteMember(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await s.authorize(req, .admin)
        let id = ctx.parameters.get("memberId") ?? ""
        try await accounts.deleteMember(p, id: id, ip: ctx.remoteIP)
        return try Reply.data(Deleted(id: id))
    }

    // MARK: Sign-in

    @Sendable func signIn(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let signed = try await accounts.signIn(try await req.jsonObject(), ip: ctx.remoteIP)
        let cookie = s.sessionCookie(token: signed.token).description
        struct SignedIn: Encodable { var user: MemberDTO; var expiresAt: String }
        return try Reply.data(
            SignedIn(user: signed.user, expiresAt: Timestamp.format(signed.expiresAt)), headers: [.setCookie: cookie])
    }

    @Sendable func signOut(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await s.authorize(req, .viewer, reach: .registry)
        try await accounts.signOut(p, sessionToken: req.cookies[s.sessionCookieName]?.value, ip: ctx.remoteIP)
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
        let (rows, total) = try await accounts.auditLog(p, page: page)
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
