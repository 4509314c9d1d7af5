import Foundation
import Hummingbird
import Store

/// `/api/policies`: the organization's policies (viewers read, admins write).
struct PolicyRoutes {
    let s: AppServices

    func register(_ api: RouteTable) {
        api.get("/api/policies", list)
        api.post("/api/policies", create)
        api.get("/api/policies/{policyId}", get)
        api.put("/api/policies/{policyId}", update)
        api.delete("/api/policies/{policyId}", delete)
    }

    var policies: PolicyService { PolicyService(s: s) }

    @Sendable func list(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await s.authorize(req, .viewer)
        let page = try PageRequest(req.uri, sortable: [])
        let (rows, total) = try await policies.list(p, page: page)
        return try Reply.json(ListEnvelope(data: rows, page: page, total: total, uri: req.uri))
    }

    @Sendable func create(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await s.authorize(req, .admin)
        let dto = try await policies.create(p, try await req.jsonObject(), ip: ctx.remoteIP)
        return try Reply.data(dto, status: .created, headers: [.location: "/api/policies/\(dto.id)"])
    }

    @Sendable func get(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await s.authorize(req, .viewer)
        return try Reply.data(try await policies.get(p, id: ctx.parameters.get("policyId") ?? ""))
    }

    @Sendable func update(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await s.authorize(req, .admin)
        let id = ctx.parameters.get("policyId") ?? ""
        return try Reply.data(try await policies.update(p, id: id, try await req.jsonObject(), ip: ctx.remoteIP))
    }

    @Sendable func delete(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await s.authorize(req, .admin)
        let id = try await policies.delete(p, id: ctx.parameters.get("policyId") ?? "", ip: ctx.remoteIP)
        return try Reply.data(Deleted(id: id))
    }
}
