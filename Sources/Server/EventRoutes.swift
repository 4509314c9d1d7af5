import Cron
import Foundation
import GRDB
import Hummingbird
import Logging
import NIOCore
import Scan

/// `POST /api/registries/{registryId}/events`: push notifications from the registry,
/// authenticated by the registry's webhook token (Bearer or `?token=`).
struct EventRoutes {
    let s: AppServices

    func register(_ api: RouteTable) {
        api.post("/api/registries/{registryId}/events", receive)
    }

    @Sendable func receive(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let id = ctx.parameters.get("registryId") ?? ""
        var token = req.uri.queryParameters["token"].map(String.init)
        if let a = req.headers[.authorization] {
            let parts = a.split(separator: " ", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "bearer" { token = String(parts[1]) }
        }
        guard let token, Tokens.isWellFormed(token, prefix: Tokens.webhookPrefix) else { throw APIError.unauthorized }
        let stored: (RegistryRecord, Data)? = try await s.db.writer.read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM registries WHERE id = ?", arguments: [id]),
                  let hash = row["webhook_token_hash"] as Data?
            else { return nil }
            return (RegistryRecord(row: row), hash)
        }
        // Unknown registry and wrong token look the same to the caller.
        guard let (registry, hash) = stored, Tokens.constantTimeEquals(hash, Tokens.hash(token)) else {
            throw APIError.unauthorized
        }
        if let ct = req.headers[.contentType]?.lowercased(), !(ct.hasPrefix("application/json") || ct.contains("+json")) {
            throw APIError.badRequest("Content-Type must be JSON (application/json or a +json type).")
        }
        let buffer: ByteBuffer
        do {
            buffer = try await req.body.collect(upTo: 1 << 20)
        } catch is NIOTooManyBytesError {
            throw APIError.payloadTooLarge
        }
        if let problem = StrictJSON.problem(in: buffer.readableBytesView) { throw APIError.badRequest(problem) }
        let body: JSONValue
        do {
            body = try JSONDecoder().decode(JSONValue.self, from: Data(buffer.readableBytesView))
        } catch {
            throw APIError.badRequest("The request body is not valid JSON.")
        }
        guard let (format, pushed) = PushEvents.parse(body) else {
            throw APIError.badRequest(
                "Unrecognised notification: expected a CNCF distribution, Harbor, GitHub, Docker Hub, Quay or JFrog push event.")
        }
        let filter = try? TagFilter(include: registry.tagInclude, exclude: registry.tagExclude)
        let now = s.now
        let host = URLComponents(string: registry.url)?.host.map { h in
            URLComponents(string: registry.url)?.port.map { "\(h):\($0)" } ?? h
        } ?? registry.url
        let onPush = registry.schedule == .onPush
        let (enqueued, skipped) = try await s.db.writer.write { db -> (Int, Int) in
            var enqueued = 0, skipped = 0
            for p in pushed {
                if let tag = p.tag, filter?.allows(tag) == false { skipped += 1; continue }
                if p.tag == nil && p.digest == nil { skipped += 1; continue }
                if let tag = p.tag, let digest = p.digest {
                    _ = try SyncStore.recordTag(
                        registry: registry, registryHost: host, repository: p.repository, tag: tag, digest: digest,
                        now: now, in: db)
                }
                guard onPush else { skipped += 1; continue }
                let scan = ScanRequest(registryId: registry.id, repository: p.repository, tag: p.tag, digest: p.digest, trigger: "push")
                if try SyncStore.enqueueScan(scan, orgId: registry.orgId, now: now, registryHost: host, in: db).enqueued {
                    enqueued += 1
                } else {
                    skipped += 1
                }
            }
            try AppServices.audit(
                db, org: registry.orgId, actor: "webhook:\(format.rawValue)", action: "registry.push_event",
                target: registry.id, ip: ctx.remoteIP, now: now)
            return (enqueued, skipped)
        }
        s.logger.info("push event", metadata: ["registry": "\(registry.id)", "format": "\(format.rawValue)", "enqueued": "\(enqueued)"])
        struct Accepted: Encodable {
            var registryId: String, format: String, events: Int, enqueued: Int, skipped: Int
        }
        return try Reply.data(
            Accepted(registryId: registry.id, format: format.rawValue, events: pushed.count, enqueued: enqueued, skipped: skipped),
            status: .accepted)
    }
}
