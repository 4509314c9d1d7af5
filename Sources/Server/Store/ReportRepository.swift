package import Cron
package import Foundation
package import Scan

/// The rows of the CSV reports, read through cursors in the caller's (one) read transaction so
/// an export of any size holds one row at a time.
package enum ReportRepository {
    /// What `GET /api/reports/findings.csv` exports and filters on.
    package struct FindingsQuery: Sendable {
        package var org: String
        /// A registry-scoped credential's registry, or the one asked for.
        package var registryIds: [String] = []
        package var imageId: String?
        /// One scan's findings instead of the current ones (the latest scan of every tag).
        package var scanId: String?
        package var severityRanks: [Int]?
        package var fixable: Bool?
        package var package: String?
        package var priority = PriorityFilter()
        /// Triage decisions expiring before this no longer count.
        package var now: Date

        package init(org: String, now: Date) {
            self.org = org
            self.now = now
        }
    }

    /// One exported finding.
    package struct FindingRow {
        package var registry: String
        package var image: String
        package var tags: String?
        package var digest: String?
        package var scanId: String
        package var vulnerabilityId: String
        package var aliases: String?
        package var severity: Severity
        package var severitySource: String?
        package var cvssScore: Double?
        package var cvssVector: String?
        package var epss: Double?
        package var epssPercentile: Double?
        package var kev: Bool
        package var priorityRank: Int
        package var package: String
        package var version: String
        package var type: String
        package var purl: String?
        package var fixedVersion: String?
        package var fixState: String?
        package var title: String?
        package var triage: String
    }

    /// Calls `body` with every finding the query selects, in (scan, stored order).
    package static func eachFinding(_ q: FindingsQuery, in db: any SQLConnection, _ body: (FindingRow) throws -> Void) throws {
        var filters: [String] = []
        var args: [any SQLBindable] = []
        for id in q.registryIds { filters.append("s.registry_id = ?"); args.append(id) }
        if let v = q.imageId { filters.append("s.image_id = ?"); args.append(v) }
        if let ranks = q.severityRanks { filters.append(ranks.isEmpty ? "1 = 0" : "f.severity_rank IN (\(ranks.map(String.init).joined(separator: ",")))") }
        if let b = q.fixable { filters.append("f.fixable = \(b ? 1 : 0)") }
        if let v = q.package { filters.append("f.pkg_name = ?"); args.append(v) }
        let (conditions, conditionArgs) = q.priority.conditions()
        filters += conditions
        args += conditionArgs
        let whereSQL = filters.map { " AND " + $0 }.joined()
        // Digits and `-:.TZ` only: safe inline.
        let nowText = Timestamp.format(q.now)
        let d = db.dialect
        let scans: String
        var scanArgs: [any SQLBindable] = [q.org]
        if let scanId = q.scanId {
            scans = """
                SELECT s.id, (SELECT \(d.groupConcat("t.name", separator: " ")) FROM image_tags t WHERE t.last_scan_id = s.id) AS tags
                FROM scans s WHERE s.org_id = ?1 AND s.id = ?
                """
            scanArgs.append(scanId)
        } else {
            scans = """
                SELECT t.last_scan_id AS id, \(d.groupConcat("t.name", separator: " ")) AS tags FROM image_tags t JOIN images i ON i.id = t.image_id
                WHERE i.org_id = ?1 AND t.last_scan_id IS NOT NULL GROUP BY t.last_scan_id
                """
        }
        let sql = """
            WITH chosen AS (\(scans))
            SELECT r.name, i.full_name, c.tags, s.digest, s.id, f.vulnerability_id,
                \(d.jsonArrayJoined("f.detail", "aliases", separator: " ")),
                f.severity_rank, f.severity_source,
                COALESCE(\(d.json("f.detail", "cvssRating", "score")), \(d.json("f.detail", "cvss"))),
                \(d.json("f.detail", "cvssRating", "vector")), f.epss, f.epss_percentile, f.kev, f.priority_rank,
                f.pkg_name, f.pkg_version, f.pkg_type, COALESCE(f.purl, \(d.json("f.detail", "package", "purl"))),
                \(d.json("f.detail", "fixedVersion")), \(d.json("f.detail", "fixState")), \(d.json("f.detail", "title")),
                COALESCE(
                    (SELECT status FROM triage WHERE org_id = ?1 AND vulnerability_id = f.vulnerability_id AND image_id = s.image_id
                        AND (expires_at IS NULL OR expires_at > '\(nowText)')),
                    (SELECT status FROM triage WHERE org_id = ?1 AND vulnerability_id = f.vulnerability_id AND image_id = ''
                        AND (expires_at IS NULL OR expires_at > '\(nowText)')),
                    'OPEN')
            FROM chosen c
            JOIN scans s ON s.id = c.id
            JOIN images i ON i.id = s.image_id
            JOIN registries r ON r.id = s.registry_id
            JOIN findings f ON f.scan_id = s.id
            WHERE s.org_id = ?1\(whereSQL)
            ORDER BY s.id, f.seq
            """
        try db.each(sql, scanArgs + args) { r in
            try body(FindingRow(
                registry: r[0], image: r[1], tags: r[2], digest: r[3], scanId: r[4], vulnerabilityId: r[5], aliases: r[6],
                severity: Severity(rank: r[7]), severitySource: r[8], cvssScore: r[9], cvssVector: r[10], epss: r[11],
                epssPercentile: r[12], kev: r[13], priorityRank: r[14], package: r[15], version: r[16], type: r[17], purl: r[18],
                fixedVersion: r[19], fixState: r[20], title: r[21], triage: r[22]))
        }
    }

    /// Triage decisions in force (unexpired) for a printable report: the organization's, or the
    /// ones that concern one image (its own and organization-wide decisions on vulnerabilities
    /// found in its latest scans), newest first, at most `limit`.
    package static func triageDecisions(org: String, imageId: String?, registryScope: String?, now: Date, limit: Int, in db: any SQLConnection) throws -> [SQLRow] {
        let nowText = Timestamp.format(now)
        var filters = ["t.org_id = ?", "(t.expires_at IS NULL OR t.expires_at > ?)"]
        var args: [any SQLBindable] = [org, nowText]
        if let imageId {
            filters.append("""
                (t.image_id = ? OR (t.image_id = '' AND t.vulnerability_id IN (
                    SELECT f.vulnerability_id FROM findings f JOIN image_tags it ON it.last_scan_id = f.scan_id WHERE it.image_id = ?)))
                """)
            args += [imageId, imageId]
        }
        if let registryScope {
            // A scoped credential sees decisions on its registry's images only.
            filters.append("t.image_id IN (SELECT id FROM images WHERE registry_id = ?)")
            args.append(registryScope)
        }
        return try db.query("""
                SELECT t.vulnerability_id, t.image_id, i.full_name, t.status, t.note, t.expires_at, t.updated_by, t.updated_at
                FROM triage t LEFT JOIN images i ON i.id = t.image_id
                WHERE \(filters.joined(separator: " AND ")) ORDER BY t.updated_at DESC, t.vulnerability_id LIMIT ?
                """, args + [limit])
    }
}
