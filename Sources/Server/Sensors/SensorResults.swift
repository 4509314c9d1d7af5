import Cron
import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import Logging
import Registry
import Scan
import Store

/// Recording what a sensor posts: a failure, a sync's tag inventory, or a scan's image
/// inventory (matched here against the server's own vulnerability database).
extension SensorRoutes {
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
        let common = SensorResult.commonFields
        let owner = Self.owner(registry.id)
        if status == "failed" {
            r.rejectUnknown(allowed: common.union(job.kind == .sensorSync ? SensorResult.syncFields : SensorResult.scanFields))
            try r.check()
            return try await recordFailure(job, registry: registry, owner: owner, attempt: attempt, error: error ?? "the sensor reported a failure",
                                           retryable: retryable ?? (job.kind == .sensorSync))
        }
        if job.kind == .sensorSync {
            r.rejectUnknown(allowed: common.union(SensorResult.syncFields))
            let input = Self.syncInput(&r)
            try r.check()
            return try await recordSync(job, registry: registry, owner: owner, attempt: attempt, input: input)
        }
        r.rejectUnknown(allowed: common.union(SensorResult.scanFields))
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
            return try Reply.data(SensorResultReply(jobId: job.id, status: status, recorded: false, scanId: scanId))
        case .recorded(let status):
            return try Reply.data(SensorResultReply(
                jobId: job.id, status: status, recorded: true, scanId: scanId, sync: sync, findings: findings,
                rejected: rejected?.count, issues: rejected?.issues))
        }
    }

    static func scanId(of job: Job) -> String? {
        (try? TypedJobKind.sensorScan.payload(of: job))?.scanId
    }

    func recordFailure(_ job: Job, registry: RegistryRecord, owner: String, attempt: Int?, error: String, retryable: Bool)
        async throws -> Response
    {
        let now = s.now
        let backoff = s.jobs.backoff
        let scanId = Self.scanId(of: job)
        let unit = Double.random(in: 0..<1)
        let outcome: Outcome = try await s.db.writer.write { db in
            if let state = try Self.leaseState(job.id, owner: owner, attempt: attempt, in: db) { return state }
            let next = try JobStore.fail(job.id, owner: owner, error: error, permanent: !retryable, backoff: backoff, unit: unit, now: now, in: db)
            if job.kind == .sensorSync {
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
                t.rejectUnknown(allowed: SensorResult.tagFields)
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
        guard let request = try? TypedJobKind.sensorScan.payload(of: job), let scanId = request.scanId
        else { throw APIError.conflict("The job has no scan to record.") }
        // Findings are the server's own: the inventory is matched here. What external
        // scanners found is kept with its sources; nothing may claim to be the native matcher's.
        var report = input.report
        var notes = report.notes
        let external = report.findings.filter { !$0.sources.isEmpty && !$0.sources.contains("native") }
        var matched: [Finding] = []
        if let vulndb = s.vulnDB {
            matched = try await VulnerabilityMatcher(database: vulndb).match(ImageInventory(os: report.os, packages: report.packages))
            if (try? await vulndb.status().advisories) ?? 0 == 0 {
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
}
