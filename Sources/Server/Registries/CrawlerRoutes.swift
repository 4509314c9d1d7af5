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
        return try Reply.data(try await RegistryService(s: s).testConnection(p, try await req.jsonObject(), crawler: crawler))
    }

    @Sendable func sync(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await s.authorize(req, .admin, reach: .registry)
        let queued = try await RegistryService(s: s).sync(p, id: ctx.parameters.get("registryId"), ip: ctx.remoteIP)
        return try Reply.data(queued, status: .accepted, headers: [.location: "/api/jobs/\(queued.jobId)"])
    }
}
