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
            try String.fetchAll(
                db,
                sql: """
                    SELECT s.id FROM scans s WHERE s.status = 'completed' AND s.manifest_digest IS NOT NULL
                        AND s.id IN (SELECT DISTINCT last_scan_id FROM image_tags WHERE last_scan_id IS NOT NULL)
                        AND (?1 IS NULL OR s.org_id = ?1)
                    ORDER BY s.id
                    """,
                arguments: [org])
        }
        var summary = RematchSummary()
        let matcher = VulnerabilityMatcher(database: vulndb)
        await context.progress(done: 0, total: ids.count)
        for (i, id) in ids.enumerated() {
            try Task.checkCancellation()
            let loaded: (Target, ImageInventory?)? = try await services.db.read { db in
                guard let row = try Row.fetchOne(db, sql: "SELECT org_id, manifest_digest FROM scans WHERE id = ?", arguments: [id])
                else { return nil }
                let digest: String = row["manifest_digest"]
                let decoder = JSONDecoder()
                let findings = try Data.fetchAll(db, sql: "SELECT detail FROM findings WHERE scan_id = ? ORDER BY seq", arguments: [id])
                    .map { try decoder.decode(Finding.self, from: $0) }
                return (Target(scanId: id, orgId: row["org_id"], manifestDigest: digest, findings: findings),
                        try ScanStore.inventory(digest: digest, in: db))
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
                try ScanStore.recordRematch(
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

extension ScanStore {
    /// A new completed scan that copies `previous` with re-matched findings; tags that showed
    /// `previous` now show it.
    static func recordRematch(
        of previous: String, findings: [Finding], added: Int, resolved: Int, now: Date, in db: Database
    ) throws {
        guard let row = try Row.fetchOne(db, sql: "SELECT * FROM scans WHERE id = ?", arguments: [previous]) else { return }
        let id = IDs.make("scn")
        let ts = Timestamp.format(now)
        let note = "Re-matched the stored inventory against the updated vulnerability database: \(added) new, \(resolved) resolved; no layer was pulled."
        try db.execute(
            sql: """
                INSERT INTO scans (id, org_id, registry_id, image_id, job_id, repository, tag, reference, digest, manifest_digest,
                    platform, status, trigger, origin, requested_scanners, scanners, os_family, os_version, package_count,
                    layers_cached, layers_total, bytes_downloaded, duration_ms, notes, queued_at, started_at, finished_at)
                SELECT ?, org_id, registry_id, image_id, NULL, repository, tag, reference, digest, manifest_digest,
                    platform, 'completed', 'schedule', origin, requested_scanners, scanners, os_family, os_version, package_count,
                    layers_total, layers_total, 0, 0, ?, ?, ?, ?
                FROM scans WHERE id = ?
                """,
            arguments: [id, String(decoding: try JSONCoding.encoder.encode([note]), as: UTF8.self), ts, ts, ts, previous])
        let orgId: String = row["org_id"]
        try insertFindings(findings, scanId: id, orgId: orgId, now: ts, in: db)
        try recount(scanIds: [id], orgId: orgId, now: now, in: db)
        try db.execute(
            sql: "UPDATE image_tags SET last_scan_id = ?, last_scanned_at = ? WHERE last_scan_id = ?", arguments: [id, ts, previous])
        if let imageId = row["image_id"] as String? { try refreshImageRisk(imageId: imageId, in: db) }
    }
}
