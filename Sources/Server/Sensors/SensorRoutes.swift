import Cron
import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Registry
import Scan
import Store


/// The sensor protocol: a sensor runs next to a registry the appliance cannot reach, with
/// credentials only it holds. It authenticates with its registry's `sensorApiKey`, claims
/// that registry's `sensor_sync` and `sensor_scan` jobs under a lease, does the work, and
/// posts the result: a tag inventory, or an image inventory the server matches against its
/// own vulnerability database.
struct SensorRoutes {
    let s: AppServices
    let crawler: Crawler
    var settings: SensorSettings = .fromEnvironment

    /// A scan report of an image with tens of thousands of packages is larger than the
    /// API's 1 MiB bodies.
    static let resultLimit = 32 << 20
    static let defaultLease: TimeInterval = 60

    func register(_ api: RouteTable) {
        api.post("/api/sensor/heartbeat", heartbeat)
        api.post("/api/sensor/jobs/claim", claim)
        api.post("/api/sensor/jobs/{jobId}/renew", renew)
        api.post("/api/sensor/jobs/{jobId}/release", release)
        api.post("/api/sensor/jobs/{jobId}/result", result)
        api.get("/api/registries/{registryId}/sensor-status", status)
    }

    // MARK: - Authentication

    /// The caller must be a sensor key; its registry is the one it serves. Everything else is 403.
    func sensor(_ req: Request) async throws -> (Principal, RegistryRecord) {
        let p = try await s.authenticate(req)
        guard p.kind == .sensorKey, let id = p.sensorRegistryId else { throw APIError.forbidden }
        guard let r = try await s.db.writer.read({ db in try RegistryRecord.fetch(db, id: id, org: p.orgId) }),
              r.scanMethod == .sensor
        else { throw APIError.forbidden }
        return (p, r)
    }

    /// Every lease of a registry's jobs is held in the registry's name.
    static func owner(_ registryId: String) -> String { "sensor:\(registryId)" }

    /// A job of this registry's sensor, or 404 (another registry's job looks like no job).
    func job(_ ctx: AppRequestContext, registry: RegistryRecord) async throws -> Job {
        guard let id = ctx.parameters.get("jobId"), let job = try await s.jobs.get(id),
              job.concurrencyKey == registry.id, let kind = job.kind, JobKind.sensorKinds.contains(kind)
        else { throw APIError.notFound("Job") }
        return job
    }

    /// A JSON object body of at most `limit` bytes; an empty body is `{}`.
    static func body(_ req: Request, limit: Int) async throws -> [String: JSONValue] {
        if let ct = req.headers[.contentType], !ct.lowercased().hasPrefix("application/json") {
            throw APIError.badRequest("Content-Type must be application/json.")
        }
        let tooLarge = APIError(
            .contentTooLarge, code: "PAYLOAD_TOO_LARGE", message: "The request body is larger than \(limit >> 20) MiB.")
        if let declared = req.headers[.contentLength].flatMap({ Int($0) }), declared > limit { throw tooLarge }
        let buffer: ByteBuffer
        do {
            buffer = try await req.body.collect(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw tooLarge
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw APIError.badRequest("The request body could not be read: \(error).")
        }
        if buffer.readableBytes == 0 { return [:] }
        if let problem = StrictJSON.problem(in: buffer.readableBytesView) { throw APIError.badRequest(problem) }
        let value: JSONValue
        do {
            value = try JSONDecoder().decode(JSONValue.self, from: Data(buffer.readableBytesView))
        } catch {
            throw APIError.badRequest("The request body is not valid JSON.")
        }
        guard case .object(let o) = value else { throw APIError.badRequest("The request body must be a JSON object.") }
        return o
    }

    // MARK: - Heartbeat

    @Sendable func heartbeat(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let (p, registry) = try await sensor(req)
        var r = ObjectReader(try await Self.body(req, limit: 1 << 20))
        r.rejectUnknown(allowed: SensorHeartbeat.fields)
        let name = r.string("name", required: true, minLength: 1, maxLength: 100)
        let version = r.string("version", required: true, minLength: 1, maxLength: 100)
        let hostname = r.string("hostname", required: true, minLength: 1, maxLength: 255)
        try r.check()
        guard let name, let version, let hostname else { throw APIError.validation("name", "Required.") }
        let beat = SensorHeartbeat(name: name, version: version, hostname: hostname)
        let ts = Timestamp.format(s.now)
        let cameBack = try await s.db.writer.write { db in
            let wasOffline = try Bool.fetchOne(
                db, sql: "SELECT offline_since IS NOT NULL FROM sensors WHERE registry_id = ?", arguments: [registry.id]) ?? false
            try db.execute(
                sql: """
                    INSERT INTO sensors (registry_id, key_id, name, version, hostname, first_seen_at, last_heartbeat_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT(registry_id) DO UPDATE SET key_id = excluded.key_id, name = excluded.name,
                        version = excluded.version, hostname = excluded.hostname,
                        last_heartbeat_at = excluded.last_heartbeat_at, offline_since = NULL
                    """,
                arguments: [registry.id, p.id, beat.name, beat.version, beat.hostname, ts, ts])
            if wasOffline {
                // Back online: the health the last sync earned, without the outage's error.
                try db.execute(
                    sql: """
                        UPDATE registries SET health_status = CASE WHEN last_sync_ok_at IS NULL THEN 'unknown'
                                WHEN health_score >= 100 THEN 'healthy' WHEN health_score >= 50 THEN 'degraded' ELSE 'unhealthy' END,
                            health_last_error = NULL
                        WHERE id = ? AND health_status = 'unhealthy' AND health_last_error LIKE 'Sensor offline%'
                        """,
                    arguments: [registry.id])
            }
            return wasOffline
        }
        if cameBack { s.logger.info("sensor back online", metadata: ["registry": "\(registry.id)"]) }
        return try Reply.data(SensorHeartbeatReply(registryId: registry.id, pollIntervalSeconds: settings.pollInterval))
    }

    // MARK: - Claim, renew, release

    static func lease(_ r: inout ObjectReader) -> TimeInterval {
        guard let v = r.object["leaseSeconds"] else { return defaultLease }
        guard case .number(let n) = v, n == n.rounded(), (10...3600).contains(n) else {
            r.fail("leaseSeconds", "Must be an integer from 10 to 3600.")
            return defaultLease
        }
        return n
    }

    @Sendable func claim(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let (_, registry) = try await sensor(req)
        var r = ObjectReader(try await Self.body(req, limit: 1 << 20))
        r.rejectUnknown(allowed: SensorClaimRequest.fields)
        var max = 1
        if let v = r.object["max"] {
            if case .number(let n) = v, n == n.rounded(), (1...10).contains(n) { max = Int(n) } else {
                r.fail("max", "Must be an integer from 1 to 10.")
            }
        }
        let lease = Self.lease(&r)
        try r.check()
        let limit = max
        let now = s.now
        let owner = Self.owner(registry.id)
        let host = ScanStore.host(ofRegistryURL: registry.url)
        let target = SensorClaimedJob.RegistryTarget(id: registry.id, url: registry.url, provider: registry.provider.rawValue, insecure: registry.insecure)
        let claimed: [SensorClaimedJob] = try await s.db.writer.write { db in
            var out: [SensorClaimedJob] = []
            // Jobs that turn out to be void (a scan cancelled meanwhile) are closed and the claim goes on.
            var budget = limit
            while budget > 0 {
                let jobs = try JobStore.claim(
                    owner: owner, types: SensorSettings.jobTypes, concurrencyKey: registry.id, lease: lease, limit: budget,
                    now: now, in: db)
                if jobs.isEmpty { break }
                for job in jobs {
                    guard let expires = job.leaseExpiresAt else { continue }
                    if job.kind == .sensorSync {
                        out.append(SensorClaimedJob(
                            id: job.id, type: .sync, attempt: job.attempts,
                            payload: .init(registry: target, includeTags: registry.tagInclude, excludeTags: registry.tagExclude),
                            leaseExpiresAt: expires))
                        budget -= 1
                        continue
                    }
                    guard var request = try? TypedJobKind.sensorScan.payload(of: job) else {
                        _ = try JobStore.fail(
                            job.id, owner: owner, error: "malformed scan payload", permanent: true, backoff: s.jobs.backoff, unit: 0,
                            now: now, in: db)
                        continue
                    }
                    if request.scanId == nil {
                        // Queued before scans had rows.
                        request.scanId = IDs.make("scn")
                        try ScanStore.insertScan(
                            id: request.scanId!, request: request, orgId: registry.orgId, jobId: job.id, registryHost: host,
                            now: now, in: db)
                        try SyncStore.writePayload(request, jobId: job.id, in: db)
                    }
                    guard try ScanStore.markRunning(request.scanId!, now: now, in: db) else {
                        _ = try JobStore.complete(
                            job.id, owner: owner, result: #"{"skipped":"scan cancelled or deleted"}"#, now: now, in: db)
                        continue
                    }
                    out.append(SensorClaimedJob(
                        id: job.id, type: .scan, attempt: job.attempts,
                        payload: .init(
                            registry: target, scanId: request.scanId, repository: request.repository, tag: request.tag,
                            digest: request.digest, platform: request.platform ?? "linux/amd64",
                            scanners: request.scanners ?? registry.scanners),
                        leaseExpiresAt: expires))
                    budget -= 1
                }
            }
            return out
        }
        if !claimed.isEmpty {
            s.logger.info("sensor claimed jobs", metadata: ["registry": "\(registry.id)", "jobs": "\(claimed.count)"])
        }
        return try Reply.data(claimed)
    }

    @Sendable func renew(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let (_, registry) = try await sensor(req)
        let job = try await job(ctx, registry: registry)
        var r = ObjectReader(try await Self.body(req, limit: 1 << 20))
        r.rejectUnknown(allowed: SensorRenewRequest.fields)
        let lease = Self.lease(&r)
        try r.check()
        let now = s.now
        let owner = Self.owner(registry.id)
        guard let expires = try await s.db.writer.write({ db in
            try JobStore.renew(job.id, owner: owner, lease: lease, now: now, in: db)
        }) else {
            throw APIError.conflict("The job is not leased to this sensor any more (cancelled, finished or reclaimed).")
        }
        return try Reply.data(SensorRenewed(id: job.id, leaseExpiresAt: expires))
    }

    /// Hands an unfinished job back (a sensor shutting down): queued again, the attempt not counted.
    @Sendable func release(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let (_, registry) = try await sensor(req)
        let job = try await job(ctx, registry: registry)
        _ = try await Self.body(req, limit: 1 << 20)
        let owner = Self.owner(registry.id)
        let released = try await s.db.writer.write { db in
            guard try JobStore.release(job.id, owner: owner, in: db) else { return false }
            if job.kind == .sensorScan, let scanId = Self.scanId(of: job) {
                try db.execute(
                    sql: "UPDATE scans SET status = 'queued', started_at = NULL WHERE id = ? AND status = 'running'",
                    arguments: [scanId])
            }
            return true
        }
        guard released else { throw APIError.conflict("The job is not leased to this sensor.") }
        return try Reply.data(SensorReleased(id: job.id, status: "queued"))
    }
}
