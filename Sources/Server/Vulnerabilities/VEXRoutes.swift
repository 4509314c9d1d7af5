import Foundation
import Hummingbird
import Scan
import Store

/// `POST /api/vex` (import) and `GET /api/images/{imageId}/vex` (export), by `VEXService`.
struct VEXRoutes {
    let s: AppServices

    func register(_ api: RouteTable) {
        api.post("/api/vex", importDocument)
        api.get("/api/images/{imageId}/vex", export)
    }

    @Sendable func importDocument(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await s.authorize(req, .developer, reach: .registry)
        let body = try await req.jsonBody()
        return try Reply.data(try await VEXService(s: s).importDocument(p, body: body, ip: ctx.remoteIP))
    }

    @Sendable func export(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await s.authorize(req, .viewer, reach: .registry)
        let raw = req.uri.queryParameters["format"].map(String.init) ?? "openvex"
        guard let format = VEXDocument.Format(rawValue: raw.lowercased()) else {
            throw APIError.validation("format", "Expected openvex or cyclonedx.")
        }
        let doc = try await VEXService(s: s).export(p, imageId: ctx.parameters.get("imageId") ?? "", format: format)
        let data = try JSONSerialization.data(withJSONObject: doc, options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes])
        var response = Reply.bytes(Array(data))
        if format == .cyclonedx { response.headers[.contentType] = "application/vnd.cyclonedx+json; version=1.6" }
        return response
    }
}
