import Cron
public import Foundation
public import GRDB
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Registry
import Scan


/// Timings of the sensor protocol. The defaults are the product's; the environment can
/// shorten them (`HARBORGUARD_SENSOR_OFFLINE_SECONDS`, `HARBORGUARD_SENSOR_POLL_SECONDS`),
/// which end-to-end tests do so as not to wait two minutes for a sensor to go offline.
public struct SensorSettings: Sendable {
    /// A sensor is offline this long after its last heartbeat.
    public var offlineAfter: TimeInterval = 120
    /// How often a sensor is asked to poll for jobs.
    public var pollInterval: Int = 10

    public init() {}

    public static let fromEnvironment: SensorSettings = {
        var s = SensorSettings()
        let env = ProcessInfo.processInfo.environment
        if let v = env["HARBORGUARD_SENSOR_OFFLINE_SECONDS"].flatMap(Double.init), v >= 1 { s.offlineAfter = v }
        if let v = env["HARBORGUARD_SENSOR_POLL_SECONDS"].flatMap(Int.init), (1...3600).contains(v) { s.pollInterval = v }
        return s
    }()

    /// Job types only a registry's sensor claims (the server's worker pool has no handler for them).
    public static let jobTypes: Set<String> = ["sensor_sync", "sensor_scan"]

    /// Marks the registries whose sensor stopped heartbeating `unhealthy` (once per outage).
    /// Returns how many turned offline now.
    @discardableResult
    public func markOffline(now: Date, in db: Database) throws -> Int {
        let cutoff = Timestamp.format(now.addingTimeInterval(-offlineAfter))
        let stale = try String.fetchAll(
            db,
            sql: """
                SELECT s.registry_id FROM sensors s JOIN registries r ON r.id = s.registry_id
                WHERE s.last_heartbeat_at < ? AND s.offline_since IS NULL AND r.scan_method = 'sensor'
                """,
            arguments: [cutoff])
        let ts = Timestamp.format(now)
        for id in stale {
            try db.execute(sql: "UPDATE sensors SET offline_since = ? WHERE registry_id = ?", arguments: [ts, id])
            try db.execute(
                sql: """
                    UPDATE registries SET health_status = 'unhealthy',
                        health_last_error = 'Sensor offline: no heartbeat since ' ||
                            (SELECT last_heartbeat_at FROM sensors WHERE registry_id = ?1) || '.'
                    WHERE id = ?1
                    """,
                arguments: [id])
            if let row = try Row.fetchOne(
                db,
                sql: """
                    SELECT r.org_id, r.name, s.name AS sensor, s.hostname, s.last_heartbeat_at FROM registries r
                    JOIN sensors s ON s.registry_id = r.id WHERE r.id = ?
                    """,
                arguments: [id])
            {
                let registryName: String = row["name"]
                let sensor: String = row["sensor"] ?? "sensor"
                let last: String = row["last_heartbeat_at"] ?? "?"
                try Notifications.emit(
                    .agentDisconnected, orgId: row["org_id"], severity: "high", title: "Sensor offline: \(registryName)",
                    message: "Sensor \(sensor) of registry \(registryName) has not sent a heartbeat since \(last).",
                    fields: ["registryId": id, "sensor": sensor, "hostname": row["hostname"] ?? "", "lastHeartbeatAt": last],
                    now: now, in: db)
            }
        }
        return stale.count
    }
}

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
              job.concurrencyKey == registry.id, SensorSettings.jobTypes.contains(job.type)
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
        r.rejectUnknown(allowed: ["name", "version", "hostname"])
        let name = r.string("name", required: true, minLength: 1, maxLength: 100)
        let version = r.string("version", required: true, minLength: 1, maxLength: 100)
        let hostname = r.string("hostname", required: true, minLength: 1, maxLength: 255)
        try r.check()
        guard let name, let version, let hostname else { throw APIError.validation("name", "Required.") }
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
                arguments: [registry.id, p.id, name, version, hostname, ts, ts])
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
        struct Beat: Encodable { var registryId: String, pollIntervalSeconds: Int }
        return try Reply.data(Beat(registryId: registry.id, pollIntervalSeconds: settings.pollInterval))
    }

    // MARK: - Claim, renew, release

    /// Where the work is; never credentials (the sensor has its own).
    struct RegistryTarget: Encodable {
        var id: String, url: String, provider: String, insecure: Bool
    }

    struct ClaimedJob: Encodable {
        struct Payload: Encodable {
            var registry: RegistryTarget
            // sync
            var includeTags: String?
            var excludeTags: String?
            // scan
            var scanId: String?
            var repository: String?
            var tag: String?
            var digest: String?
            var platform: String?
            var scanners: [String]?
        }
        var id: String
        var type: String
        var attempt: Int
        var payload: Payload
        var leaseExpiresAt: Date
    }

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
        r.rejectUnknown(allowed: ["max", "leaseSeconds"])
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
        let target = RegistryTarget(id: registry.id, url: registry.url, provider: registry.provider.rawValue, insecure: registry.insecure)
        let claimed: [ClaimedJob] = try await s.db.writer.write { db in
            var out: [ClaimedJob] = []
            // Jobs that turn out to be void (a scan cancelled meanwhile) are closed and the claim goes on.
            var budget = limit
            while budget > 0 {
                let jobs = try JobStore.claim(
                    owner: owner, types: SensorSettings.jobTypes, concurrencyKey: registry.id, lease: lease, limit: budget,
                    now: now, in: db)
                if jobs.isEmpty { break }
                for job in jobs {
                    guard let expires = job.leaseExpiresAt else { continue }
                    if job.type == "sensor_sync" {
                        out.append(ClaimedJob(
                            id: job.id, type: "sync", attempt: job.attempts,
                            payload: .init(registry: target, includeTags: registry.tagInclude, excludeTags: registry.tagExclude),
                            leaseExpiresAt: expires))
                        budget -= 1
                        continue
                    }
                    guard var request = try? JSONDecoder().decode(ScanRequest.self, from: Data(job.payload.utf8)) else {
                        _ = try JobStore.fail(
                            job.id, owner: owner, error: "malformed scan payload", permanent: true, retry: s.jobs.retry, unit: 0,
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
                    out.append(ClaimedJob(
                        id: job.id, type: "scan", attempt: job.attempts,
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
        r.rejectUnknown(allowed: ["leaseSeconds"])
        let lease = Self.lease(&r)
        try r.check()
        let now = s.now
        let owner = Self.owner(registry.id)
        guard let expires = try await s.db.writer.write({ db in
            try JobStore.renew(job.id, owner: owner, lease: lease, now: now, in: db)
        }) else {
            throw APIError.conflict("The job is not leased to this sensor any more (cancelled, finished or reclaimed).")
        }
        struct Renewed: Encodable { var id: String, leaseExpiresAt: Date }
        return try Reply.data(Renewed(id: job.id, leaseExpiresAt: expires))
    }

    /// Hands an unfinished job back (a sensor shutting down): queued again, the attempt not counted.
    @Sendable func release(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let (_, registry) = try await sensor(req)
        let job = try await job(ctx, registry: registry)
        _ = try await Self.body(req, limit: 1 << 20)
        let owner = Self.owner(registry.id)
        let released = try await s.db.writer.write { db in
            guard try JobStore.release(job.id, owner: owner, in: db) else { return false }
            if job.type == "sensor_scan",
               let scanId = (try? JSONDecoder().decode(ScanRequest.self, from: Data(job.payload.utf8)))?.scanId
            {
                try db.execute(
                    sql: "UPDATE scans SET status = 'queued', started_at = NULL WHERE id = ? AND status = 'running'",
                    arguments: [scanId])
            }
            return true
        }
        guard released else { throw APIError.conflict("The job is not leased to this sensor.") }
        struct Released: Encodable { var id: String, status: String }
        return try Reply.data(Released(id: job.id, status: "queued"))
    }

    // MARK: - Results

    enum Outcome: Sendable {
        case recorded(String)
        /// The job was already finished: a retried post of a result that was recorded.
        case duplicate(String)
        case notLeased
    }

    /// Decides, inside the recording transaction, whether this post may record anything.
    static func leaseState(_ jobId: String, owner: String, attempt: Int?, in db: Database) throws -> Outcome? {
        guard let job = try JobStore.get(jobId, in: db) else { return .notLeased }
        switch job.status {
        case .succeeded, .failed: return .duplicate(job.status.rawValue)
        case .running where job.leaseOwner == owner && (attempt == nil || attempt == job.attempts): return nil
        default: return .notLeased
        }
    }

    struct ResultReply: Encodable {
        var jobId: String
        var status: String
        var recorded: Bool
        var scanId: String?
        var sync: SyncOutcome?
        var findings: Int?
        /// Sync results: entries skipped because they do not fit the grammar, and the first of them.
        var rejected: Int?
        var issues: [ValidationIssue]?
    }

    @Sendable func result(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let (_, registry) = try await sensor(req)
        let job = try await job(ctx, registry: registry)
        var r = ObjectReader(try await Self.body(req, limit: Self.resultLimit))
        let status = r.string("status", required: true)
        if let status, status != "succeeded" && status != "failed" { r.fail("status", "Must be one of: succeeded, failed.") }
        let error = r.string("error", maxLength: 4000)
        let retryable = r.bool("retryable")
        var attempt: Int?
        if let v = r.object["attempt"] {
            if case .number(let n) = v, n == n.rounded(), n >= 1, n < 1_000_000 { attempt = Int(n) } else {
                r.fail("attempt", "Must be a positive integer.")
            }
        }
        let common: Set<String> = ["status", "error", "retryable", "attempt"]
        let owner = Self.owner(registry.id)
        if status == "failed" {
            r.rejectUnknown(allowed: common.union(job.type == "sensor_sync" ? ["tags", "failedRepositories", "repositories"] : ["report", "scanners"]))
            try r.check()
            return try await recordFailure(job, registry: registry, owner: owner, attempt: attempt, error: error ?? "the sensor reported a failure",
                                           retryable: retryable ?? (job.type == "sensor_sync"))
        }
        if job.type == "sensor_sync" {
            r.rejectUnknown(allowed: common.union(["tags", "failedRepositories", "repositories"]))
            let input = Self.syncInput(&r)
            try r.check()
            return try await recordSync(job, registry: registry, owner: owner, attempt: attempt, input: input)
        }
        r.rejectUnknown(allowed: common.union(["report", "scanners"]))
        let input = Self.scanInput(&r)
        try r.check()
        guard let input else { throw APIError.validation("report", "Required.") }
        return try await recordScan(job, registry: registry, owner: owner, attempt: attempt, input: input)
    }

    static func reply(
        _ job: Job, _ outcome: Outcome, scanId: String? = nil, sync: SyncOutcome? = nil, findings: Int? = nil,
        rejected: (count: Int, issues: [ValidationIssue])? = nil
    ) throws -> Response {
        switch outcome {
        case .notLeased:
            throw APIError.conflict("The job is not leased to this sensor (cancelled, released or reclaimed).")
        case .duplicate(let status):
            return try Reply.data(ResultReply(jobId: job.id, status: status, recorded: false, scanId: scanId))
        case .recorded(let status):
            return try Reply.data(ResultReply(
                jobId: job.id, status: status, recorded: true, scanId: scanId, sync: sync, findings: findings,
                rejected: rejected?.count, issues: rejected?.issues))
        }
    }

    static func scanId(of job: Job) -> String? {
        (try? JSONDecoder().decode(ScanRequest.self, from: Data(job.payload.utf8)))?.scanId
    }

    func recordFailure(_ job: Job, registry: RegistryRecord, owner: String, attempt: Int?, error: String, retryable: Bool)
        async throws -> Response
    {
        let now = s.now
        let retry = s.jobs.retry
        let scanId = Self.scanId(of: job)
        let unit = Double.random(in: 0..<1)
        let outcome: Outcome = try await s.db.writer.write { db in
            if let state = try Self.leaseState(job.id, owner: owner, attempt: attempt, in: db) { return state }
            let next = try JobStore.fail(job.id, owner: owner, error: error, permanent: !retryable, retry: retry, unit: unit, now: now, in: db)
            if job.type == "sensor_sync" {
                try Self.setHealth(registry.id, status: .unhealthy, score: 0, error: error, synced: false, now: now, in: db)
            } else if let scanId {
                if next == .queued {
                    try ScanStore.markRetrying(scanId, error: error, in: db)
                } else {
                    try ScanStore.markFailed(scanId, error: error, durationMs: nil, scanners: nil, now: now, in: db)
                }
            }
            return .recorded(next?.rawValue ?? "failed")
        }
        return try Self.reply(job, outcome, scanId: scanId)
    }

    // MARK: Sync results

    struct SyncInput: Sendable {
        var tags: [DiscoveredTag] = []
        var failedRepositories: [String] = []
        var repositories: Int?
        /// Entries skipped because a value does not fit the distribution grammar.
        var rejected = 0
        /// The first few of them (`tags[3].repository`, `failedRepositories[0]`).
        var issues: [ValidationIssue] = []

        mutating func reject(_ path: String, _ message: String) {
            rejected += 1
            if issues.count < 20 { issues.append(ValidationIssue(path, message)) }
        }
    }

    /// A sync result. A malformed shape (a missing field, a wrong type, an unknown field) is
    /// a 400 for the whole result; an entry whose repository, tag or digest does not fit the
    /// grammar (`ReceivedTag`) is skipped and counted, never stored.
    static func syncInput(_ r: inout ObjectReader) -> SyncInput {
        var input = SyncInput()
        switch r.object["tags"] {
        case nil:
            r.fail("tags", "Required.")
        case .array(let items)?:
            if items.count > 1_000_000 { r.fail("tags", "At most 1000000 tags."); break }
            input.tags.reserveCapacity(items.count)
            for (i, item) in items.enumerated() {
                guard case .object(let o) = item else { r.fail("tags[\(i)]", "Expected an object."); continue }
                var t = ObjectReader(o, prefix: "tags[\(i)]")
                t.rejectUnknown(allowed: ["repository", "tag", "digest"])
                let repo = t.string("repository", required: true, minLength: 1, maxLength: 65_536)
                let tag = t.string("tag", required: true, minLength: 1, maxLength: 65_536)
                let digest = t.string("digest", required: true, minLength: 1, maxLength: 65_536)
                let ok = t.issues.isEmpty
                r.absorb(t)
                if r.issues.count > 20 { return input }
                guard ok, let repo, let tag, let digest else { continue }
                if let problem = ReceivedTag.problems(repository: repo, tag: tag, digest: digest).first {
                    input.reject("tags[\(i)].\(problem.field)", problem.message)
                    continue
                }
                input.tags.append(DiscoveredTag(repository: repo, tag: tag, digest: digest))
            }
        case .some:
            r.fail("tags", "Expected an array.")
        }
        for (i, repo) in (r.stringArray("failedRepositories", maxCount: 100_000) ?? []).enumerated() {
            if ReceivedTag.isRepository(repo) {
                input.failedRepositories.append(repo)
            } else {
                input.reject("failedRepositories[\(i)]", ReceivedTag.repositoryMessage)
            }
        }
        if let v = r.object["repositories"] {
            if case .number(let n) = v, n == n.rounded(), n >= 0 { input.repositories = Int(n) } else {
                r.fail("repositories", "Must be a non-negative integer.")
            }
        }
        return input
    }

    func recordSync(_ job: Job, registry: RegistryRecord, owner: String, attempt: Int?, input: SyncInput) async throws -> Response {
        let now = s.now
        let host = ScanStore.host(ofRegistryURL: registry.url)
        let filter = try? TagFilter(include: registry.tagInclude, exclude: registry.tagExclude)
        // The registry's filters hold whatever the sensor listed.
        let found = input.tags.filter { filter?.allows($0.tag) ?? true }
        let failed = input.failedRepositories
        let total = max(input.repositories ?? 0, Set(found.map(\.repository)).count + failed.count)
        let result: (Outcome, SyncOutcome?) = try await s.db.writer.write { db in
            if let state = try Self.leaseState(job.id, owner: owner, attempt: attempt, in: db) { return (state, nil) }
            guard let fresh = try RegistryRecord.fetch(db, id: registry.id, org: registry.orgId) else { return (.notLeased, nil) }
            // Repositories the sensor could not list keep what was recorded before.
            var all = found
            for repo in failed {
                let rows = try Row.fetchAll(
                    db,
                    sql: "SELECT t.name, t.digest FROM image_tags t JOIN images i ON i.id = t.image_id WHERE i.registry_id = ? AND i.name = ?",
                    arguments: [registry.id, repo])
                all += rows.map { DiscoveredTag(repository: repo, tag: $0["name"], digest: $0["digest"]) }
            }
            let applied = try SyncStore.apply(all, registry: fresh, registryHost: host, now: now, in: db)
            let score = total == 0 ? 100 : 100 * (total - failed.count) / total
            let status: HealthStatus = failed.isEmpty ? .healthy : (score >= 50 ? .degraded : .unhealthy)
            let error = failed.isEmpty ? nil : "\(failed.count) of \(total) repositories could not be listed; first: \(failed[0])"
            try Self.setHealth(registry.id, status: status, score: score, error: error, synced: true, now: now, in: db)
            let text = String(decoding: try JSONEncoder().encode(applied), as: UTF8.self)
            _ = try JobStore.complete(job.id, owner: owner, result: text, now: now, in: db)
            return (.recorded("succeeded"), applied)
        }
        if case .recorded = result.0, let o = result.1 {
            s.logger.info(
                "sensor sync recorded",
                metadata: [
                    "registry": "\(registry.id)", "tags": "\(o.tags)", "scans": "\(o.scansEnqueued)", "rejected": "\(input.rejected)",
                ])
        }
        return try Self.reply(job, result.0, sync: result.1, rejected: (input.rejected, input.issues))
    }

    /// The registry's health after a sync, as the server's own crawler records it.
    static func setHealth(
        _ id: String, status: HealthStatus, score: Int?, error: String?, synced: Bool, now: Date, in db: Database
    ) throws {
        let ts = Timestamp.format(now)
        try db.execute(
            sql: """
                UPDATE registries SET health_status = ?, health_score = COALESCE(?, health_score), health_last_error = ?,
                    last_sync_at = CASE WHEN ? THEN ? ELSE last_sync_at END,
                    last_sync_ok_at = CASE WHEN ? AND ? IN ('healthy', 'degraded') THEN ? ELSE last_sync_ok_at END
                WHERE id = ?
                """,
            arguments: [status.rawValue, score, error, synced || status == .unhealthy, ts, synced, status.rawValue, ts, id])
    }

    // MARK: Scan results

    struct ScanInput: Sendable {
        var report: ImageScanReport
        var scanners: [ScannerRunRecord]?
    }

    static func scanInput(_ r: inout ObjectReader) -> ScanInput? {
        var scanners: [ScannerRunRecord]?
        if let v = r.object["scanners"], v != .null {
            guard case .array(let items) = v, items.count <= 10 else {
                r.fail("scanners", "Expected an array of at most 10 scanner runs.")
                return nil
            }
            var runs: [ScannerRunRecord] = []
            for (i, item) in items.enumerated() {
                guard case .object(let o) = item else { r.fail("scanners[\(i)]", "Expected an object."); continue }
                var s = ObjectReader(o, prefix: "scanners[\(i)]")
                s.rejectUnknown(allowed: ["name", "status", "version", "durationMs", "error"])
                let name = s.enumValue("name", ScannerName.self, required: true)
                let status = s.string("status", required: true)
                if let status, !["ok", "failed", "unavailable"].contains(status) {
                    s.fail("status", "Must be one of: ok, failed, unavailable.")
                }
                let version = s.string("version", maxLength: 200)
                let error = s.string("error", maxLength: 4000)
                var ms = 0
                if let d = s.object["durationMs"] {
                    if case .number(let n) = d, n >= 0, n < 1e12 { ms = Int(n) } else { s.fail("durationMs", "Must be a non-negative number.") }
                }
                let ok = s.issues.isEmpty
                r.absorb(s)
                if ok, let name, let status {
                    runs.append(ScannerRunRecord(name: name.rawValue, status: status, version: version, durationMs: ms, error: error))
                }
            }
            scanners = runs
        }
        guard let value = r.object["report"] else {
            r.fail("report", "Required.")
            return nil
        }
        let report: ImageScanReport
        do {
            report = try JSONDecoder().decode(ImageScanReport.self, from: try JSONEncoder().encode(value))
        } catch let DecodingError.keyNotFound(key, ctx) {
            r.fail("report." + (ctx.codingPath.map(\.stringValue) + [key.stringValue]).joined(separator: "."), "Required.")
            return nil
        } catch let DecodingError.typeMismatch(_, ctx), let DecodingError.valueNotFound(_, ctx), let DecodingError.dataCorrupted(ctx) {
            r.fail("report" + ctx.codingPath.map { "." + $0.stringValue }.joined(), "Invalid value.")
            return nil
        } catch {
            r.fail("report", "Not an image scan report.")
            return nil
        }
        if !ReceivedTag.isDigest(report.digest) { r.fail("report.digest", ReceivedTag.digestMessage) }
        if !ReceivedTag.isDigest(report.manifestDigest) { r.fail("report.manifestDigest", ReceivedTag.digestMessage) }
        if Platform(parsing: report.platform) == nil { r.fail("report.platform", "Expected os/arch[/variant].") }
        if report.packages.count > 500_000 { r.fail("report.packages", "At most 500000 packages.") }
        return ScanInput(report: report, scanners: scanners)
    }

    func recordScan(_ job: Job, registry: RegistryRecord, owner: String, attempt: Int?, input: ScanInput) async throws -> Response {
        guard let request = try? JSONDecoder().decode(ScanRequest.self, from: Data(job.payload.utf8)), let scanId = request.scanId
        else { throw APIError.conflict("The job has no scan to record.") }
        // Findings are the server's own: the inventory is matched here. What external
        // scanners found is kept with its sources; nothing may claim to be the native matcher's.
        var report = input.report
        var notes = report.notes
        let external = report.findings.filter { !$0.sources.isEmpty && !$0.sources.contains("native") }
        var matched: [Finding] = []
        if let vulndb = s.vulnDB {
            matched = try VulnerabilityMatcher(database: vulndb).match(ImageInventory(os: report.os, packages: report.packages))
            if (try? vulndb.status().advisories) ?? 0 == 0 {
                notes.insert("The vulnerability database is empty: packages were inventoried but not matched. Run `harborguard db import` or `db update`.", at: 0)
            }
        } else {
            notes.insert("No vulnerability database is configured: packages were inventoried but not matched.", at: 0)
        }
        report.findings = matched + external
        let runs = input.scanners ?? [ScannerRunRecord(
            name: "native", status: "ok", version: "harborguard-analyzer/\(LayerAnalysis.analyzerVersion)",
            durationMs: report.durationMs, error: nil)]
        let now = s.now
        let host = ScanStore.host(ofRegistryURL: registry.url)
        let runner = ScanRunner(services: s, crawler: crawler)
        let scanned = report
        let allNotes = notes
        let outcome: Outcome = try await s.db.writer.write { db in
            if let state = try Self.leaseState(job.id, owner: owner, attempt: attempt, in: db) { return state }
            let ok = try ScanStore.complete(
                scanId, report: scanned, scanners: runs, notes: allNotes, registryHost: host,
                inventoryKey: "sensor:\(registry.id):\(scanned.manifestDigest)", now: now, in: db)
            if ok, let fresh = try RegistryRecord.fetch(db, id: registry.id, org: registry.orgId) {
                try runner.followUp(request, scanned: scanned.digest, registry: fresh, host: host, now: now, in: db)
            }
            struct Summary: Encodable { var scanId: String, digest: String, packages: Int, findings: Int, recorded: Bool }
            let summary = Summary(
                scanId: scanId, digest: scanned.digest, packages: scanned.packages.count, findings: scanned.findings.count,
                recorded: ok)
            _ = try JobStore.complete(
                job.id, owner: owner, result: String(decoding: try JSONCoding.encoder.encode(summary), as: UTF8.self), now: now,
                in: db)
            return .recorded("succeeded")
        }
        if case .recorded = outcome {
            s.logger.info(
                "sensor scan recorded",
                metadata: ["scan": "\(scanId)", "packages": "\(scanned.packages.count)", "findings": "\(scanned.findings.count)"])
        }
        return try Self.reply(job, outcome, scanId: scanId, findings: scanned.findings.count)
    }

    // MARK: - Status

    @Sendable func status(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await s.authorize(req, .viewer, reach: .registry)
        guard let id = ctx.parameters.get("registryId"), p.reaches(registry: id),
              let registry = try await s.db.writer.read({ db in try RegistryRecord.fetch(db, id: id, org: p.orgId) })
        else { throw APIError.notFound("Registry") }
        let now = s.now
        let settings = self.settings
        struct Sensor: Encodable { var name: String, version: String, hostname: String }
        struct Jobs: Encodable { var queued: Int, running: Int }
        struct Status: Encodable {
            var registryId: String
            var scanMethod: String
            var status: String
            var name: String?
            var version: String?
            var hostname: String?
            var sensor: Sensor?
            var lastHeartbeatAt: String?
            var offlineAfterSeconds: Int
            var jobs: Jobs

            func encode(to encoder: any Encoder) throws {
                var c = encoder.container(keyedBy: CodingKeys.self)
                try c.encode(registryId, forKey: .registryId)
                try c.encode(scanMethod, forKey: .scanMethod)
                try c.encode(status, forKey: .status)
                try c.encode(name, forKey: .name)
                try c.encode(version, forKey: .version)
                try c.encode(hostname, forKey: .hostname)
                try c.encode(sensor, forKey: .sensor)
                try c.encode(lastHeartbeatAt, forKey: .lastHeartbeatAt)
                try c.encode(offlineAfterSeconds, forKey: .offlineAfterSeconds)
                try c.encode(jobs, forKey: .jobs)
            }
            enum CodingKeys: String, CodingKey {
                case registryId, scanMethod, status, name, version, hostname, sensor, lastHeartbeatAt, offlineAfterSeconds, jobs
            }
        }
        let out: Status = try await s.db.writer.write { db in
            let ts = Timestamp.format(now)
            let types = SensorSettings.jobTypes.sorted()
            let queued = try Int.fetchOne(
                db, sql: "SELECT COUNT(*) FROM jobs WHERE concurrency_key = ? AND status = 'queued' AND type IN (?, ?)",
                arguments: [registry.id, types[0], types[1]]) ?? 0
            let running = try Int.fetchOne(
                db,
                sql: "SELECT COUNT(*) FROM jobs WHERE concurrency_key = ? AND status = 'running' AND lease_expires_at > ? AND type IN (?, ?)",
                arguments: [registry.id, ts, types[0], types[1]]) ?? 0
            var status = Status(
                registryId: registry.id, scanMethod: registry.scanMethod.rawValue, status: "not_applicable",
                offlineAfterSeconds: Int(settings.offlineAfter), jobs: Jobs(queued: queued, running: running))
            guard registry.scanMethod == .sensor else { return status }
            guard let row = try Row.fetchOne(
                db, sql: "SELECT name, version, hostname, last_heartbeat_at FROM sensors WHERE registry_id = ?", arguments: [registry.id])
            else {
                status.status = "never_connected"
                return status
            }
            let last: String = row["last_heartbeat_at"]
            status.name = row["name"]
            status.version = row["version"]
            status.hostname = row["hostname"]
            status.sensor = Sensor(name: row["name"], version: row["version"], hostname: row["hostname"])
            status.lastHeartbeatAt = last
            // The same comparison as `markOffline`, so the status and the health never disagree.
            if last < Timestamp.format(now.addingTimeInterval(-settings.offlineAfter)) {
                status.status = "offline"
                // The registry's health follows at once, not only at the scheduler's next tick.
                try settings.markOffline(now: now, in: db)
            } else {
                status.status = running > 0 ? "scanning" : "online"
            }
            return status
        }
        return try Reply.data(out)
    }
}
