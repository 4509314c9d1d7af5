package import Cron
package import Foundation
import GRDB
package import Scan

// MARK: Reads and changes of the scans API

extension ScanRepository {
    /// What a scan list filters and sorts on.
    package struct ListQuery: Sendable {
        package var org: String
        /// Registries the rows must belong to (a scoped credential's, the one asked for).
        package var registryIds: [String] = []
        package var status: String?
        package var imageId: String?
        /// A `LIKE` pattern (with `\` as escape) matched against the reference.
        package var like: String?
        /// A column of `scans` (the caller maps API sort fields to columns); nil: newest first.
        package var sortColumn: String?
        package var descending = false
        package var limit: Int
        package var offset: Int

        package init(org: String, limit: Int, offset: Int) {
            self.org = org
            self.limit = limit
            self.offset = offset
        }
    }

    /// A page of `scans` rows and the total.
    package static func list(_ q: ListQuery, in db: any SQLConnection) throws -> (rows: [SQLRow], total: Int) {
        var filters = ["org_id = ?"]
        var args: [any SQLBindable] = [q.org]
        for id in q.registryIds { filters.append("registry_id = ?"); args.append(id) }
        if let v = q.status { filters.append("status = ?"); args.append(v) }
        if let v = q.imageId { filters.append("image_id = ?"); args.append(v) }
        if let like = q.like { filters.append("reference \(db.dialect.like) ? ESCAPE '\\'"); args.append(like) }
        let order = q.sortColumn.map { "\(db.dialect.orderTerm($0, descending: q.descending)), id" } ?? "queued_at DESC, id DESC"
        let whereSQL = filters.joined(separator: " AND ")
        let total = try db.int("SELECT COUNT(*) FROM scans WHERE \(whereSQL)", args) ?? 0
        let rows = try db.query("SELECT * FROM scans WHERE \(whereSQL) ORDER BY \(order) LIMIT ? OFFSET ?", args + [q.limit, q.offset])
        return (rows, total)
    }

    /// One `scans` row of the organization.
    package static func scan(_ id: String, org: String, in db: any SQLConnection) throws -> SQLRow? {
        try db.queryOne("SELECT * FROM scans WHERE id = ? AND org_id = ?", [id, org])
    }

    /// One `scans` row.
    package static func scan(_ id: String, in db: any SQLConnection) throws -> SQLRow? {
        try db.queryOne("SELECT * FROM scans WHERE id = ?", [id])
    }

    package static func status(_ id: String, in db: any SQLConnection) throws -> String? {
        try db.string("SELECT status FROM scans WHERE id = ?", [id])
    }

    /// Cancels a scan (the caller cancels its job through `JobStore.cancel`).
    package static func markCancelled(_ id: String, by actor: String, now: Date, in db: any SQLConnection) throws {
        try db.execute("UPDATE scans SET status = 'cancelled', finished_at = ?, error = ? WHERE id = ?", [Timestamp.format(now), "cancelled by \(actor)", id])
    }

    /// Deletes a scan; tags that showed it fall back to their previous completed scan of the same digest.
    package static func delete(_ id: String, in db: any SQLConnection) throws {
        try db.execute("""
                UPDATE image_tags SET
                    last_scan_id = (SELECT s.id FROM scans s WHERE s.image_id = image_tags.image_id AND s.id != ?1
                        AND s.status = 'completed' AND s.digest = image_tags.digest ORDER BY s.finished_at DESC, s.id DESC LIMIT 1),
                    last_scanned_at = (SELECT s.finished_at FROM scans s WHERE s.image_id = image_tags.image_id AND s.id != ?1
                        AND s.status = 'completed' AND s.digest = image_tags.digest ORDER BY s.finished_at DESC, s.id DESC LIMIT 1)
                WHERE last_scan_id = ?1
                """, [id])
        try db.execute("DELETE FROM scans WHERE id = ?", [id])
    }

    /// What a findings page filters on.
    package struct FindingsQuery: Sendable {
        package var severityRanks: [Int]?
        package var fixable: Bool?
        package var package: String?
        /// Matched against the vulnerability id and the package name.
        package var like: String?
        package var priority = PriorityFilter()
        package var order: FindingsOrder = .priority
        package var limit: Int
        package var offset: Int

        package init(limit: Int, offset: Int) {
            self.limit = limit
            self.offset = offset
        }
    }

    /// The orders of a findings list (`sort=`). Each names its columns: a re-rank updates
    /// findings in place, so the stored order (`seq`) is the insertion's, not today's severity.
    package enum FindingsOrder: String, Sendable, CaseIterable {
        /// P1 first, then severity, EPSS score (highest first, none last), vulnerability id.
        case priority
        /// Most severe first, then priority.
        case severity
        /// EPSS score, highest first, none last.
        case epss
        case package

        package var sql: String {
            switch self {
            case .priority: "priority_rank, severity_rank DESC, epss IS NULL, epss DESC, vulnerability_id, seq"
            case .severity: "severity_rank DESC, priority_rank, vulnerability_id, pkg_name, pkg_version, seq"
            case .epss: "epss IS NULL, epss DESC, priority_rank, seq"
            case .package: "pkg_name, pkg_version, priority_rank, seq"
            }
        }
    }

    /// A page of a scan's findings, in the query's order, with their sequence numbers, and the total.
    package static func findings(
        scanId: String, _ q: FindingsQuery, in db: any SQLConnection
    ) throws -> (findings: [(seq: Int, finding: Finding)], total: Int) {
        var filters = ["scan_id = ?"]
        var args: [any SQLBindable] = [scanId]
        if let ranks = q.severityRanks {
            filters.append(ranks.isEmpty ? "1 = 0" : "severity_rank IN (\(ranks.map(String.init).joined(separator: ",")))")
        }
        if let b = q.fixable { filters.append("fixable = \(b ? 1 : 0)") }
        if let v = q.package { filters.append("pkg_name = ?"); args.append(v) }
        if let like = q.like {
            filters.append("(vulnerability_id \(db.dialect.like) ? ESCAPE '\\' OR pkg_name \(db.dialect.like) ? ESCAPE '\\')")
            args.append(like); args.append(like)
        }
        let (conditions, conditionArgs) = q.priority.conditions("")
        filters += conditions
        args += conditionArgs
        let whereSQL = filters.joined(separator: " AND ")
        let total = try db.int("SELECT COUNT(*) FROM findings WHERE \(whereSQL)", args) ?? 0
        let rows = try db.query("SELECT seq, detail FROM findings WHERE \(whereSQL) ORDER BY \(q.order.sql) LIMIT ? OFFSET ?", args + [q.limit, q.offset])
        let decoder = JSONDecoder()
        return (try rows.map { r in (seq: r[0] as Int, finding: try decoder.decode(Finding.self, from: r[1] as Data)) }, total)
    }

    /// The `triage` rows in force for the vulnerabilities in an organization and image:
    /// organization rows (`image_id` '') first, so an image's row read later overrides.
    package static func triageRows(orgId: String, imageId: String?, vulnerabilityIds: Set<String>, in db: any SQLConnection) throws -> [SQLRow] {
        guard !vulnerabilityIds.isEmpty else { return [] }
        let marks = Array(repeating: "?", count: vulnerabilityIds.count).joined(separator: ",")
        var args: [any SQLBindable] = [orgId, imageId ?? ""]
        args += vulnerabilityIds.sorted() as [any SQLBindable]
        return try db.query("""
                SELECT * FROM triage WHERE org_id = ? AND image_id IN ('', ?) AND vulnerability_id IN (\(marks))
                ORDER BY image_id
                """, args)
    }
}
