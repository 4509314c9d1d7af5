package import Cron
import Foundation

/// The CVE watch's memory: one row per alert sent, keyed by organization, image digest,
/// vulnerability, package and kind.
package enum FindingAlertRepository {
    /// Records an alert; false when the same one was recorded before (nothing to send).
    package static func claim(
        orgId: String, digest: String, vulnerabilityId: String, package: String, version: String, kind: String, now: String,
        in db: any SQLConnection
    ) throws -> Bool {
        try db.execute("""
            INSERT INTO finding_alerts (org_id, digest, vulnerability_id, pkg_name, pkg_version, kind, created_at)
            VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING
            """, [orgId, digest, vulnerabilityId, package, version, kind, now]) == 1
    }

    package static func count(orgId: String, in db: any SQLConnection) throws -> Int {
        try db.int("SELECT COUNT(*) FROM finding_alerts WHERE org_id = ?", [orgId]) ?? 0
    }
}
