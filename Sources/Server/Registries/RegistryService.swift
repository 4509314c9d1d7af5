import Cron
import Foundation
import GRDB
import Hummingbird
import Logging
import Registry
import Store

/// The registries' domain operations for the API and the console: each takes the caller's
/// `Principal` and authorizes it exactly as the API always did (any role reads, admin
/// changes; a registry-scoped credential reaches its own registry only and creates none).
struct RegistryService: Sendable {
    let s: AppServices

    /// A page of the registries the caller may see.
    func list(_ p: Principal, _ query: RegistryRepository.ListQuery) async throws -> (registries: [RegistryRecord], total: Int) {
        try p.authorize(.viewer, reach: .registry, operation: "GET /api/registries")
        var q = query
        q.org = p.orgId
        q.only = p.registryScope
        let finalQuery = q
        return try await s.db.read { db in try RegistryRepository.list(db, finalQuery) }
    }

    /// The registry `id` if the caller reaches it (404 otherwise); no role check.
    func load(_ p: Principal, id: String?) async throws -> RegistryRecord {
        guard let id else { throw APIError.notFound("Registry") }
        if !p.reaches(registry: id) { throw APIError.notFound("Registry") }
        guard let r = try await s.db.read({ db in try RegistryRecord.fetch(db, id: id, org: p.orgId) }) else {
            throw APIError.notFound("Registry")
        }
        return r
    }

    func registry(_ p: Principal, id: String?) async throws -> RegistryRecord {
        try p.authorize(.viewer, reach: .registry, operation: "GET /api/registries/\(id ?? "")")
        return try await load(p, id: id)
    }

    /// A new registry with its one-time secrets (the sensor key for a sensor registry, the webhook token).
    /// The crawler derives an AWS ECR registry's endpoint when it is created without a URL.
    func create(_ p: Principal, _ input: RegistryInput, crawler: Crawler, ip: String?) async throws
        -> (record: RegistryRecord, sensorKey: String?, webhookToken: String)
    {
        try p.authorize(.admin, operation: "POST /api/registries")
        return try await createAuthorized(p, input, crawler: crawler, ip: ip)
    }

    /// `create` after the caller's role was checked (the route checks it before decoding the body).
    func createAuthorized(_ p: Principal, _ validated: RegistryInput, crawler: Crawler, ip: String?) async throws
        -> (record: RegistryRecord, sensorKey: String?, webhookToken: String)
    {
        var derived = validated
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
            try AppServices.audit(db, org: p.orgId, actor: p.actor, action: "registry.create", target: id, ip: ip, now: now)
            guard let r = try RegistryRecord.fetch(db, id: id, org: p.orgId) else { throw APIError.internalError }
            return r
        }
        s.logger.info("registry created", metadata: ["registry": "\(id)", "provider": "\(provider.rawValue)"])
        return (record, sensorKey, webhookToken)
    }


    /// Applies a validated update to `existing` (loaded with `load` by an admin); answers the
    /// saved registry and whether its stored credentials were dropped.
    func update(_ p: Principal, existing: RegistryRecord, _ input: RegistryInput, ip: String?) async throws
        -> (record: RegistryRecord, credentialsDropped: Bool)
    {
        try p.authorize(.admin, reach: .registry, operation: "PUT /api/registries/\(existing.id)")
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
                target: existing.id, ip: ip, now: now)
            if dropCredentials {
                try AppServices.audit(
                    db, org: p.orgId, actor: p.actor, action: "registry.credentials.dropped", target: existing.id,
                    ip: ip, now: now)
            }
            guard let r = try RegistryRecord.fetch(db, id: existing.id, org: p.orgId) else { throw APIError.notFound("Registry") }
            return r
        }
        if dropCredentials {
            s.logger.notice(
                "registry credentials dropped: the URL changed or insecure was switched on without new credentials",
                metadata: ["registry": "\(existing.id)"])
        }
        return (record, dropCredentials)
    }


    /// Deletes the registry with its images, scans and credentials.
    func delete(_ p: Principal, id: String?, ip: String?) async throws -> RegistryRecord {
        try p.authorize(.admin, reach: .registry, operation: "DELETE /api/registries/\(id ?? "")")
        let existing = try await load(p, id: id)
        let now = s.now
        try await s.db.write { db in
            try RegistryRepository.delete(db, existing, now: now)
            try AppServices.audit(db, org: p.orgId, actor: p.actor, action: "registry.delete", target: existing.id, ip: ip, now: now)
        }
        s.logger.info("registry deleted", metadata: ["registry": "\(existing.id)"])
        return existing
    }

    /// The answer to a sync request: the (new or already queued) sync job.
    struct SyncQueued: Encodable, Sendable { var jobId: String, registryId: String, status: String, created: Bool }

    /// Queues a sync of the registry now (at most one queued at a time); a sensor registry's
    /// is claimed by its sensor.
    func sync(_ p: Principal, id: String?, ip: String?) async throws -> SyncQueued {
        try p.authorize(.admin, reach: .registry, operation: "POST /api/registries/\(id ?? "")/sync")
        guard let id, p.reaches(registry: id),
              let registry = try await s.db.read({ db in try RegistryRecord.fetch(db, id: id, org: p.orgId) })
        else { throw APIError.notFound("Registry") }
        let now = s.now
        let sync = try NewJob(
            .sync(registry.scanMethod), SyncJobPayload(registryId: registry.id), orgId: p.orgId, concurrencyKey: registry.id,
            dedupeKey: "sync:\(registry.id)", maxAttempts: 3)
        let (job, created) = try await s.db.write { db in
            let r = try JobStore.enqueue(sync, now: now, in: db)
            if r.created {
                try AppServices.audit(db, org: p.orgId, actor: p.actor, action: "registry.sync", target: registry.id, ip: ip, now: now)
            }
            return r
        }
        return SyncQueued(jobId: job.id, registryId: registry.id, status: job.status.rawValue, created: created)
    }

    /// Tests a connection to a saved registry (`registryId`) or to the endpoint and credentials
    /// of a registry not yet created (the fields of create); always an answer when the request
    /// itself was valid, the outcome in it.
    func testConnection(_ p: Principal, _ body: ObjectReader, crawler: Crawler) async throws -> TestConnectionReply {
        try p.authorize(.developer, reach: .registry, operation: "POST /api/registries/test-connection")
        var r = body
        // url nil: an AWS_ECR registry whose endpoint is derived from its credentials.
        let target: (url: String?, provider: RegistryProvider, insecure: Bool, credentials: RegistryCredentials?)
        if r.has("registryId") {
            r.rejectUnknown(allowed: ["registryId"])
            let id = r.string("registryId", required: true, minLength: 1, maxLength: 64)
            try r.check()
            guard let id, let registry = try await s.db.read({ db in try RegistryRecord.fetch(db, id: id, org: p.orgId) }),
                  p.reaches(registry: id)
            else { throw APIError.notFound("Registry") }
            let creds = try await s.registryCredentials(registry.id)
            target = (registry.url.isEmpty ? nil : registry.url, registry.provider, registry.insecure, creds)
        } else {
            // A scoped key may test its own registry, not probe arbitrary addresses.
            if let scope = p.registryScope { throw APIError.outOfScope(scope, operation: "POST /api/registries/test-connection") }
            r.rejectUnknown(allowed: ["provider", "url", "credentials", "insecure"])
            let provider = r.enumValue("provider", RegistryProvider.self, required: true)
            let insecure = r.bool("insecure") ?? false
            // The url rules of create: required unless the provider has a default, or is AWS_ECR
            // (whose endpoint comes from its credentials).
            var url: String?
            if let raw = r.string("url", maxLength: 2048) {
                url = RegistryValidation.url(&r, raw, insecure: insecure)
            } else if let provider, provider.requiresURL {
                r.fail("url", "Required for provider \(provider.rawValue).")
            } else if let d = provider?.defaultURL {
                url = d
            }
            var creds: RegistryCredentials?
            if let provider { creds = RegistryValidation.credentials(&r, provider: provider, required: false) }
            try r.check()
            guard let provider else { throw APIError.validation(r.issues) }
            if url == nil, provider != .awsEcr { throw APIError.validation("url", "Required for provider \(provider.rawValue).") }
            target = (url, provider, insecure, creds)
        }
        // Registries may be on private networks; cloud metadata addresses are refused (422).
        if let url = target.url { try await s.checkOutgoingTarget(url, for: .registry) }
        let result = try await crawler.testConnection(
            url: target.url, provider: target.provider, insecure: target.insecure, credentials: target.credentials)
        return result
    }
}
