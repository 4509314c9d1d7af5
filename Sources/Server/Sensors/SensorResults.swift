import Cron
import Foundation
import GRDB
import Logging
import Registry
import Scan
import Store

/// Recording what a sensor posts: a failure, a sync's tag inventory, or a scan's image
/// inventory (matched here against the server's own vulnerability database).
extension SensorService {
    // MARK: - Results

    enum Outcome: Sendable {
        case recorded(String)
        /// The job was already finished: a retried post of a result that was recorded.
        case duplicate(String)
        case notLeased
    }

    /// Decides, inside the recording transaction, whether this post may record anything.
    static func leaseState(_ jobId: String, owner: String, attempt: Int?, in db: any SQLConnection) throws -> Outcome? {
        guard let job = try JobStore.get(jobId, in: db) else { return .notLeased }
        switch job.status {
        case .succeeded, .failed: return .duplicate(job.status.rawValue)
        case .running where job.leaseOwner == owner && (attempt == nil || attempt == job.attempts): return nil
        default: return .notLeased
        }
    }

    static func reply(
        _ job: Job, _ outcome: Outcome, scanId: String? = nil, sync: SyncOutcome? = nil, findings: Int? = nil,
        rejected: (count: Int, issues: [ValidationIssue])? = nil
    ) throws -> SensorResultReply {
        switch outcome {
        case .notLeased:
            throw APIError.conflict("The job is not leased to this sensor (cancelled, released or reclaimed).")
        case .duplicate(let status):
            return SensorResultReply(jobId: job.id, status: status, recorded: false, scanId: scanId)
        case .recorded(let status):
            return SensorResultReply(
                jobId: job.id, status: status, recorded: true, scanId: scanId, sync: sync, findings: findings,
                rejected: rejected?.count, issues: rejected?.issues)
        }
    }

    func recordFailure(_ sensor: Sensor, _ job: Job, attempt: Int?, error: String, retryable: Bool) async throws -> SensorResultReply {
        let registry = sensor.registry
        let owner = sensor.owner
        let now = s.now
        let backoff = s.jobs.backoff
        let scanId = Self.scanId(of: job)
        let unit = Double.random(in: 0..<1)
        let outcome: Outcome = try await s.db.write { db in
            if let state = try Self.leaseState(job.id, owner: owner, attempt: attempt, in: db) { return state }
            let next = try JobStore.fail(job.id, owner: owner, error: error, permanent: !retryable, backoff: backoff, unit: unit, now: now, in: db)
            if job.kind == .sensorSync {
                try RegistryRepository.setHealth(db, id: registry.id, status: .unhealthy, score: 0, error: error, synced: false, now: now)
            } else if let scanId {
                if next == .queued {
                    try ScanRepository.markRetrying(scanId, error: error, in: db)
                } else {
                    try ScanRecording.markFailed(scanId, error: error, durationMs: nil, scanners: nil, now: now, in: db)
                }
            }
            return .recorded(next?.rawValue ?? "failed")
        }
        return try Self.reply(job, outcome, scanId: scanId)
    }

    // MARK: Sync results

    func recordSync(_ sensor: Sensor, _ job: Job, attempt: Int?, input: SyncInput) async throws -> SensorResultReply {
        let registry = sensor.registry
        let owner = sensor.owner
        let now = s.now
        let host = ScanRepository.host(ofRegistryURL: registry.url)
        let filter = try? TagFilter(include: registry.tagInclude, exclude: registry.tagExclude)
        // The registry's filters hold whatever the sensor listed.
        let found = input.tags.filter { filter?.allows($0.tag) ?? true }
        let failed = input.failedRepositories
        let total = max(input.repositories ?? 0, Set(found.map(\.repository)).count + failed.count)
        let result: (Outcome, SyncOutcome?) = try await s.db.write { db in
            if let state = try Self.leaseState(job.id, owner: owner, attempt: attempt, in: db) { return (state, nil) }
            guard let fresh = try RegistryRepository.registry(db, id: registry.id, org: registry.orgId) else { return (.notLeased, nil) }
            // Repositories the sensor could not list keep what was recorded before.
            var all = found
            for repo in failed {
                all += try ImageRepository.tags(db, registryId: registry.id, repository: repo)
                    .map { DiscoveredTag(repository: repo, tag: $0.name, digest: $0.digest) }
            }
            let applied = try SyncStore.apply(all, registry: fresh, registryHost: host, now: now, in: db)
            let score = total == 0 ? 100 : 100 * (total - failed.count) / total
            let status: HealthStatus = failed.isEmpty ? .healthy : (score >= 50 ? .degraded : .unhealthy)
            let error = failed.isEmpty ? nil : "\(failed.count) of \(total) repositories could not be listed; first: \(failed[0])"
            try RegistryRepository.setHealth(db, id: registry.id, status: status, score: score, error: error, synced: true, now: now)
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

    // MARK: Scan results

    /// Findings of a posted inventory: the server's own matcher against its vulnerability
    /// database, and notes when there is nothing to match against. Matching an inventory of
    /// up to 500,000 packages reads the vulnerability database synchronously for a long
    /// time, so it runs inside `AppDatabase.read`: on GRDB's reader queue, never on a
    /// Swift-concurrency thread (the snapshot of the app database it holds is not used).
    func match(_ report: ImageScanReport) async throws -> (findings: [Finding], notes: [String]) {
        guard let vulndb = s.vulnDB else {
            return ([], ["No vulnerability database is configured: packages were inventoried but not matched."])
        }
        // Matching runs on the vulnerability database's reader, off the cooperative pool.
        let inventory = ImageInventory(os: report.os, packages: report.packages)
        let matched = try await s.matchingCurrentRelease { try await VulnerabilityMatcher(database: vulndb).match(inventory) }
        let empty = (try? await vulndb.status().advisories) ?? 0 == 0
        let note = "The vulnerability database is empty: packages were inventoried but not matched. Run `harborguard db import` or `db update`."
        return (matched, empty ? [note] : [])
    }

    func recordScan(_ sensor: Sensor, _ job: Job, attempt: Int?, input: ScanInput) async throws -> SensorResultReply {
        guard let request = try? TypedJobKind.sensorScan.payload(of: job), let scanId = request.scanId
        else { throw APIError.conflict("The job has no scan to record.") }
        let registry = sensor.registry
        let owner = sensor.owner
        // Findings are the server's own: the inventory is matched here. What external
        // scanners found is kept with its sources; nothing may claim to be the native matcher's.
        var report = input.report
        let external = report.findings.filter { !$0.sources.isEmpty && !$0.sources.contains("native") }
        let (matched, notes) = try await match(report)
        report.findings = matched + external
        let runs = input.scanners ?? [ScannerRunRecord(
            name: "native", status: "ok", version: "harborguard-analyzer/\(LayerAnalysis.analyzerVersion)",
            durationMs: report.durationMs, error: nil)]
        let now = s.now
        let host = ScanRepository.host(ofRegistryURL: registry.url)
        let runner = ScanRunner(services: s, crawler: crawler)
        let scanned = report
        let allNotes = notes + report.notes
        let enrichment = await s.policyEnrichment()
        let outcome: Outcome = try await s.db.write { db in
            if let state = try Self.leaseState(job.id, owner: owner, attempt: attempt, in: db) { return state }
            let ok = try ScanRecording.complete(
                scanId, report: scanned, scanners: runs, notes: allNotes, registryHost: host,
                inventoryKey: "sensor:\(registry.id):\(scanned.manifestDigest)", enrichment: enrichment, now: now, in: db)
            if ok, let fresh = try RegistryRepository.registry(db, id: registry.id, org: registry.orgId) {
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
}
