import Cron
import Foundation
import GRDB
import Logging
import Registry
import Scan
import Store

/// The sensor protocol's domain operations: a sensor runs next to a registry the appliance
/// cannot reach, with credentials only it holds. It authenticates with its registry's
/// `sensorApiKey`, claims that registry's `sensor_sync` and `sensor_scan` jobs under a lease,
/// does the work, and posts the result: a tag inventory, or an image inventory the server
/// matches against its own vulnerability database. The API's routes (`SensorRoutes`) decode
/// and encode; the checks, the state and the answers are here.
///
/// Database work goes through `AppDatabase.read/write` (off the cooperative pool), and so
/// does matching a posted inventory (see `recordScan`).
struct SensorService: Sendable {
    let s: AppServices
    let crawler: Crawler
    var settings: SensorSettings = .fromEnvironment

    /// A sensor key and the registry it serves: the caller of every sensor operation.
    struct Sensor: Sendable {
        var principal: Principal
        var registry: RegistryRecord
        /// Every lease of a registry's jobs is held in the registry's name.
        var owner: String { SensorService.owner(registry.id) }
    }

    static func owner(_ registryId: String) -> String { "sensor:\(registryId)" }

    // MARK: - Authorization

    /// The authorization step of the sensor endpoints. A sensor key is its own kind of
    /// principal (`Principal.authorize` refuses it everywhere else): the caller must be a
    /// sensor key whose registry exists and is scanned by a sensor. Everything else is 403.
    func sensor(_ p: Principal) async throws -> Sensor {
        guard p.kind == .sensorKey, let id = p.sensorRegistryId else { throw APIError.forbidden }
        guard let r = try await s.db.read({ db in try RegistryRepository.registry(db, id: id, org: p.orgId) }),
              r.scanMethod == .sensor
        else { throw APIError.forbidden }
        return Sensor(principal: p, registry: r)
    }

    /// A job of this registry's sensor, or 404 (another registry's job looks like no job).
    func job(_ id: String?, of sensor: Sensor) async throws -> Job {
        guard let id, let job = try await s.jobs.get(id),
              job.concurrencyKey == sensor.registry.id, let kind = job.kind, JobKind.sensorKinds.contains(kind)
        else { throw APIError.notFound("Job") }
        return job
    }

    // MARK: - Heartbeat

    func heartbeat(_ sensor: Sensor, _ beat: SensorHeartbeat) async throws -> SensorHeartbeatReply {
        let registry = sensor.registry
        let keyId = sensor.principal.id
        let now = s.now
        let cameBack = try await s.db.write { db in
            let wasOffline = try SensorRepository.isOffline(db, registryId: registry.id)
            try SensorRepository.recordHeartbeat(
                db, registryId: registry.id, keyId: keyId, name: beat.name, version: beat.version, hostname: beat.hostname,
                now: now)
            // Back online: the health the last sync earned, without the outage's error.
            if wasOffline { try SensorRepository.restoreHealthAfterOutage(db, registryId: registry.id) }
            return wasOffline
        }
        if cameBack { s.logger.info("sensor back online", metadata: ["registry": "\(registry.id)"]) }
        return SensorHeartbeatReply(registryId: registry.id, pollIntervalSeconds: settings.pollInterval)
    }

    // MARK: - Claim, renew, release

    /// Leases up to `max` of the registry's sensor jobs for `lease` seconds.
    func claim(_ sensor: Sensor, max limit: Int, lease: TimeInterval) async throws -> [SensorClaimedJob] {
        let registry = sensor.registry
        let now = s.now
        let owner = sensor.owner
        let backoff = s.jobs.backoff
        let host = ScanRepository.host(ofRegistryURL: registry.url)
        let target = SensorClaimedJob.RegistryTarget(
            id: registry.id, url: registry.url, provider: registry.provider.rawValue, insecure: registry.insecure)
        let claimed: [SensorClaimedJob] = try await s.db.write { db in
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
                            job.id, owner: owner, error: "malformed scan payload", permanent: true, backoff: backoff, unit: 0,
                            now: now, in: db)
                        continue
                    }
                    if request.scanId == nil {
                        // Queued before scans had rows.
                        request.scanId = IDs.make("scn")
                        try ScanRepository.insertScan(
                            id: request.scanId!, request: request, orgId: registry.orgId, jobId: job.id, registryHost: host,
                            now: now, in: db)
                        try SyncStore.writePayload(request, jobId: job.id, in: db)
                    }
                    guard try ScanRepository.markRunning(request.scanId!, now: now, in: db) else {
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
        return claimed
    }

    func renew(_ sensor: Sensor, _ job: Job, lease: TimeInterval) async throws -> SensorRenewed {
        let now = s.now
        let owner = sensor.owner
        guard let expires = try await s.db.write({ db in
            try JobStore.renew(job.id, owner: owner, lease: lease, now: now, in: db)
        }) else {
            throw APIError.conflict("The job is not leased to this sensor any more (cancelled, finished or reclaimed).")
        }
        return SensorRenewed(id: job.id, leaseExpiresAt: expires)
    }

    /// Hands an unfinished job back (a sensor shutting down): queued again, the attempt not counted.
    func release(_ sensor: Sensor, _ job: Job) async throws -> SensorReleased {
        let owner = sensor.owner
        let released = try await s.db.write { db in
            guard try JobStore.release(job.id, owner: owner, in: db) else { return false }
            if job.kind == .sensorScan, let scanId = Self.scanId(of: job) {
                try SensorRepository.requeueRunningScan(db, scanId: scanId)
            }
            return true
        }
        guard released else { throw APIError.conflict("The job is not leased to this sensor.") }
        return SensorReleased(id: job.id, status: "queued")
    }

    static func scanId(of job: Job) -> String? {
        (try? TypedJobKind.sensorScan.payload(of: job))?.scanId
    }
}
