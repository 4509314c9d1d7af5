public import Cron
public import Foundation
import GRDB
import Store

/// The scanning policy (README, Scheduler), decided from what the database says (so a restart or
/// a scheduler that was down for days changes nothing: what is due is enqueued once).
///
/// - `daily` / `weekly`: sync when the last successful sync is older than 24 h / 7 d (plus a
///   per-registry jitter of up to 5% of the period, so a thousand daily registries do not
///   all fire at once), and rescan every tag whose last scan is older than the period.
/// - `on_push`: tags are scanned when a sync or a push event shows a new digest (SyncStore).
/// - `manual`: never by itself.
public struct SchedulePolicy: Sendable {
    public struct Outcome: Sendable, Hashable, Codable {
        public var registries = 0
        public var syncsEnqueued = 0
        public var scansEnqueued = 0
        public var skipped = 0
        public var enqueued: Int { syncsEnqueued + scansEnqueued }
    }

    /// Scans enqueued per run at most; the rest are due again on the next tick.
    public var maxScansPerRun = 5_000

    public init() {}

    static func period(_ schedule: Schedule) -> TimeInterval? {
        switch schedule {
        case .daily: 86_400
        case .weekly: 7 * 86_400
        case .manual, .onPush: nil
        }
    }

    /// A stable per-registry offset in [0, max): FNV-1a of the id.
    public static func jitter(_ id: String, max: TimeInterval) -> TimeInterval {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in id.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return max <= 1 ? 0 : TimeInterval(h % UInt64(max))
    }

    /// Runs the policy for one organization (or all) at `now`, inside the caller's transaction.
    public func apply(orgId: String?, now: Date, in db: any SQLConnection) throws -> Outcome {
        var outcome = Outcome()
        var due: [String: RegistryRecord] = [:]
        var hosts: [String: String] = [:]
        for r in try RegistryRepository.registries(db, org: orgId) {
            outcome.registries += 1
            guard let period = Self.period(r.schedule) else { outcome.skipped += 1; continue }
            due[r.id] = r
            hosts[r.id] = ScanRepository.host(ofRegistryURL: r.url)
            let lastOK = r.lastSyncOkAt
            let dueAt: Date
            if let lastOK {
                dueAt = lastOK.addingTimeInterval(period + Self.jitter(r.id, max: period / 20))
            } else {
                // Never synced: soon, but spread over five minutes from creation.
                let created = r.createdAt
                dueAt = created.addingTimeInterval(Self.jitter(r.id, max: 300))
            }
            guard now >= dueAt else { continue }
            let (_, created) = try JobStore.enqueue(
                try NewJob(.sync(r.scanMethod), SyncJobPayload(registryId: r.id), orgId: r.orgId, concurrencyKey: r.id,
                           dedupeKey: "sync:\(r.id)", maxAttempts: 3),
                now: now, in: db)
            if created { outcome.syncsEnqueued += 1 } else { outcome.skipped += 1 }
        }
        guard !due.isEmpty else { return outcome }
        // Tags whose last scan is older than their registry's period and that have no scan
        // queued or running (the jobs table's dedupe index answers that).
        let stale = try ImageRepository.staleTags(
            db, org: orgId, dailyCutoff: now.addingTimeInterval(-86_400), weeklyCutoff: now.addingTimeInterval(-7 * 86_400),
            limit: maxScansPerRun)
        var filters: [String: TagFilter?] = [:]
        for row in stale {
            let registryId = row.registryId
            guard let r = due[registryId] else { continue }
            let filter = filters[registryId] ?? (try? TagFilter(include: r.tagInclude, exclude: r.tagExclude))
            filters[registryId] = filter
            let tag = row.tag
            if let filter, !filter.allows(tag) { outcome.skipped += 1; continue }
            let request = ScanRequest(
                registryId: registryId, repository: row.repository, tag: tag, digest: row.digest, trigger: "schedule")
            if try SyncStore.enqueueScan(request, orgId: r.orgId, now: now, registryHost: hosts[registryId], in: db).enqueued {
                outcome.scansEnqueued += 1
            } else {
                outcome.skipped += 1
            }
        }
        return outcome
    }
}
