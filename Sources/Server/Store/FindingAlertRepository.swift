import Cron
import Foundation
package import GRDB

/// The CVE watch's memory: one row per alert sent, keyed by organization, image digest,
/// vulnerability, package and kind.
package enum FindingAlertRepository {
    /// Records an alert; false when the same one was recorded before (nothing to send).
    package static func claim(
        orgId: String, digest: String, vulnerabilityId: String, package: String, version: String, kind: String, now: String,
        in db: Database
    ) throws -> Bool {
        try db.cachedStatement(sql: """
            INSERT OR IGNORE INTO finding_alerts (org_id, digest, vulnerability_id, pkg_name, pkg_version, kind, created_at)
            VALUES (?, ?, ?, ?, ?, ?, ?)
            """).execute(arguments: [orgId, digest, vulnerabilityId, package, version, kind, now])
        return db.changesCount == 1
    }

    package static func count(orgId: String, in db: Database) throws -> Int {
        try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM finding_alerts WHERE org_id = ?", arguments: [orgId]) ?? 0
    }
}
