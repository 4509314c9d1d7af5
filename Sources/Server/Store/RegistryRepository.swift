package import Cron
package import Foundation

/// The registries aggregate: the `registries` rows, their health, webhook token and deletion.
/// Functions run inside the caller's transaction.
package enum RegistryRepository {
    package static func registry(_ db: any SQLConnection, id: String) throws -> RegistryRecord? {
        try db.fetchOne(RegistryRecord.self, "SELECT * FROM registries WHERE id = ?", [id])
    }

    package static func registry(_ db: any SQLConnection, id: String, org: String) throws -> RegistryRecord? {
        try db.fetchOne(RegistryRecord.self, "SELECT * FROM registries WHERE id = ? AND org_id = ?", [id, org])
    }

    package static func scanMethod(_ db: any SQLConnection, id: String) throws -> ScanMethod? {
        try db.string("SELECT scan_method FROM registries WHERE id = ?", [id]).flatMap(ScanMethod.init)
    }

    package static func url(_ db: any SQLConnection, id: String) throws -> String? {
        try db.string("SELECT url FROM registries WHERE id = ?", [id])
    }

    /// Every registry of `org` (of all organizations when nil), by id.
    package static func registries(_ db: any SQLConnection, org: String?) throws -> [RegistryRecord] {
        if let org {
            return try db.fetchAll(RegistryRecord.self, "SELECT * FROM registries WHERE org_id = ? ORDER BY id", [org])
        }
        return try db.fetchAll(RegistryRecord.self, "SELECT * FROM registries ORDER BY id")
    }

    /// Every registry of `org`, oldest first.
    package static func registriesByAge(_ db: any SQLConnection, org: String) throws -> [RegistryRecord] {
        try db.fetchAll(RegistryRecord.self, "SELECT * FROM registries WHERE org_id = ? ORDER BY created_at, id", [org])
    }

    /// What a list request filters and sorts on.
    package struct ListQuery: Sendable {
        package var org: String
        /// Only this registry (a registry-scoped credential).
        package var only: String?
        /// A `LIKE` pattern (with `\` as escape) matched against name and URL.
        package var like: String?
        package var provider: String?
        /// A column of `registries` (the caller maps API sort fields to columns).
        package var sortColumn: String?
        package var descending: Bool
        package var limit: Int
        package var offset: Int

        package init(
            org: String, only: String?, like: String?, provider: String?, sortColumn: String?, descending: Bool,
            limit: Int, offset: Int
        ) {
            self.org = org
            self.only = only
            self.like = like
            self.provider = provider
            self.sortColumn = sortColumn
            self.descending = descending
            self.limit = limit
            self.offset = offset
        }
    }

    package static func list(_ db: any SQLConnection, _ q: ListQuery) throws -> (registries: [RegistryRecord], total: Int) {
        var filters = ["org_id = ?"]
        var args: [any SQLBindable] = [q.org]
        if let only = q.only {
            filters.append("id = ?")
            args.append(only)
        }
        if let like = q.like {
            filters.append("(name \(db.dialect.like) ? ESCAPE '\\' OR url \(db.dialect.like) ? ESCAPE '\\')")
            args += [like, like]
        }
        if let provider = q.provider {
            filters.append("provider = ?")
            args.append(provider)
        }
        let order = q.sortColumn.map { "\(db.dialect.orderTerm($0, descending: q.descending)), id" } ?? "created_at, id"
        let whereSQL = filters.joined(separator: " AND ")
        let total = try db.int("SELECT COUNT(*) FROM registries WHERE \(whereSQL)", args) ?? 0
        let registries = try db.fetchAll(
            RegistryRecord.self, "SELECT * FROM registries WHERE \(whereSQL) ORDER BY \(order) LIMIT ? OFFSET ?",
            args + [q.limit, q.offset])
        return (registries, total)
    }

    /// Whether `org` has a registry named `name` (other than `except`).
    package static func nameExists(_ db: any SQLConnection, org: String, name: String, except id: String? = nil) throws -> Bool {
        try db.int(
            "SELECT COUNT(*) FROM registries WHERE org_id = ? AND name = ? AND id <> ?", [org, name, id ?? ""]) ?? 0 > 0
    }

    package static func insert(_ db: any SQLConnection, _ registry: RegistryRecord) throws {
        try registry.insert(into: db)
    }

    /// Loads registry `id`, applies `change` and stores the columns it changed. Returns the
    /// stored registry, or nil when it is gone.
    package static func update(
        _ db: any SQLConnection, id: String, _ change: (inout RegistryRecord) throws -> Void
    ) throws -> RegistryRecord? {
        guard var registry = try registry(db, id: id) else { return nil }
        try registry.updateChanges(db, modify: change)
        return registry
    }

    /// Records a sync's state. `syncing` keeps the last error; `synced` (or an unhealthy
    /// outcome) stamps the last sync, and a healthy or degraded synced one the last good sync.
    package static func setHealth(
        _ db: any SQLConnection, id: String, status: HealthStatus, score: Int?, error: String?, synced: Bool, now: Date
    ) throws {
        let ts = Timestamp.format(now)
        let stamp = synced || status == .unhealthy
        let stampOK = synced && (status == .healthy || status == .degraded)
        // The flags are decided here, not bound (PostgreSQL's CASE WHEN wants a boolean).
        try db.execute(
            """
            UPDATE registries SET health_status = ?, health_score = COALESCE(?, health_score),
                health_last_error = \(status == .syncing ? "health_last_error" : "?"),
                last_sync_at = \(stamp ? "?" : "last_sync_at"),
                last_sync_ok_at = \(stampOK ? "?" : "last_sync_ok_at")
            WHERE id = ?
            """,
            [status.rawValue, score] + (status == .syncing ? [] : [error] as [any SQLBindable])
                + (stamp ? [ts] : []) + (stampOK ? [ts] : []) + [id])
    }

    /// Deletes a registry: the row (and everything that cascades from it), its secrets (the
    /// DEK is shredded), its keys (revoked) and its queued or running jobs (cancelled).
    package static func delete(_ db: any SQLConnection, _ registry: RegistryRecord, now: Date) throws {
        try db.execute("DELETE FROM secrets WHERE owner LIKE ?", ["registry:\(registry.id):%"])
        try db.execute(
            "UPDATE api_keys SET revoked_at = ? WHERE registry_id = ? AND revoked_at IS NULL", [Timestamp.format(now), registry.id])
        try JobStore.cancel(concurrencyKey: registry.id, error: "registry deleted", now: now, in: db)
        try db.execute("DELETE FROM registries WHERE id = ?", [registry.id])
    }
}
