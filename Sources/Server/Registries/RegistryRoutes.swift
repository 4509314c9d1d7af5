import Cron
import Foundation
import GRDB
import Hummingbird
public import Registry
import Logging

/// The stored form of credentials inside the sealed secret.
struct StoredCredentials: Codable {
    var kind: String
    var fields: [String: String]

    init(_ c: RegistryCredentials) {
        kind = c.kind.rawValue
        fields = c.fields
    }

    var credentials: RegistryCredentials? {
        RegistryCredentials.Kind(rawValue: kind).flatMap { RegistryCredentials(kind: $0, fields: fields) }
    }
}

extension AppServices {
    /// Decrypts a registry's credentials (for the crawler; never for an API response).
    public func registryCredentials(_ registryId: String) async throws -> RegistryCredentials? {
        let secrets = self.secrets
        return try await db.read { db in
            guard let data = try secrets.open(owner: RegistryRecord.credentialsOwner(registryId), in: db) else {
                return nil
            }
            return try JSONDecoder().decode(StoredCredentials.self, from: data).credentials
        }
    }
}

struct RegistryRoutes {
    let s: AppServices

    func register(_ api: RouteTable) {
        api.get("/api/registries", list)
        api.post("/api/registries", create)
        api.get("/api/registries/{registryId}", get)
        api.put("/api/registries/{registryId}", update)
        api.delete("/api/registries/{registryId}", delete)
        api.post("/api/registries/{registryId}/webhook-token", rotateWebhookToken)
    }

    static let sortColumns: [String: String] = [
        "name": "name COLLATE NOCASE", "createdAt": "created_at", "updatedAt": "updated_at", "provider": "provider",
        "imageCount": "image_count",
    ]

    @Sendable func list(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await s.authorize(req, .viewer, reach: .registry)
        let page = try PageRequest(req.uri, sortable: Set(Self.sortColumns.keys))
        // The page is a pure function of the registries table and the request: serve it from
        // memory until a commit touches that table.
        let cacheKey = "\(p.orgId)|\(p.registryScope ?? "")|\(req.uri.description)"
        let generation = s.caches.registryPages.generation
        if let bytes = s.caches.registryPages.get(cacheKey) { return Reply.bytes(bytes) }
        var filters = ["org_id = ?"]
        var args: [any DatabaseValueConvertible & Sendable] = [p.orgId]
        if let scope = p.registryScope {
            filters.append("id = ?")
            args.append(scope)
        }
        if let like = page.likePattern {
            filters.append("(name LIKE ? ESCAPE '\\' OR url LIKE ? ESCAPE '\\')")
            args += [like, like]
        }
        if let prov = req.uri.queryParameters["provider"] {
            filters.append("provider = ?")
            args.append(String(prov))
        }
        let order = page.sortField.flatMap { Self.sortColumns[$0] }.map { "\($0) \(page.descending ? "DESC" : "ASC"), id" }
            ?? "created_at, id"
        let whereSQL = filters.joined(separator: " AND ")
        let args_ = args
        let (rows, total) = try await s.db.read { db in
            // Cached statements: preparing (and GRDB's authorizer pass) cost more than the queries.
            let total = try Int.fetchOne(
                db.cachedStatement(sql: "SELECT COUNT(*) FROM registries WHERE \(whereSQL)"), arguments: StatementArguments(args_)) ?? 0
            let rows = try Row.fetchAll(
                db.cachedStatement(sql: "SELECT * FROM registries WHERE \(whereSQL) ORDER BY \(order) LIMIT ? OFFSET ?"),
                arguments: StatementArguments(args_ + [page.limit, page.offset]))
            return (rows.map(RegistryRecord.init(row:)), total)
        }
        let base = s.config.baseURL
        let envelope = ListEnvelope(data: rows.map { RegistryDTO($0, baseURL: base) }, page: page, total: total, uri: req.uri)
        var w = JSONWriter(capacity: 512 + 700 * rows.count)
        w.beginObject()
        w.beginArray("data")
        for dto in envelope.data { dto.write(to: &w) }
        w.endArray()
        envelope.writeLinksAndMeta(to: &w)
        w.endObject()
        s.caches.registryPages.put(cacheKey, w.bytes, ifGeneration: generation)
        return Reply.bytes(w.bytes)
    }

    func load(_ p: Principal, _ ctx: AppRequestContext) async throws -> RegistryRecord {
        guard let id = ctx.parameters.get("registryId") else { throw APIError.notFound("Registry") }
        if !p.reaches(registry: id) { throw APIError.notFound("Registry") }
        guard let r = try await s.db.read({ db in try RegistryRecord.fetch(db, id: id, org: p.orgId) }) else {
            throw APIError.notFound("Registry")
        }
        return r
    }

    @Sendable func get(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await s.authorize(req, .viewer, reach: .registry)
        return try Reply.data(RegistryDTO(try await load(p, ctx), baseURL: s.config.baseURL))
    }

    @Sendable func create(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await s.authorize(req, .admin)
        let input = try RegistryValidation.create(try await req.jsonObject())
        guard let name = input.name, let provider = input.provider else { throw APIError.validation("name", "Required.") }
        if let url = input.url { try await s.checkOutgoingTarget(url, for: .registry) }
        let now = s.now
        let id = IDs.make("reg")
        let webhookToken = Tokens.generate(prefix: Tokens.webhookPrefix)
        let sensorKey = input.scanMethod == .sensor ? Tokens.generate(prefix: Tokens.apiKeyPrefix) : nil
        let creds = input.credentials ?? nil
        let scannersJSON = String(decoding: try JSONEncoder().encode(input.scanners ?? []), as: UTF8.self)
        let secrets = s.secrets
        let record: RegistryRecord = try await s.db.write { db in
            if try Bool.fetchOne(
                db, sql: "SELECT 1 FROM registries WHERE org_id = ? AND name = ?", arguments: [p.orgId, name]) == true
            {
                throw APIError.conflict("A registry named '\(name)' already exists in this organization.")
            }
            let ts = Timestamp.format(now)
            try db.execute(
                sql: """
                    INSERT INTO registries (id, org_id, name, provider, url, scan_method, schedule, scanners,
                        tag_include, tag_exclude, insecure, has_credentials, webhook_token_hash, created_at, updated_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    id, p.orgId, name, provider.rawValue, input.url ?? "", (input.scanMethod ?? .cloud).rawValue,
                    (input.schedule ?? .daily).rawValue, scannersJSON, input.tagInclude ?? nil, input.tagExclude ?? nil,
                    input.insecure ?? false, creds != nil, Tokens.hash(webhookToken), ts, ts,
                ])
            if let creds {
                try secrets.seal(
                    try JSONEncoder().encode(StoredCredentials(creds)), owner: RegistryRecord.credentialsOwner(id), in: db)
            }
            if let sensorKey {
                try AccountRepository.insertKey(
                    db,
                    APIKeyRecord(
                        id: IDs.make("key"), orgId: p.orgId, kind: .sensor, name: "sensor:\(name)", token: sensorKey,
                        role: .viewer, registryId: id, createdBy: p.actor, createdAt: now))
            }
            try AppServices.audit(db, org: p.orgId, actor: p.actor, action: "registry.create", target: id, ip: ctx.remoteIP, now: now)
            guard let r = try RegistryRecord.fetch(db, id: id, org: p.orgId) else { throw APIError.internalError }
            return r
        }
        s.logger.info("registry created", metadata: ["registry": "\(id)", "provider": "\(provider.rawValue)"])
        return try Reply.data(
            RegistryDTO(record, baseURL: s.config.baseURL, sensorApiKey: sensorKey, webhookToken: webhookToken),
            status: .created, headers: [.location: "/api/registries/\(id)"])
    }

    @Sendable func update(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await s.authorize(req, .admin, reach: .registry)
        let existing = try await load(p, ctx)
        let input = try RegistryValidation.update(try await req.jsonObject(), existing: existing)
        if let url = input.url { try await s.checkOutgoingTarget(url, for: .registry) }
        let now = s.now
        let secrets = s.secrets
        let scannersJSON = try input.scanners.map { String(decoding: try JSONEncoder().encode($0), as: UTF8.self) }
        // Stored credentials follow the endpoint they were given for: a new URL (scheme, host,
        // port or path) or switching TLS verification off drops them unless the same request
        // brings new ones, so a stored password can never be steered to another host.
        let endpointChanged = input.url.map { !RegistryValidation.sameEndpoint($0, existing.url) } ?? false
        let insecureOn = input.insecure == true && !existing.insecure
        let dropCredentials = existing.hasCredentials && input.credentials == nil && (endpointChanged || insecureOn)
        let record: RegistryRecord = try await s.db.write { db in
            if let name = input.name, name != existing.name,
               try Bool.fetchOne(
                   db, sql: "SELECT 1 FROM registries WHERE org_id = ? AND name = ? AND id != ?",
                   arguments: [p.orgId, name, existing.id]) == true
            {
                throw APIError.conflict("A registry named '\(name)' already exists in this organization.")
            }
            var sets: [String] = ["updated_at = ?"]
            var args: [any DatabaseValueConvertible & Sendable] = [Timestamp.format(now)]
            func set(_ col: String, _ v: (any DatabaseValueConvertible & Sendable)?) {
                sets.append("\(col) = ?")
                args.append(v ?? DatabaseValue.null)
            }
            if let v = input.name { set("name", v) }
            if let v = input.url { set("url", v) }
            if let v = input.insecure { set("insecure", v) }
            if let v = input.schedule { set("schedule", v.rawValue) }
            if let v = scannersJSON { set("scanners", v) }
            if let v = input.tagInclude { set("tag_include", v) }
            if let v = input.tagExclude { set("tag_exclude", v) }
            if let c = input.credentials {
                set("has_credentials", c != nil)
                if let c {
                    try secrets.seal(try JSONEncoder().encode(StoredCredentials(c)), owner: existing.credentialsOwner, in: db)
                } else {
                    try secrets.delete(owner: existing.credentialsOwner, in: db)
                }
            } else if dropCredentials {
                set("has_credentials", false)
                try secrets.delete(owner: existing.credentialsOwner, in: db)
            }
            args.append(existing.id)
            try db.execute(
                sql: "UPDATE registries SET \(sets.joined(separator: ", ")) WHERE id = ?", arguments: StatementArguments(args))
            try AppServices.audit(
                db, org: p.orgId, actor: p.actor,
                action: input.credentials != nil ? "registry.update.credentials" : "registry.update",
                target: existing.id, ip: ctx.remoteIP, now: now)
            if dropCredentials {
                try AppServices.audit(
                    db, org: p.orgId, actor: p.actor, action: "registry.credentials.dropped", target: existing.id,
                    ip: ctx.remoteIP, now: now)
            }
            guard let r = try RegistryRecord.fetch(db, id: existing.id, org: p.orgId) else { throw APIError.notFound("Registry") }
            return r
        }
        if dropCredentials {
            s.logger.notice(
                "registry credentials dropped: the URL changed or insecure was switched on without new credentials",
                metadata: ["registry": "\(existing.id)"])
        }
        return try Reply.data(RegistryDTO(record, baseURL: s.config.baseURL, credentialsDropped: dropCredentials))
    }

    @Sendable func delete(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await s.authorize(req, .admin, reach: .registry)
        let existing = try await load(p, ctx)
        let now = s.now
        let secrets = s.secrets
        try await s.db.write { db in
            try RegistryDeletion.delete(existing, in: db, now: now, secrets: secrets)
            try AppServices.audit(db, org: p.orgId, actor: p.actor, action: "registry.delete", target: existing.id, ip: ctx.remoteIP, now: now)
        }
        s.logger.info("registry deleted", metadata: ["registry": "\(existing.id)"])
        return try Reply.data(Deleted(id: existing.id))
    }

    @Sendable func rotateWebhookToken(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await s.authorize(req, .admin, reach: .registry)
        let existing = try await load(p, ctx)
        let token = Tokens.generate(prefix: Tokens.webhookPrefix)
        let now = s.now
        try await s.db.write { db in
            try db.execute(
                sql: "UPDATE registries SET webhook_token_hash = ?, updated_at = ? WHERE id = ?",
                arguments: [Tokens.hash(token), Timestamp.format(now), existing.id])
            try AppServices.audit(db, org: p.orgId, actor: p.actor, action: "registry.webhook_token.rotate", target: existing.id, ip: ctx.remoteIP, now: now)
        }
        return try Reply.data([
            "registryId": existing.id, "webhookToken": token,
            "webhookUrl": "\(s.config.baseURL)/api/registries/\(existing.id)/events",
        ])
    }
}

/// What deleting a registry removes: the row (and everything that cascades from it),
/// its secrets (the DEK is shredded), its keys (revoked), and its pending jobs.
enum RegistryDeletion {
    static func delete(_ r: RegistryRecord, in db: Database, now: Date, secrets: SecretStore) throws {
        let ts = Timestamp.format(now)
        try db.execute(sql: "DELETE FROM secrets WHERE owner LIKE ?", arguments: ["registry:\(r.id):%"])
        try db.execute(
            sql: "UPDATE api_keys SET revoked_at = ? WHERE registry_id = ? AND revoked_at IS NULL", arguments: [ts, r.id])
        try db.execute(
            sql: """
                UPDATE jobs SET status = 'cancelled', finished_at = ?, lease_owner = NULL, lease_expires_at = NULL,
                    error = 'registry deleted' WHERE concurrency_key = ? AND status IN ('queued', 'running')
                """,
            arguments: [ts, r.id])
        try db.execute(sql: "DELETE FROM registries WHERE id = ?", arguments: [r.id])
    }
}
