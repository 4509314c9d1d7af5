import Cron
import Foundation
import GRDB
import Hummingbird
import Registry
import Store

/// `POST /api/registries/test-connection` and `POST /api/registries/{registryId}/sync`.
struct CrawlerRoutes {
    let s: AppServices
    let crawler: Crawler

    func register(_ api: RouteTable) {
        api.post("/api/registries/test-connection", testConnection)
        api.post("/api/registries/{registryId}/sync", sync)
        api.post("/api/registries/schedule-scans", scheduleScans)
    }

    /// Runs the schedule policy of every registry of the organization now: due syncs and
    /// rescans are enqueued (each at most once), everything else is counted as skipped.
    @Sendable func scheduleScans(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await s.authorize(req, .admin)
        let now = s.now
        let outcome = try await s.db.write { db in
            let outcome = try SchedulePolicy().apply(orgId: p.orgId, now: now, in: db)
            try AppServices.audit(
                db, org: p.orgId, actor: p.actor, action: "registry.schedule_scans", target: nil, ip: ctx.remoteIP, now: now)
            return outcome
        }
        struct Accepted: Encodable { var registries: Int, enqueued: Int, skipped: Int, syncs: Int, scans: Int }
        return try Reply.data(
            Accepted(registries: outcome.registries, enqueued: outcome.enqueued, skipped: outcome.skipped,
                     syncs: outcome.syncsEnqueued, scans: outcome.scansEnqueued),
            status: .accepted)
    }

    /// Always 200 when the request itself was valid; the outcome is in the body.
    @Sendable func testConnection(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await s.authorize(req, .developer, reach: .registry)
        var r = try await req.jsonObject()
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
            if let scope = p.registryScope { throw APIError.outOfScope(scope, req) }
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
        return try Reply.data(result)
    }

    @Sendable func sync(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await s.authorize(req, .admin, reach: .registry)
        let queued = try await RegistryService(s: s).sync(p, id: ctx.parameters.get("registryId"), ip: ctx.remoteIP)
        return try Reply.data(queued, status: .accepted, headers: [.location: "/api/jobs/\(queued.jobId)"])
    }
}
