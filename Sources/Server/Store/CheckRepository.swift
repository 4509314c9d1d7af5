package import Cron
import Foundation

/// What `POST /api/policy/check` reads of the scans: the latest completed scan of a digest in
/// one repository, and a queued or running one (so a second check does not queue a duplicate).
package enum CheckRepository {
    /// A scan of the checked digest and where it is.
    package struct ScanState: Sendable, Hashable {
        package var id: String
        package var status: String
        package var digest: String?
        package var error: String?
    }

    static func state(_ row: SQLRow) -> ScanState {
        ScanState(id: row["id"], status: row["status"], digest: row["digest"], error: row["error"])
    }

    /// The latest completed scan of `digest` in a registry's repository on `platform`.
    package static func latestCompleted(
        _ db: any SQLConnection, org: String, registryId: String, repository: String, digest: String, platform: String
    ) throws -> ScanState? {
        // Through the image's index when the repository has an image row (a scan completed
        // before the image existed keeps a null image_id: the second form finds it).
        if let imageId = try db.string("SELECT id FROM images WHERE registry_id = ? AND name = ?", [registryId, repository]),
            let row = try db.queryOne("""
                        SELECT id, status, digest, error FROM scans
                        WHERE image_id = ? AND org_id = ? AND digest = ? AND platform = ? AND status = 'completed'
                        ORDER BY finished_at DESC, id DESC LIMIT 1
                        """, [imageId, org, digest, platform])
        {
            return state(row)
        }
        return try db.queryOne("""
                    SELECT id, status, digest, error FROM scans
                    WHERE registry_id = ? AND org_id = ? AND repository = ? AND digest = ? AND platform = ? AND status = 'completed'
                    ORDER BY finished_at DESC, id DESC LIMIT 1
                    """, [registryId, org, repository, digest, platform]
        ).map(state)
    }

    /// A queued or running scan of `digest` in a registry's repository on `platform`, oldest first.
    package static func active(
        _ db: any SQLConnection, org: String, registryId: String, repository: String, digest: String, platform: String
    ) throws -> ScanState? {
        try db.queryOne("""
                    SELECT id, status, digest, error FROM scans
                    WHERE org_id = ? AND status IN ('queued', 'running') AND registry_id = ? AND repository = ? AND digest = ?
                        AND platform = ?
                    ORDER BY queued_at, id LIMIT 1
                    """, [org, registryId, repository, digest, platform]
        ).map(state)
    }

    /// Where one scan is (nil once it was deleted).
    package static func scan(_ db: any SQLConnection, id: String) throws -> ScanState? {
        try db.queryOne("SELECT id, status, digest, error FROM scans WHERE id = ?", [id]).map(state)
    }
}
