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
    var registries: RegistryService { RegistryService(s: s) }

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
        let (rows, total) = try await registries.list(p, query)
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
        try await registries.load(p, id: ctx.parameters.get("registryId"))
    }

    @Sendable func get(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await s.authorize(req, .viewer, reach: .registry)
        return try Reply.data(RegistryDTO(try await load(p, ctx), baseURL: s.config.baseURL))
    }

    @Sendable func create(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await s.authorize(req, .admin)
        let input = try RegistryValidation.create(try await req.jsonObject())
        let made = try await registries.createAuthorized(p, input, crawler: crawler, ip: ctx.remoteIP)
        return try Reply.data(
            RegistryDTO(made.record, baseURL: s.config.baseURL, sensorApiKey: made.sensorKey, webhookToken: made.webhookToken),
            status: .created, headers: [.location: "/api/registries/\(made.record.id)"])
    }

    @Sendable func update(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await s.authorize(req, .admin, reach: .registry)
        let existing = try await load(p, ctx)
        let input = try RegistryValidation.update(try await req.jsonObject(), existing: existing)
        let saved = try await registries.update(p, existing: existing, input, ip: ctx.remoteIP)
        return try Reply.data(RegistryDTO(saved.record, baseURL: s.config.baseURL, credentialsDropped: saved.credentialsDropped))
    }

    @Sendable func delete(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await s.authorize(req, .admin, reach: .registry)
        let existing = try await registries.delete(p, id: ctx.parameters.get("registryId"), ip: ctx.remoteIP)
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
