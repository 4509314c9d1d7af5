public import Cron
public import Foundation
import GRDB
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

    /// What a rematch writes for one scan.
    package enum RematchPlan: Sendable {
        case unchanged
        /// The same findings; these rows' enrichment moved (encoded, ready to write).
        case update([ScanRepository.FindingUpdate])
        /// The same findings, compared whole (rows without digests): rewrite where they differ
        /// (`reranked`) or only fill the digests.
        case rewriteInPlace(ScanRepository.PreparedFindings, reranked: Bool)
        /// Findings appeared, disappeared or changed otherwise.
        case newScan(added: Int, resolved: Int)

        package var change: RematchChange {
            switch self {
            case .unchanged: .none
            case .update, .rewriteInPlace(_, reranked: true): .reranked
            case .rewriteInPlace(_, reranked: false): .none
            case .newScan(let added, let resolved): .changed(added: added, resolved: resolved)
            }
        }
    }

    /// Compares stored findings (keys and digests) with a fresh match; nil when the stored
    /// rows cannot be compared this way (a row without a digest, or a key twice), for the
    /// caller to compare whole findings.
    package static func plan(stored: [ScanRepository.StoredFinding], next: [Finding]) throws -> RematchPlan? {
        var old: [ScanRepository.FindingKey: ScanRepository.StoredFinding] = [:]
        old.reserveCapacity(stored.count)
        for row in stored {
            guard row.digest != nil, old.updateValue(row, forKey: row.key) == nil else { return nil }
        }
        var fresh: [(key: ScanRepository.FindingKey, finding: Finding, digest: Data)] = []
        fresh.reserveCapacity(next.count)
        var keys = Set<ScanRepository.FindingKey>()
        for f in next {
            var f = f
            f.priority = f.effectivePriority
            let key = ScanRepository.FindingKey(f)
            guard keys.insert(key).inserted else { return nil }
            fresh.append((key, f, FindingDigest.of(f)))
        }
        let added = fresh.count { old[$0.key] == nil }
        let resolved = stored.count { !keys.contains($0.key) }
        if added > 0 || resolved > 0 { return .newScan(added: added, resolved: resolved) }
        var changed: [(seq: Int, finding: Finding)] = []
        for f in fresh {
            guard let row = old[f.key], let digest = row.digest else { return nil }
            if digest == f.digest { continue }
            // What the match decides moved (a new fixed version, title, …): a new scan, as before.
            if FindingDigest.identity(digest) != FindingDigest.identity(f.digest) { return .newScan(added: 0, resolved: 0) }
            changed.append((row.seq, f.finding))
        }
        return changed.isEmpty ? .unchanged : .update(try changed.map { try ScanRepository.FindingUpdate(seq: $0.seq, finding: $0.finding) })
    }

    /// Enqueues a rematch (one queued or running at a time).
    @discardableResult
    public static func enqueueRematch(reason: String, orgId: String? = nil, now: Date, in db: any SQLConnection) throws -> Job {
        try JobStore.enqueue(
            try NewJob(
                .rematch, RematchJobPayload(orgId: orgId, reason: reason), orgId: orgId, dedupeKey: "rematch:\(orgId ?? "*")",
                maxAttempts: 3),
            now: now, in: db
        ).job
    }

    /// For `db import`/`db update` on the command line: queue a rematch in the appliance
    /// database of `dataDir` (the running server picks it up); nil when there is none.
    /// On PostgreSQL (`databaseURL`), the job goes into the shared queue.
    public static func enqueueRematch(dataDir: DataDirectory, databaseURL: String? = nil, reason: String) async throws -> Job? {
        guard databaseURL != nil || dataDir.exists else { return nil }
        return try await dataDir.openDatabase(databaseURL: databaseURL).closing { db in
            try await db.write { db in try enqueueRematch(reason: reason, now: Date(), in: db) }
        }
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
                group.addTask {
                    try await self.services.matchingCurrentRelease { try await self.rematchOne(scanId: id, matcher: matcher) }
                }
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
        if summary.alerts > 0 {
            // The watch's events waited for the whole rematch: one message per channel.
            let now = services.now
            try await services.db.write { db in try ChannelDigest.flushHeld(orgId: org, now: now, in: db) }
        }
        context.logger.info(
            "rematch done",
            metadata: ["inventories": "\(summary.inventories)", "changed": "\(summary.changed)", "reranked": "\(summary.reranked)", "alerts": "\(summary.alerts)", "new": "\(summary.newFindings)",
                       "resolved": "\(summary.resolvedFindings)"])
        return String(decoding: try JSONCoding.encoder.encode(summary), as: UTF8.self)
    }

    /// One scan of the rematch: its stored inventory matched again, and what changed recorded
    /// (a new scan where findings appear or disappear, the findings rewritten in place where
    /// only the priority data moved). Returns its share of the summary.
    ///
    /// The stored findings are compared by key and ``FindingDigest`` (columns, not their JSON):
    /// only findings whose digest moved are encoded and written. Rows from before digests existed
    /// take the slower path once (decoded and compared whole), which fills their digests.
    private func rematchOne(scanId id: String, matcher: VulnerabilityMatcher) async throws -> RematchSummary {
        struct Loaded: Sendable {
            var target: ScanRepository.RematchTarget, stored: [ScanRepository.StoredFinding], external: [Finding]
            var inventory: ImageInventory?, watched: Bool
        }
        var summary = RematchSummary()
        let loaded: Loaded? = try await services.db.read { db in
            guard let target = try ScanRepository.rematchTarget(id, in: db) else { return nil }
            let stored = try ScanRepository.storedFindings(scanId: id, in: db)
            return Loaded(
                target: target, stored: stored.rows, external: stored.external,
                inventory: try ScanRepository.inventory(digest: target.manifestDigest, in: db),
                watched: try CVEWatch.subscribed(orgId: target.orgId, in: db))
        }
        guard let loaded else { return summary }
        let target = loaded.target
        guard let inventory = loaded.inventory else { summary.missingInventories += 1; return summary }
        summary.inventories += 1
        // Findings only external scanners reported stay as they were.
        let next = try await matcher.match(inventory) + loaded.external
        let now = services.now
        let enrichment = await services.policyEnrichment()

        let plan: RematchPlan
        var alerts: [CVEWatch.Alert] = []
        if let fast = try Self.plan(stored: loaded.stored, next: next) {
            plan = fast
            if loaded.watched, plan.change != .none {
                let resolvedSeqs = Set(next.map(ScanRepository.FindingKey.init))
                let gone = loaded.stored.filter { !resolvedSeqs.contains($0.key) }.map(\.seq)
                let resolved = gone.isEmpty ? [] : try await services.db.read { db in
                    try ScanRepository.findings(scanId: id, seqs: gone, in: db)
                }
                let byKey = Dictionary(resolved.map { (CVEWatch.Prior($0).key, $0) }, uniquingKeysWith: { a, _ in a })
                alerts = CVEWatch.alerts(
                    before: loaded.stored.map {
                        CVEWatch.Prior(
                            vulnerabilityId: $0.key.id, package: $0.key.name, version: $0.key.version, kev: $0.kev,
                            priority: $0.priority, epssPercentile: $0.epssPercentile, severity: $0.severity)
                    }, after: next) { byKey[$0.key] }
            }
        } else {
            let before = try await services.db.read { db in try ScanRepository.findings(scanId: id, in: db) }
            switch Self.rematchChange(before: before, after: next) {
            case .none: plan = .rewriteInPlace(try ScanRepository.PreparedFindings(next), reranked: false)
            case .reranked: plan = .rewriteInPlace(try ScanRepository.PreparedFindings(next), reranked: true)
            case .changed(let added, let resolved): plan = .newScan(added: added, resolved: resolved)
            }
            if loaded.watched, plan.change != .none { alerts = CVEWatch.alerts(before: before, after: next) }
        }
        let found = alerts
        let watch: @Sendable (any SQLConnection) throws -> Int = { db in
            try CVEWatch.record(
                found, orgId: target.orgId, imageId: target.imageId, reference: target.reference,
                digest: target.manifestDigest, now: now, in: db)
        }
        switch plan {
        case .unchanged:
            // The same findings: the verdict is re-evaluated all the same (exceptions may have
            // expired, policies changed).
            try await services.db.write { db in
                try PolicyRecording.record(scanId: id, enrichment: enrichment, now: now, in: db)
            }
        case .update(let changed):
            // EPSS moves daily for nearly every CVE: re-ranking rewrites the scan's
            // findings in place instead of recording a new scan per image per day.
            summary.reranked += 1
            summary.alerts += try await services.db.write { db in
                try ScanRepository.updateFindings(scanId: id, changed, orgId: target.orgId, now: now, in: db)
                try PolicyRecording.record(scanId: id, enrichment: enrichment, now: now, in: db)
                return try watch(db)
            }
        case .rewriteInPlace(let prepared, let reranked):
            if reranked { summary.reranked += 1 }
            summary.alerts += try await services.db.write { db in
                try ScanRepository.rerankFindings(scanId: id, prepared: prepared, orgId: target.orgId, now: now, in: db)
                try PolicyRecording.record(scanId: id, enrichment: enrichment, now: now, in: db)
                return try watch(db)
            }
        case .newScan(let added, let resolved):
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
