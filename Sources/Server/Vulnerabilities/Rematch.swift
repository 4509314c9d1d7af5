public import Cron
public import Foundation
public import GRDB
import Logging
public import Scan
public import Store

/// The `rematch` job: after the vulnerability database changes, match every stored
/// inventory (the latest scan of each tag) again without pulling anything, and record a
/// new scan wherever the findings changed.
extension ScanRunner {
    /// What a rematch did.
    public struct RematchSummary: Sendable, Codable, Hashable {
        public var inventories = 0
        public var changed = 0
        public var newFindings = 0
        public var resolvedFindings = 0
        public var missingInventories = 0
        /// Scans whose findings stayed the same but were re-ranked (severity, EPSS, KEV,
        /// priority, the tracker's fix state), rewritten in place.
        public var reranked = 0
        /// CVE-watch events emitted (`finding_new`, `finding_escalated`, `finding_resolved`).
        public var alerts = 0
    }

    /// What a rematch does with one scan's findings.
    public enum RematchChange: Sendable, Hashable {
        /// Nothing changed.
        case none
        /// The same (vulnerability, package, version) findings, only what the enrichment
        /// feeds decide changed: rewrite them in place.
        case reranked
        /// Findings appeared, disappeared or changed otherwise: record a new scan.
        case changed(added: Int, resolved: Int)
    }

    /// Compares a scan's stored findings with a fresh match.
    public static func rematchChange(before: [Finding], after: [Finding]) -> RematchChange {
        func key(_ f: Finding) -> String { "\(f.vulnerabilityId)|\(f.package.name)|\(f.package.version)" }
        let keysBefore = Set(before.map(key))
        let keysAfter = Set(after.map(key))
        let added = keysAfter.subtracting(keysBefore).count
        let resolved = keysBefore.subtracting(keysAfter).count
        if added > 0 || resolved > 0 { return .changed(added: added, resolved: resolved) }
        if Set(before) == Set(after) { return .none }
        /// The finding without what the enrichment feeds decide.
        func stripped(_ f: Finding) -> Finding {
            var f = f
            f.severity = .unknown
            f.severitySource = nil
            f.cvssRating = nil
            f.epss = nil
            f.kev = nil
            f.priority = nil
            if f.fixState == .wontFix || f.fixState == .notFixed { f.fixState = .notFixed }
            return f
        }
        return Set(before.map(stripped)) == Set(after.map(stripped)) ? .reranked : .changed(added: 0, resolved: 0)
    }

    /// Enqueues a rematch (one queued or running at a time).
    @discardableResult
    public static func enqueueRematch(reason: String, orgId: String? = nil, now: Date, in db: Database) throws -> Job {
        try JobStore.enqueue(
            try NewJob(
                .rematch, RematchJobPayload(orgId: orgId, reason: reason), orgId: orgId, dedupeKey: "rematch:\(orgId ?? "*")",
                maxAttempts: 3),
            now: now, in: db
        ).job
    }

    /// For `db import`/`db update` on the command line: queue a rematch in the appliance
    /// database of `dataDir` (the running server picks it up); nil when there is none.
    public static func enqueueRematch(dataDir: DataDirectory, reason: String) throws -> Job? {
        guard dataDir.exists else { return nil }
        let db = try AppDatabase.open(path: dataDir.databasePath)
        return try db.writer.write { db in try enqueueRematch(reason: reason, now: Date(), in: db) }
    }

    /// Images matched at once: reading, matching and encoding run on both cores while one
    /// image's findings are written (the writer serializes the writes).
    static let rematchWidth = 4

    public func rematch(_ context: JobContext, _ payload: RematchJobPayload) async throws -> String? {
        guard let vulndb = services.vulnDB else { throw PermanentJobError("no vulnerability database is configured") }
        let org = payload.orgId
        let ids: [String] = try await services.db.read { db in
            try ScanRepository.latestTagScanIds(orgId: org, in: db)
        }
        var summary = RematchSummary()
        let matcher = VulnerabilityMatcher(database: vulndb)
        await context.progress(done: 0, total: ids.count)
        try await withThrowingTaskGroup(of: RematchSummary.self) { group in
            var next = 0
            var done = 0
            func start() {
                guard next < ids.count else { return }
                let id = ids[next]
                next += 1
                group.addTask { try await self.rematchOne(scanId: id, matcher: matcher) }
            }
            for _ in 0..<Self.rematchWidth { start() }
            while let one = try await group.next() {
                summary.inventories += one.inventories
                summary.missingInventories += one.missingInventories
                summary.changed += one.changed
                summary.newFindings += one.newFindings
                summary.resolvedFindings += one.resolvedFindings
                summary.reranked += one.reranked
                summary.alerts += one.alerts
                done += 1
                if done % 20 == 0 { await context.progress(done: done, total: ids.count) }
                try Task.checkCancellation()
                start()
            }
        }
        await context.progress(done: ids.count, total: ids.count)
        context.logger.info(
            "rematch done",
            metadata: ["inventories": "\(summary.inventories)", "changed": "\(summary.changed)", "reranked": "\(summary.reranked)", "alerts": "\(summary.alerts)", "new": "\(summary.newFindings)",
                       "resolved": "\(summary.resolvedFindings)"])
        return String(decoding: try JSONCoding.encoder.encode(summary), as: UTF8.self)
    }

    /// One scan of the rematch: its stored inventory matched again, and what changed recorded
    /// (a new scan where findings appear or disappear, the findings rewritten in place where
    /// only the priority data moved). Returns its share of the summary.
    private func rematchOne(scanId id: String, matcher: VulnerabilityMatcher) async throws -> RematchSummary {
        struct Loaded: Sendable {
            var target: ScanRepository.RematchTarget, findings: [Finding], inventory: ImageInventory?, watched: Bool
        }
        var summary = RematchSummary()
        let loaded: Loaded? = try await services.db.read { db in
            guard let target = try ScanRepository.rematchTarget(id, in: db) else { return nil }
            return Loaded(
                target: target, findings: try ScanRepository.findings(scanId: id, in: db),
                inventory: try ScanRepository.inventory(digest: target.manifestDigest, in: db),
                watched: try CVEWatch.subscribed(orgId: target.orgId, in: db))
        }
        guard let loaded else { return summary }
        let target = loaded.target
        guard let inventory = loaded.inventory else { summary.missingInventories += 1; return summary }
        summary.inventories += 1
        let matched = try await matcher.match(inventory)
        // Findings only external scanners reported stay as they were.
        let kept = loaded.findings.filter { !$0.sources.contains("native") }
        let next = matched + kept
        let now = services.now
        let enrichment = await services.policyEnrichment()
        let change = Self.rematchChange(before: loaded.findings, after: next)
        // The CVE watch, computed outside the write transaction and only when a channel listens.
        let alerts = loaded.watched && change != .none ? CVEWatch.alerts(before: loaded.findings, after: next) : []
        let watch: @Sendable (Database) throws -> Int = { db in
            try CVEWatch.record(
                alerts, orgId: target.orgId, imageId: target.imageId, reference: target.reference,
                digest: target.manifestDigest, now: now, in: db)
        }
        switch change {
        case .none:
            // The same findings: the verdict is re-evaluated all the same (exceptions may have
            // expired, policies changed).
            try await services.db.write { db in
                try PolicyRecording.record(scanId: id, enrichment: enrichment, now: now, in: db)
            }
        case .reranked:
            // EPSS moves daily for nearly every CVE: re-ranking rewrites the scan's
            // findings in place instead of recording a new scan per image per day.
            summary.reranked += 1
            let prepared = try ScanRepository.PreparedFindings(next)
            summary.alerts += try await services.db.write { db in
                try ScanRepository.rerankFindings(scanId: id, prepared: prepared, orgId: target.orgId, now: now, in: db)
                try PolicyRecording.record(scanId: id, enrichment: enrichment, now: now, in: db)
                return try watch(db)
            }
        case .changed(let added, let resolved):
            summary.changed += 1
            summary.newFindings += added
            summary.resolvedFindings += resolved
            summary.alerts += try await services.db.write { db in
                if let newId = try ScanRepository.recordRematch(
                    of: id, findings: next, added: added, resolved: resolved, now: now, in: db)
                {
                    try PolicyRecording.record(scanId: newId, enrichment: enrichment, now: now, in: db)
                }
                return try watch(db)
            }
        }
        return summary
    }
}
