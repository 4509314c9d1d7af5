import Cron
import Crypto
import Foundation
import GRDB
import Hummingbird
import Prometheus
import Store

/// `/healthz` (liveness, no auth), `/readyz` (database writable, workers alive),
/// `/metrics` (Prometheus text), `/api/openapi.json`.
struct OpsRoutes {
    let s: AppServices
    let metrics: PrometheusCollectorRegistry?
    let heartbeat: Heartbeat
    /// The scheduler's, with its tick interval; nil where no scheduler runs (router tests).
    var scheduler: (heartbeat: Heartbeat, interval: TimeInterval)? = nil

    func register(_ api: RouteTable) {
        api.get("/healthz", healthz)
        api.get("/readyz", readyz)
        api.get("/metrics", metricsText)
        api.get("/api/openapi.json", openapi)
    }

    @Sendable func healthz(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        try Reply.json(["status": "ok"])
    }

    @Sendable func readyz(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        var problems: [String] = []
        do {
            let now = s.now
            try await s.db.write { db in try AppDatabase.beat(db, now: now) }
        } catch {
            problems.append("database is not writable")
        }
        if let scheduler {
            if let beat = scheduler.heartbeat.lastBeat {
                let age = Date().timeIntervalSince(beat)
                if age > max(90, 3 * scheduler.interval) { problems.append("the scheduler has not ticked for \(Int(age)) s") }
            } else {
                problems.append("the scheduler has not started")
            }
        }
        if let beat = heartbeat.lastBeat, Date().timeIntervalSince(beat) > 30 {
            problems.append("job workers have not reported for \(Int(Date().timeIntervalSince(beat))) s")
        } else if heartbeat.lastBeat == nil {
            problems.append("job workers have not started")
        }
        if problems.isEmpty { return try Reply.json(["status": "ready"]) }
        throw APIError.unavailable("Not ready: " + problems.joined(separator: "; ") + ".")
    }

    @Sendable func metricsText(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        if let expected = s.config.metricsToken { try Self.requireBearer(req, expected) }
        var buffer: [UInt8] = []
        metrics?.emit(into: &buffer)
        return Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: .init(byteBuffer: .init(bytes: buffer)))
    }

    /// `Authorization: Bearer <expected>` or 401. Both sides are hashed first, so the constant-time
    /// comparison does not depend on the length of what was sent.
    static func requireBearer(_ req: Request, _ expected: String) throws {
        var sent = ""
        if let a = req.headers[.authorization] {
            let parts = a.split(separator: " ", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "bearer" { sent = parts[1].trimmingCharacters(in: .whitespaces) }
        }
        let ok = Tokens.constantTimeEquals(Data(SHA256.hash(data: Data(sent.utf8))), Data(SHA256.hash(data: Data(expected.utf8))))
        if !ok || sent.isEmpty {
            var e = APIError(.unauthorized, code: "UNAUTHORIZED", message: "/metrics requires Authorization: Bearer with the metrics token.")
            e.headers[.wwwAuthenticate] = "Bearer realm=\"metrics\""
            throw e
        }
    }

    @Sendable func openapi(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        Response(
            status: .ok, headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: .init(string: OpenAPIDocument.json)))
    }
}
