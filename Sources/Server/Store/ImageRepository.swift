package import Cron
package import Foundation
import GRDB

/// The images aggregate: one image per repository of a registry and its tags, as sync, push
/// events and scans record them. Functions run inside the caller's transaction.
package enum ImageRepository {
    // MARK: Reads for the API

    /// What a list request filters and sorts on.
    package struct ListQuery: Sendable {
        package var org: String
        /// Registries the caller may see (a registry-scoped credential), and the one asked for.
        package var registryIds: [String]
        /// A `LIKE` pattern (with `\` as escape) matched against the full name.
        package var like: String?
        /// A column of `images` (the caller maps API sort fields to columns).
        package var sortColumn: String?
        package var descending: Bool
        package var limit: Int
        package var offset: Int

        package init(
            org: String, registryIds: [String], like: String?, sortColumn: String?, descending: Bool, limit: Int, offset: Int
        ) {
            self.org = org
            self.registryIds = registryIds
            self.like = like
            self.sortColumn = sortColumn
            self.descending = descending
            self.limit = limit
            self.offset = offset
        }
    }

    /// A page of `images` rows and the total.
    package static func list(_ db: any SQLConnection, _ q: ListQuery) throws -> (rows: [SQLRow], total: Int) {
        let (whereSQL, args, order) = listSQL(q, db.dialect)
        let total = try db.int("SELECT COUNT(*) FROM images WHERE \(whereSQL)", args) ?? 0
        let rows = try db.query("SELECT * FROM images WHERE \(whereSQL) ORDER BY \(order) LIMIT ? OFFSET ?", args + [q.limit, q.offset])
        return (rows, total)
    }

    /// Every `images` row the query selects (its filters and order; no page), one at a time
    /// (the CSV export streams it).
    package static func each(_ db: any SQLConnection, _ q: ListQuery, _ body: (SQLRow) throws -> Void) throws {
        let (whereSQL, args, order) = listSQL(q, db.dialect)
        try db.each("SELECT * FROM images WHERE \(whereSQL) ORDER BY \(order)", args, body)
    }

    /// The list's condition, its arguments and its order.
    private static func listSQL(_ q: ListQuery, _ d: SQLDialect) -> (where: String, args: [any SQLBindable], order: String) {
        var filters = ["org_id = ?"]
        var args: [any SQLBindable] = [q.org]
        for id in q.registryIds {
            filters.append("registry_id = ?")
            args.append(id)
        }
        if let like = q.like {
            filters.append("full_name \(d.like) ? ESCAPE '\\'")
            args.append(like)
        }
        let order = q.sortColumn.map { "\(d.orderTerm($0, descending: q.descending)), id" } ?? "created_at, id"
        return (filters.joined(separator: " AND "), args, order)
    }

    /// One `images` row of the organization.
    package static func image(_ db: any SQLConnection, id: String, org: String) throws -> SQLRow? {
        try db.queryOne("SELECT * FROM images WHERE id = ? AND org_id = ?", [id, org])
    }

    /// The `image_tags` rows of an image, by name.
    package static func tagRows(_ db: any SQLConnection, imageId: String) throws -> [SQLRow] {
        try db.query("SELECT * FROM image_tags WHERE image_id = ? ORDER BY name", [imageId])
    }

    // MARK: Sync

    /// The images of a registry: repository → image id.
    package static func imageIds(_ db: any SQLConnection, registryId: String) throws -> [String: String] {
        var ids: [String: String] = [:]
        for row in try db.query("SELECT id, name FROM images WHERE registry_id = ?", [registryId]) {
            ids[row["name"]] = row["id"]
        }
        return ids
    }

    package struct KnownTag: Sendable {
        package var imageId: String
        package var name: String
        package var digest: String
        package var scanned: Bool
    }

    /// Every tag of a registry's images.
    package static func knownTags(_ db: any SQLConnection, registryId: String) throws -> [KnownTag] {
        try db.query("""
                SELECT t.image_id, t.name, t.digest, t.last_scanned_at FROM image_tags t
                JOIN images i ON i.id = t.image_id WHERE i.registry_id = ?
                """, [registryId]
        ).map { row in
            KnownTag(
                imageId: row["image_id"], name: row["name"], digest: row["digest"],
                scanned: (row["last_scanned_at"] as String?) != nil)
        }
    }

    /// The tags (name, digest) of one repository of a registry.
    package static func tags(_ db: any SQLConnection, registryId: String, repository: String) throws -> [(name: String, digest: String)] {
        try db.query("SELECT t.name, t.digest FROM image_tags t JOIN images i ON i.id = t.image_id WHERE i.registry_id = ? AND i.name = ?", [registryId, repository]
        ).map { ($0["name"], $0["digest"]) }
    }

    package static func imageId(_ db: any SQLConnection, registryId: String, repository: String) throws -> String? {
        try db.string("SELECT id FROM images WHERE registry_id = ? AND name = ?", [registryId, repository])
    }

    package static func insertImage(
        _ db: any SQLConnection, id: String, orgId: String, registryId: String, name: String, fullName: String, now: Date
    ) throws {
        let ts = Timestamp.format(now)
        try db.execute("""
                INSERT INTO images (id, org_id, registry_id, name, full_name, created_at, updated_at)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """, [id, orgId, registryId, name, fullName, ts, ts])
    }

    package static func deleteImage(_ db: any SQLConnection, id: String) throws {
        try db.execute("DELETE FROM images WHERE id = ?", [id])
    }

    package static func tagDigest(_ db: any SQLConnection, imageId: String, tag: String) throws -> String? {
        try db.string("SELECT digest FROM image_tags WHERE image_id = ? AND name = ?", [imageId, tag])
    }

    package static func insertTag(_ db: any SQLConnection, imageId: String, tag: String, digest: String, now: Date) throws {
        let ts = Timestamp.format(now)
        try db.execute("INSERT INTO image_tags (image_id, name, digest, first_seen_at, updated_at) VALUES (?, ?, ?, ?, ?)", [imageId, tag, digest, ts, ts])
    }

    package static func updateTagDigest(_ db: any SQLConnection, imageId: String, tag: String, digest: String, now: Date) throws {
        try db.execute("UPDATE image_tags SET digest = ?, updated_at = ? WHERE image_id = ? AND name = ?", [digest, Timestamp.format(now), imageId, tag])
    }

    /// Inserts the tag, or moves it to `digest`.
    package static func upsertTag(_ db: any SQLConnection, imageId: String, tag: String, digest: String, now: Date) throws {
        let ts = Timestamp.format(now)
        try db.execute("""
                INSERT INTO image_tags (image_id, name, digest, first_seen_at, updated_at) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT(image_id, name) DO UPDATE SET digest = excluded.digest, updated_at = excluded.updated_at
                """, [imageId, tag, digest, ts, ts])
    }

    package static func deleteTag(_ db: any SQLConnection, imageId: String, tag: String) throws {
        try db.execute("DELETE FROM image_tags WHERE image_id = ? AND name = ?", [imageId, tag])
    }

    /// Recomputes an image's tag count and latest tag/digest (`latest`, else the newest tag).
    package static func refreshAggregates(_ db: any SQLConnection, imageId: String, now: Date) throws {
        try db.execute("""
                UPDATE images SET
                    tag_count = (SELECT COUNT(*) FROM image_tags WHERE image_id = ?),
                    latest_tag = COALESCE(
                        (SELECT name FROM image_tags WHERE image_id = ? AND name = 'latest'),
                        (SELECT name FROM image_tags WHERE image_id = ? ORDER BY updated_at DESC, name DESC LIMIT 1)),
                    latest_digest = COALESCE(
                        (SELECT digest FROM image_tags WHERE image_id = ? AND name = 'latest'),
                        (SELECT digest FROM image_tags WHERE image_id = ? ORDER BY updated_at DESC, name DESC LIMIT 1)),
                    updated_at = ?
                WHERE id = ?
                """, [imageId, imageId, imageId, imageId, imageId, Timestamp.format(now), imageId])
    }

    /// Stores the registry's image count.
    package static func refreshImageCount(_ db: any SQLConnection, registryId: String) throws {
        try db.execute("UPDATE registries SET image_count = (SELECT COUNT(*) FROM images WHERE registry_id = ?) WHERE id = ?", [registryId, registryId])
    }

    /// Tags of `org`'s (every organization's when nil) daily and weekly registries whose last
    /// scan is older than their registry's period and that have no scan queued or running (the
    /// jobs table's dedupe index answers that), oldest scan first.
    package static func staleTags(
        _ db: any SQLConnection, org: String?, dailyCutoff: Date, weeklyCutoff: Date, limit: Int
    ) throws -> [(registryId: String, repository: String, tag: String, digest: String)] {
        let daily = Timestamp.format(dailyCutoff)
        let weekly = Timestamp.format(weeklyCutoff)
        var arguments: [any SQLBindable] = [daily]
        if let org { arguments += [org] }
        arguments += [daily, weekly, limit]
        return try db.query("""
                SELECT r.id AS registry_id, i.name AS repository, t.name AS tag, t.digest FROM image_tags t
                JOIN images i ON i.id = t.image_id
                JOIN registries r ON r.id = i.registry_id
                WHERE t.last_scanned_at < ? AND r.schedule IN ('daily', 'weekly')\(org == nil ? "" : " AND r.org_id = ?")
                    AND t.last_scanned_at < CASE r.schedule WHEN 'daily' THEN ? ELSE ? END
                    AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.status IN ('queued', 'running')
                        AND j.dedupe_key = 'scan:' || r.id || ':' || i.name || ':' || t.name || ':linux/amd64')
                ORDER BY t.last_scanned_at
                LIMIT ?
                """, arguments
        ).map { ($0["registry_id"], $0["repository"], $0["tag"], $0["digest"]) }
    }
}
