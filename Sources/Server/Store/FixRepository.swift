import Cron
package import Foundation
package import GRDB
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
    package func conditions(_ alias: String = "f.") -> (sql: [String], args: [any DatabaseValueConvertible & Sendable]) {
        var sql: [String] = []
        var args: [any DatabaseValueConvertible & Sendable] = []
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
                args += named as [any DatabaseValueConvertible & Sendable]
            }
            if named.count != sources.count { any.append("\(alias)severity_source IS NULL OR \(alias)severity_source = 'none'") }
            sql.append("(" + any.joined(separator: " OR ") + ")")
        }
        return (sql, args)
    }
}

/// Fix groups: the organization's current findings (the latest scan of every tag) that an
/// upgrade closes, grouped by (package type, package, fixed version). Findings excepted by an
/// unexpired `WONT_FIX` decision (organization or image) are left out, as in the counts.
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

    /// A page of groups, best priority closed first, then most findings, most KEV, name.
    /// `countTotal: false` skips the count (the console overview shows the top groups only).
    package static func groups(_ q: Query, countTotal: Bool = true, in db: Database) throws -> (groups: [FixGroup], total: Int) {
        var scope: [String] = []
        // Positional parameters, in the order they appear in the statement.
        var args: [any DatabaseValueConvertible & Sendable] = [q.org]
        if let r = q.registryScope { scope.append("i.registry_id = ?"); args.append(r) }
        if let img = q.imageId { scope.append("i.id = ?"); args.append(img) }
        let (conditions, filterArgs) = q.filter.conditions()
        args += filterArgs
        args += [q.org, Timestamp.format(q.now)] as [any DatabaseValueConvertible & Sendable]
        let scopeSQL = scope.isEmpty ? "" : "AND " + scope.joined(separator: " AND ")
        let filterSQL = conditions.isEmpty ? "" : "AND " + conditions.joined(separator: " AND ")
        let sql = """
            WITH latest AS (
                SELECT DISTINCT t.last_scan_id AS id, i.id AS image_id FROM image_tags t JOIN images i ON i.id = t.image_id
                WHERE i.org_id = ? AND t.last_scan_id IS NOT NULL \(scopeSQL)
            ),
            open AS (
                SELECT f.pkg_type, f.pkg_name, f.fix_version, f.vulnerability_id, f.priority_rank, f.severity_rank, f.kev,
                    l.image_id
                FROM latest l JOIN findings f ON f.scan_id = l.id
                WHERE f.fix_version IS NOT NULL \(filterSQL) AND NOT EXISTS (
                    SELECT 1 FROM triage t WHERE t.org_id = ? AND t.vulnerability_id = f.vulnerability_id
                        AND t.status = 'WONT_FIX' AND (t.image_id = '' OR t.image_id = l.image_id)
                        AND (t.expires_at IS NULL OR t.expires_at > ?))
            ),
            grouped AS (
                SELECT pkg_type, pkg_name, fix_version,
                    COUNT(DISTINCT image_id || '|' || vulnerability_id) AS findings,
                    COUNT(DISTINCT CASE WHEN kev = 1 THEN image_id || '|' || vulnerability_id END) AS kev,
                    MIN(priority_rank) AS best, MAX(severity_rank) AS severity_rank,
                    COUNT(DISTINCT image_id) AS images, group_concat(DISTINCT vulnerability_id) AS ids
                FROM open GROUP BY pkg_type, pkg_name, fix_version
            )
            """
        let total = countTotal
            ? try Int.fetchOne(db, sql: sql + " SELECT COUNT(*) FROM grouped", arguments: StatementArguments(args)) ?? 0 : -1
        let rows = try Row.fetchAll(
            db,
            sql: sql + """
                 SELECT * FROM grouped ORDER BY best, findings DESC, kev DESC, pkg_name, fix_version, pkg_type LIMIT ? OFFSET ?
                """,
            arguments: StatementArguments(args + [q.limit, q.offset]))
        // Types are stored from `PackageType`, so every row decodes.
        return (rows.compactMap { r in
            guard let type = PackageType(rawValue: r["pkg_type"]) else { return nil }
            return FixGroup(
                package: r["pkg_name"], packageType: type, fixedVersion: r["fix_version"],
                findings: r["findings"], kev: r["kev"], bestPriority: Priority(rank: r["best"]),
                highestSeverity: Severity(rank: r["severity_rank"]),
                vulnerabilityIds: ((r["ids"] as String?) ?? "").split(separator: ",").map(String.init).sorted(), images: r["images"])
        }, total)
    }
}
