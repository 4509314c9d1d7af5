import Cron
package import Foundation
package import GRDB

/// The registries aggregate: the `registries` rows, their health, webhook token and deletion.
/// Functions run inside the caller's transaction.
package enum RegistryRepository {
    package static func registry(_ db: Database, id: String) throws -> RegistryRecord? {
        try RegistryRecord.fetchOne(db.cachedStatement(sql: "SELECT * FROM registries WHERE id = ?"), arguments: [id])
    }

    package static func registry(_ db: Database, id: String, org: String) throws -> RegistryRecord? {
        try RegistryRecord.fetchOne(
            db.cachedStatement(sql: "SELECT * FROM registries WHERE id = ? AND org_id = ?"), arguments: [id, org])
    }

    package static func scanMethod(_ db: Database, id: String) throws -> ScanMethod? {
        try String.fetchOne(db, sql: "SELECT scan_method FROM registries WHERE id = ?", arguments: [id]).flatMap(ScanMethod.init)
    }

    package static func url(_ db: Database, id: String) throws -> String? {
        try String.fetchOne(db, sql: "SELECT url FROM registries WHERE id = ?", arguments: [id])
    }

    /// Every registry of `org` (of all organizations when nil), by id.
    package static func registries(_ db: Database, org: String?) throws -> [RegistryRecord] {
        if let org {
            return try RegistryRecord.fetchAll(db, sql: "SELECT * FROM registries WHERE org_id = ? ORDER BY id", arguments: [org])
        }
        return try RegistryRecord.fetchAll(db, sql: "SELECT * FROM registries ORDER BY id")
    }

    /// Every registry of `org`, oldest first.
    package static func registriesByAge(_ db: Database, org: String) throws -> [RegistryRecord] {
        try RegistryRecord.fetchAll(
            db, sql: "SELECT * FROM registries WHERE org_id = ? ORDER BY created_at, id", arguments: [org])
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

    package static func list(_ db: Database, _ q: ListQuery) throws -> (registries: [RegistryRecord], total: Int) {
        var filters = ["org_id = ?"]
        var args: [any DatabaseValueConvertible & Sendable] = [q.org]
        if let only = q.only {
            filters.append("id = ?")
            args.append(only)
        }
        if let like = q.like {
            filters.append("(name LIKE ? ESCAPE '\\' OR url LIKE ? ESCAPE '\\')")
            args += [like, like]
        }
        if let provider = q.provider {
            filters.append("provider = ?")
            args.append(provider)
        }
        let order = q.sortColumn.map { "\($0) \(q.descending ? "DESC" : "ASC"), id" } ?? "created_at, id"
        let whereSQL = filters.joined(separator: " AND ")
        // Cached statements: preparing (and GRDB's authorizer pass) cost more than the queries.
        let total = try Int.fetchOne(
            db.cachedStatement(sql: "SELECT COUNT(*) FROM registries WHERE \(whereSQL)"), arguments: StatementArguments(args)) ?? 0
        let registries = try RegistryRecord.fetchAll(
            db.cachedStatement(sql: "SELECT * FROM registries WHERE \(whereSQL) ORDER BY \(order) LIMIT ? OFFSET ?"),
            arguments: StatementArguments(args + [q.limit, q.offset]))
        return (registries, total)
    }

    /// Whether `org` has a registry named `name` (other than `except`).
    package static func nameExists(_ db: Database, org: String, name: String, except id: String? = nil) throws -> Bool {
        try Bool.fetchOne(
            db, sql: "SELECT EXISTS (SELECT 1 FROM registries WHERE org_id = ? AND name = ? AND id <> ?)",
            arguments: [org, name, id ?? ""]) ?? false
    }

    package static func insert(_ db: Database, _ registry: RegistryRecord) throws {
        try registry.insert(db)
    }

    /// Loads registry `id`, applies `change` and stores the columns it changed. Returns the
    /// stored registry, or nil when it is gone.
    package static func update(
        _ db: Database, id: String, _ change: (inout RegistryRecord) throws -> Void
    ) throws -> RegistryRecord? {
        guard var registry = try registry(db, id: id) else { return nil }
        try registry.updateChanges(db, modify: change)
        return registry
    }

    /// Records a sync's state. `syncing` keeps the last error; `synced` (or an unhealthy
    /// outcome) stamps the last sync, and a healthy or degraded synced one the last good sync.
    package static func setHealth(
        _ db: Database, id: String, status: HealthStatus, score: Int?, error: String?, synced: Bool, now: Date
    ) throws {
        let ts = Timestamp.format(now)
        let stamp = synced || status == .unhealthy
        let stampOK = synced && (status == .healthy || status == .degraded)
        try db.execute(
            sql: """
                UPDATE registries SET health_status = ?, health_score = COALESCE(?, health_score),
                    health_last_error = CASE WHEN ? = 'syncing' THEN health_last_error ELSE ? END,
                    last_sync_at = CASE WHEN ? THEN ? ELSE last_sync_at END,
                    last_sync_ok_at = CASE WHEN ? THEN ? ELSE last_sync_ok_at END
                WHERE id = ?
                """,
            arguments: [status.rawValue, score, status.rawValue, error, stamp, ts, stampOK, ts, id])
    }

    /// Deletes a registry: the row (and everything that cascades from it), its secrets (the
    /// DEK is shredded), its keys (revoked) and its queued or running jobs (cancelled).
    package static func delete(_ db: Database, _ registry: RegistryRecord, now: Date) throws {
        try db.execute(sql: "DELETE FROM secrets WHERE owner LIKE ?", arguments: ["registry:\(registry.id):%"])
        try db.execute(
            sql: "UPDATE api_keys SET revoked_at = ? WHERE registry_id = ? AND revoked_at IS NULL",
            arguments: [Timestamp.format(now), registry.id])
        try JobStore.cancel(concurrencyKey: registry.id, error: "registry deleted", now: now, in: db)
        try db.execute(sql: "DELETE FROM registries WHERE id = ?", arguments: [registry.id])
    }
}
