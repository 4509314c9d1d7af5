package import Cron
package import Foundation
import GRDB

/// Daily housekeeping the scheduler runs.
package enum Housekeeping {
    /// Deletes finished scans older than `days`, keeping every tag's latest scan, and the
    /// inventories no scan refers to any more. Returns the number of scans deleted.
    @discardableResult
    package static func pruneScans(olderThanDays days: Int, now: Date, in db: any SQLConnection) throws -> Int {
        let cutoff = Timestamp.format(now.addingTimeInterval(-Double(days) * 86_400))
        let deleted = try db.execute("""
                DELETE FROM scans WHERE finished_at < ? AND status IN ('completed', 'failed', 'cancelled')
                    AND id NOT IN (SELECT last_scan_id FROM image_tags WHERE last_scan_id IS NOT NULL)
                """, [cutoff])
        try db.execute("""
            DELETE FROM inventories WHERE digest NOT IN (SELECT manifest_digest FROM scans WHERE manifest_digest IS NOT NULL)
            """)
        return deleted
    }

    /// Re-counts the scans of vulnerabilities whose `WONT_FIX` or `NOT_AFFECTED` exception expired since the last run,
    /// so suppressed findings come back into counts and risk scores by themselves.
    @discardableResult
    package static func applyExpiredTriage(now: Date, in db: any SQLConnection) throws -> Int {
        let ts = Timestamp.format(now)
        let rows = try db.query("""
                SELECT id, org_id, vulnerability_id FROM triage
                WHERE status IN ('WONT_FIX', 'NOT_AFFECTED') AND expires_at IS NOT NULL AND expires_at <= ? AND expiry_applied = 0
                """, [ts])
        for row in rows {
            try ScanRepository.recount(vulnerabilityId: row["vulnerability_id"], orgId: row["org_id"], now: now, in: db)
            try db.execute("UPDATE triage SET expiry_applied = 1 WHERE id = ?", [row["id"] as String])
        }
        return rows.count
    }
}
