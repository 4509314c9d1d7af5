import Foundation
import Hummingbird
import Store

/// `POST /api/policy/check`: the CI check (role ci and above; a registry-scoped key for its
/// registry's images only).
struct CheckRoutes {
    let s: AppServices
    let crawler: Crawler

    func register(_ api: RouteTable) {
        api.post("/api/policy/check", check)
    }

    @Sendable func check(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await s.authorize(req, .ci, reach: .registry)
        let service = CheckService(s: s, crawler: crawler)
        switch try await service.check(p, body: try await req.jsonObject(), ip: ctx.remoteIP) {
        case .verdict(let dto):
            return try Reply.data(dto)
        case .pending(let dto):
            return try Reply.data(dto, status: .accepted, headers: [.location: "/api/scans/\(dto.scanId)"])
        }
    }
}
