package import Cron
package import Foundation
package import Scan

/// The priority filters every findings list takes: `kev`, `epssMin` (EPSS score),
/// `priority` and `severitySource`.
package struct PriorityFilter: Sendable, Hashable {
    package var kev: Bool?
    package var epssMin: Double?
    package var priorities: [Priority]?
    /// `SeveritySource` raw values; `none` matches findings with no source recorded.
    package var severitySources: [String]?

    package init() {}

    /// SQL conditions on the findings table under `alias` (`f.`) and their arguments.
    package func conditions(_ alias: String = "f.") -> (sql: [String], args: [any SQLBindable]) {
        var sql: [String] = []
        var args: [any SQLBindable] = []
        if let b = kev { sql.append("\(alias)kev = \(b ? 1 : 0)") }
        if let e = epssMin { sql.append("\(alias)epss >= ?"); args.append(e) }
        if let p = priorities, !p.isEmpty {
            sql.append("\(alias)priority_rank IN (\(p.map { String($0.rank) }.joined(separator: ",")))")
        }
        if let sources = severitySources, !sources.isEmpty {
            let named = sources.filter { $0 != SeveritySource.none.rawValue }
            var any: [String] = []
            if !named.isEmpty {
                any.append("\(alias)severity_source IN (\(Array(repeating: "?", count: named.count).joined(separator: ",")))")
                args += named as [any SQLBindable]
            }
            if named.count != sources.count { any.append("\(alias)severity_source IS NULL OR \(alias)severity_source = 'none'") }
            sql.append("(" + any.joined(separator: " OR ") + ")")
        }
        return (sql, args)
    }
}

/// Fix groups: the organization's current findings (the latest scan of every tag) that an
/// upgrade closes, grouped by (package type, package, fixed version). Findings excepted by an
/// unexpired `WONT_FIX` or `NOT_AFFECTED` decision (organization or image) are left out, as in the counts.
package enum FixRepository {
    package struct Query: Sendable {
        package var org: String
        package var registryScope: String?
        package var imageId: String?
        package var filter = PriorityFilter()
        package var now: Date
        package var limit: Int
        package var offset: Int

        package init(org: String, now: Date, limit: Int, offset: Int) {
            self.org = org
            self.now = now
            self.limit = limit
            self.offset = offset
        }
    }

    /// The current findings a group aggregates: `latest` (the current scans, each with its
    /// image) and `cur` (their findings with a version to upgrade to, the filters applied, no
    /// `WONT_FIX` or `NOT_AFFECTED` in force excepting them). Across the organization `cur` walks
    /// `findings_fix_group` in group order (a covering index: one pass, no sort for the
    /// grouping); one image's few scans are read by scan id.
    static func current(_ q: Query, _ dialect: SQLDialect) -> (sql: String, args: [any SQLBindable]) {
        var scope: [String] = []
        var args: [any SQLBindable] = [q.org]
        if let r = q.registryScope { scope.append("AND i.registry_id = ?"); args.append(r) }
        if let img = q.imageId { scope.append("AND i.id = ?"); args.append(img) }
        let (conditions, filterArgs) = q.filter.conditions()
        args += filterArgs
        let now = Timestamp.format(q.now)
        args += [q.org, now, q.org, now] as [any SQLBindable]
        let index = q.imageId == nil && dialect == .sqlite ? "INDEXED BY findings_fix_group" : ""
        let sql = """
            latest AS (
                SELECT t.last_scan_id AS id, MIN(i.id) AS image_id FROM image_tags t JOIN images i ON i.id = t.image_id
                WHERE i.org_id = ? AND t.last_scan_id IS NOT NULL \(scope.joined(separator: " "))
                GROUP BY t.last_scan_id
            ),
            cur AS (
                SELECT f.scan_id, f.pkg_name, f.pkg_type, f.fix_version, f.priority_rank, f.severity_rank, f.kev, f.vulnerability_id
                FROM findings f \(index)
                WHERE f.fix_version IS NOT NULL AND f.scan_id IN (SELECT id FROM latest)
                    \(conditions.map { "AND \($0)" }.joined(separator: " "))
                    AND f.vulnerability_id NOT IN (
                        SELECT t.vulnerability_id FROM triage t WHERE t.org_id = ? AND t.image_id = '' AND t.status IN ('WONT_FIX', 'NOT_AFFECTED')
                            AND (t.expires_at IS NULL OR t.expires_at > ?))
                    AND (f.scan_id, f.vulnerability_id) NOT IN (
                        SELECT l.id, t.vulnerability_id FROM triage t JOIN latest l ON l.image_id = t.image_id
                        WHERE t.org_id = ? AND t.status IN ('WONT_FIX', 'NOT_AFFECTED') AND (t.expires_at IS NULL OR t.expires_at > ?))
            )
            """
        return (sql, args)
    }

    /// A page of groups, best priority closed first, then most findings, most KEV, name; and
    /// the number of groups (`countTotal: false` skips it: the console overview shows the top
    /// groups only). The page's groups are read once more for their images and vulnerabilities.
    package static func groups(_ q: Query, countTotal: Bool = true, in db: any SQLConnection) throws -> (groups: [FixGroup], total: Int) {
        let (cur, args) = current(q, db.dialect)
        let rows = try db.query("""
                WITH \(cur)
                SELECT pkg_name, pkg_type, fix_version, COUNT(*) AS findings, SUM(kev) AS kev, MIN(priority_rank) AS best,
                    MAX(severity_rank) AS severity_rank\(countTotal ? ", COUNT(*) OVER () AS total" : "")
                FROM cur GROUP BY pkg_name, pkg_type, fix_version
                ORDER BY best, findings DESC, kev DESC, pkg_name, fix_version, pkg_type
                LIMIT ? OFFSET ?
                """, args + [q.limit, q.offset])
        var total = countTotal ? (rows.first?["total"] as Int? ?? 0) : -1
        if countTotal && rows.isEmpty && q.offset > 0 {
            // A page past the end still says how many groups there are.
            total = try db.int("WITH \(cur) SELECT COUNT(*) FROM (SELECT 1 FROM cur GROUP BY pkg_name, pkg_type, fix_version) AS g", args) ?? 0
        }
        guard !rows.isEmpty else { return ([], total) }
        // The page's groups once more: their images and vulnerability ids.
        let keys = Array(repeating: "(?, ?, ?)", count: rows.count).joined(separator: ", ")
        var keyArgs: [any SQLBindable] = []
        for r in rows { keyArgs += [r["pkg_name"] as String, r["pkg_type"] as String, r["fix_version"] as String] }
        var members: [String: (images: Set<String>, ids: Set<String>)] = [:]
        for m in try db.query("""
                WITH \(cur), page(n, t, v) AS (VALUES \(keys))
                SELECT c.pkg_name, c.pkg_type, c.fix_version, c.vulnerability_id, l.image_id
                FROM page JOIN cur c ON c.pkg_name = page.n AND c.pkg_type = page.t AND c.fix_version = page.v
                JOIN latest l ON l.id = c.scan_id
                """, args + keyArgs)
        {
            let key = "\(m[0] as String)\u{1F}\(m[1] as String)\u{1F}\(m[2] as String)"
            var entry = members[key] ?? ([], [])
            entry.ids.insert(m[3])
            if let image = m[4] as String? { entry.images.insert(image) }
            members[key] = entry
        }
        // Types are stored from `PackageType`, so every row decodes.
        return (rows.compactMap { r in
            guard let type = PackageType(rawValue: r["pkg_type"]) else { return nil }
            let m = members["\(r["pkg_name"] as String)\u{1F}\(r["pkg_type"] as String)\u{1F}\(r["fix_version"] as String)"]
            return FixGroup(
                package: r["pkg_name"], packageType: type, fixedVersion: r["fix_version"], findings: r["findings"], kev: r["kev"],
                bestPriority: Priority(rank: r["best"]), highestSeverity: Severity(rank: r["severity_rank"]),
                vulnerabilityIds: (m?.ids ?? []).sorted(), images: m?.images.count ?? 0)
        }, total)
    }
}
