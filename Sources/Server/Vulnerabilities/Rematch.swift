public import Cron
public import Foundation
public import GRDB
import Logging
import Scan
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

    public func rematch(_ context: JobContext, _ payload: RematchJobPayload) async throws -> String? {
        guard let vulndb = services.vulnDB else { throw PermanentJobError("no vulnerability database is configured") }
        struct Target: Sendable {
            var scanId: String, orgId: String, manifestDigest: String, findings: [Finding]
        }
        let org = payload.orgId
        let ids: [String] = try await services.db.read { db in
            try ScanRepository.latestTagScanIds(orgId: org, in: db)
        }
        var summary = RematchSummary()
        let matcher = VulnerabilityMatcher(database: vulndb)
        await context.progress(done: 0, total: ids.count)
        for (i, id) in ids.enumerated() {
            try Task.checkCancellation()
            let loaded: (Target, ImageInventory?)? = try await services.db.read { db in
                guard let scan = try ScanRepository.orgAndManifest(id, in: db) else { return nil }
                return (Target(scanId: id, orgId: scan.orgId, manifestDigest: scan.manifestDigest,
                               findings: try ScanRepository.findings(scanId: id, in: db)),
                        try ScanRepository.inventory(digest: scan.manifestDigest, in: db))
            }
            guard let (target, inventory) = loaded else { continue }
            guard let inventory else { summary.missingInventories += 1; continue }
            summary.inventories += 1
            let matched = try await matcher.match(inventory)
            // Findings only external scanners reported stay as they were.
            let kept = target.findings.filter { !$0.sources.contains("native") }
            let next = matched + kept
            func key(_ f: Finding) -> String { "\(f.vulnerabilityId)|\(f.package.name)|\(f.package.version)" }
            let before = Set(target.findings.map(key))
            let after = Set(next.map(key))
            let added = after.subtracting(before).count
            let resolved = before.subtracting(after).count
            let sameDetail = Set(target.findings) == Set(next)
            if added == 0 && resolved == 0 && sameDetail { continue }
            summary.changed += 1
            summary.newFindings += added
            summary.resolvedFindings += resolved
            let now = services.now
            try await services.db.write { db in
                try ScanRepository.recordRematch(
                    of: target.scanId, findings: next, added: added, resolved: resolved, now: now, in: db)
            }
            if (i + 1) % 20 == 0 { await context.progress(done: i + 1, total: ids.count) }
        }
        await context.progress(done: ids.count, total: ids.count)
        context.logger.info(
            "rematch done",
            metadata: ["inventories": "\(summary.inventories)", "changed": "\(summary.changed)", "new": "\(summary.newFindings)",
                       "resolved": "\(summary.resolvedFindings)"])
        return String(decoding: try JSONCoding.encoder.encode(summary), as: UTF8.self)
    }
}
