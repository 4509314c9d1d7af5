package import Cron
import Foundation

/// What VEX import and export read: the organization's images with their registry's URL,
/// which images a digest belongs to, and the decisions that concern one image.
package enum VEXRepository {
    package struct ImageRef: Sendable {
        package var id: String
        package var registryId: String
        /// The repository path inside the registry.
        package var name: String
        package var registryURL: String
        package var latestDigest: String?
        package var latestTag: String?
    }

    static func imageRef(_ r: SQLRow) -> ImageRef {
        ImageRef(
            id: r["id"], registryId: r["registry_id"], name: r["name"], registryURL: r["url"], latestDigest: r["latest_digest"],
            latestTag: r["latest_tag"])
    }

    /// The organization's images (of one registry when `registryId` is set).
    package static func images(org: String, registryId: String?, in db: any SQLConnection) throws -> [ImageRef] {
        var sql = """
            SELECT i.id, i.registry_id, i.name, i.latest_digest, i.latest_tag, r.url FROM images i JOIN registries r ON r.id = i.registry_id
            WHERE i.org_id = ?
            """
        var args: [any SQLBindable] = [org]
        if let registryId {
            sql += " AND i.registry_id = ?"
            args.append(registryId)
        }
        return try db.query(sql, args).map(imageRef)
    }

    package static func image(_ id: String, org: String, in db: any SQLConnection) throws -> ImageRef? {
        try db.queryOne("""
                SELECT i.id, i.registry_id, i.name, i.latest_digest, i.latest_tag, r.url FROM images i JOIN registries r ON r.id = i.registry_id
                WHERE i.id = ? AND i.org_id = ?
                """, [id, org]
        ).map(imageRef)
    }

    /// The images of the organization a digest (of a tag, or of a scanned manifest or index) belongs to.
    package static func images(withDigest digest: String, org: String, in db: any SQLConnection) throws -> Set<String> {
        Set(try db.strings("""
                SELECT t.image_id FROM image_tags t JOIN images i ON i.id = t.image_id WHERE i.org_id = ?1 AND t.digest = ?2
                UNION SELECT s.image_id FROM scans s WHERE s.org_id = ?1 AND s.image_id IS NOT NULL AND (s.digest = ?2 OR s.manifest_digest = ?2)
                """, [org, digest]))
    }

    /// The decisions that concern an image: for each vulnerability any scan of the image
    /// found, its own decision, else the organization's (ordered by vulnerability id).
    package static func decisions(imageId: String, org: String, in db: any SQLConnection) throws -> [SQLRow] {
        let rows = try db.query("""
                SELECT t.* FROM triage t
                WHERE t.org_id = ?1 AND t.image_id IN ('', ?2)
                    AND t.vulnerability_id IN (
                        SELECT DISTINCT f.vulnerability_id FROM findings f JOIN scans s ON s.id = f.scan_id
                        WHERE s.image_id = ?2 AND s.org_id = ?1)
                ORDER BY t.vulnerability_id, t.image_id DESC
                """, [org, imageId])
        var seen: Set<String> = []
        return rows.filter { seen.insert($0["vulnerability_id"] as String).inserted }
    }
}
