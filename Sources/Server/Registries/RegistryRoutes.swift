import Cron
import Foundation
import GRDB
import Hummingbird
public import Registry
import Logging
import Store

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
    let crawler: Crawler

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
        let query = RegistryRepository.ListQuery(
            org: p.orgId, only: p.registryScope, like: page.likePattern,
            provider: req.uri.queryParameters["provider"].map(String.init),
            sortColumn: page.sortField.flatMap { Self.sortColumns[$0] }, descending: page.descending,
            limit: page.limit, offset: page.offset)
        let (rows, total) = try await s.db.read { db in try RegistryRepository.list(db, query) }
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
        var derived = try RegistryValidation.create(try await req.jsonObject())
        guard let name = derived.name, let provider = derived.provider else { throw APIError.validation("name", "Required.") }
        if provider == .awsEcr, (derived.url ?? "").isEmpty, derived.scanMethod != .sensor {
            // The endpoint the crawler will use, from the account and region of the credentials.
            // When ECR cannot be asked now the registry is still created, without url, and its
            // first sync derives it (`Crawler.withDerivedURL`).
            do {
                derived.url = try await crawler.ecrRegistryURL(credentials: derived.credentials ?? nil)
            } catch {
                s.logger.warning("ECR registry endpoint not derived yet", metadata: ["error": "\(error.description)"])
            }
        }
        let input = derived
        if let url = input.url, !url.isEmpty { try await s.checkOutgoingTarget(url, for: .registry) }
        let now = s.now
        let id = IDs.make("reg")
        let webhookToken = Tokens.generate(prefix: Tokens.webhookPrefix)
        let sensorKey = input.scanMethod == .sensor ? Tokens.generate(prefix: Tokens.apiKeyPrefix) : nil
        let creds = input.credentials ?? nil
        let secrets = s.secrets
        let record: RegistryRecord = try await s.db.write { db in
            if try RegistryRepository.nameExists(db, org: p.orgId, name: name) {
                throw APIError.conflict("A registry named '\(name)' already exists in this organization.")
            }
            try RegistryRepository.insert(
                db,
                RegistryRecord(
                    id: id, orgId: p.orgId, name: name, provider: provider, url: input.url ?? "",
                    scanMethod: input.scanMethod ?? .cloud, schedule: input.schedule ?? .daily, scanners: input.scanners ?? [],
                    tagInclude: input.tagInclude ?? nil, tagExclude: input.tagExclude ?? nil, insecure: input.insecure ?? false,
                    hasCredentials: creds != nil, webhookTokenHash: Tokens.hash(webhookToken), now: now))
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
        // Stored credentials follow the endpoint they were given for: a new URL (scheme, host,
        // port or path) or switching TLS verification off drops them unless the same request
        // brings new ones, so a stored password can never be steered to another host.
        let endpointChanged = input.url.map { !RegistryValidation.sameEndpoint($0, existing.url) } ?? false
        let insecureOn = input.insecure == true && !existing.insecure
        let dropCredentials = existing.hasCredentials && input.credentials == nil && (endpointChanged || insecureOn)
        let record: RegistryRecord = try await s.db.write { db in
            if let name = input.name, name != existing.name,
               try RegistryRepository.nameExists(db, org: p.orgId, name: name, except: existing.id)
            {
                throw APIError.conflict("A registry named '\(name)' already exists in this organization.")
            }
            if let c = input.credentials {
                if let c {
                    try secrets.seal(try JSONEncoder().encode(StoredCredentials(c)), owner: existing.credentialsOwner, in: db)
                } else {
                    try secrets.delete(owner: existing.credentialsOwner, in: db)
                }
            } else if dropCredentials {
                try secrets.delete(owner: existing.credentialsOwner, in: db)
            }
            let updated = try RegistryRepository.update(db, id: existing.id) { r in
                r.updatedAt = now
                if let v = input.name { r.name = v }
                if let v = input.url { r.url = v }
                if let v = input.insecure { r.insecure = v }
                if let v = input.schedule { r.schedule = v }
                if let v = input.scanners { r.scanners = v }
                if let v = input.tagInclude { r.tagInclude = v }
                if let v = input.tagExclude { r.tagExclude = v }
                if let c = input.credentials {
                    r.hasCredentials = c != nil
                } else if dropCredentials {
                    r.hasCredentials = false
                }
            }
            guard updated != nil else { throw APIError.notFound("Registry") }
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
        try await s.db.write { db in
            try RegistryRepository.delete(db, existing, now: now)
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
            _ = try RegistryRepository.update(db, id: existing.id) { r in
                r.webhookTokenHash = Tokens.hash(token)
                r.updatedAt = now
            }
            try AppServices.audit(db, org: p.orgId, actor: p.actor, action: "registry.webhook_token.rotate", target: existing.id, ip: ctx.remoteIP, now: now)
        }
        return try Reply.data([
            "registryId": existing.id, "webhookToken": token,
            "webhookUrl": "\(s.config.baseURL)/api/registries/\(existing.id)/events",
        ])
    }
}
