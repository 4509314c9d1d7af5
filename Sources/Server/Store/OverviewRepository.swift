package import Cron
package import Foundation

/// The console overview's totals as SQL aggregates: five statements for the whole page, in the
/// caller's (read) transaction. Every query is limited to the organization and, for a
/// registry-scoped credential, to its registry.
package enum OverviewRepository {
    /// Open findings per severity over the images' latest counts.
    package struct SeverityTotals: Sendable, Equatable {
        package var critical = 0, high = 0, medium = 0, low = 0, unknown = 0
        package init() {}
    }

    /// One registry's row of "Risk by registry".
    package struct RegistryRisk: Sendable, Equatable {
        package var id: String
        package var name: String
        package var health: String
        package var imageCount: Int
        package var critical: Int
        package var high: Int
        package var maxRisk: Int

        package init(id: String, name: String, health: String, imageCount: Int, critical: Int, high: Int, maxRisk: Int) {
            self.id = id
            self.name = name
            self.health = health
            self.imageCount = imageCount
            self.critical = critical
            self.high = high
            self.maxRisk = maxRisk
        }
    }

    /// A completed scan as the trend needs it.
    package struct CompletedScan: Sendable, Equatable {
        package var imageId: String
        package var finishedAt: String
        package var critical: Int
        package var high: Int

        package init(imageId: String, finishedAt: String, critical: Int, high: Int) {
            self.imageId = imageId
            self.finishedAt = finishedAt
            self.critical = critical
            self.high = high
        }
    }

    package struct Overview {
        package var severities: SeverityTotals
        package var registries: [RegistryRisk]
        /// Scans queued since `recentSince`, by status.
        package var recentByStatus: [String: Int]
        /// The ten images with the highest risk (`images` rows).
        package var topImages: [SQLRow]
        /// Completed scans that finished since the trend's start, and each image's latest one before it.
        package var trendScans: [CompletedScan]
    }

    private static func scope(_ column: String, _ registry: String?) -> String {
        registry == nil ? "" : " AND \(column) = ?"
    }

    private static func args(_ org: String, _ registry: String?, _ more: [any SQLBindable] = [])
        -> [any SQLBindable]
    {
        var a: [any SQLBindable] = [org]
        if let registry { a.append(registry) }
        return a + more
    }

    /// The overview of `org` (only `registry` when set): `recentSince` bounds the recent-scans
    /// tiles, `trendSince` the trend's window.
    package static func overview(
        _ db: any SQLConnection, org: String, registry: String?, recentSince: Date, trendSince: Date, registryLimit: Int = 200,
        topImages: Int = 10
    ) throws -> Overview {
        // 1. Totals per severity.
        var totals = SeverityTotals()
        if let row = try db.queryOne("""
                SELECT COALESCE(SUM(critical), 0) AS critical, COALESCE(SUM(high), 0) AS high,
                       COALESCE(SUM(medium), 0) AS medium, COALESCE(SUM(low), 0) AS low, COALESCE(SUM(unknown), 0) AS unknown
                FROM images WHERE org_id = ?\(scope("registry_id", registry))
                """, args(org, registry))
        {
            totals.critical = row["critical"]
            totals.high = row["high"]
            totals.medium = row["medium"]
            totals.low = row["low"]
            totals.unknown = row["unknown"]
        }
        // 2. Risk by registry: the registries with their images' sums, highest risk first.
        let registries = try db.query("""
                SELECT r.id, r.name, r.health_status, r.image_count, r.created_at,
                       COALESCE(SUM(i.critical), 0) AS critical, COALESCE(SUM(i.high), 0) AS high,
                       COALESCE(MAX(i.risk_score), 0) AS max_risk
                FROM registries r LEFT JOIN images i ON i.registry_id = r.id
                WHERE r.org_id = ?\(scope("r.id", registry))
                GROUP BY r.id, r.name, r.health_status, r.image_count, r.created_at
                ORDER BY max_risk DESC, r.created_at, r.id LIMIT ?
                """, args(org, registry, [registryLimit])
        ).map {
            RegistryRisk(
                id: $0["id"], name: $0["name"], health: $0["health_status"], imageCount: $0["image_count"],
                critical: $0["critical"], high: $0["high"], maxRisk: $0["max_risk"])
        }
        // 3. Scans queued recently, by status.
        var recent: [String: Int] = [:]
        for row in try db.query("""
                SELECT status, COUNT(*) AS n FROM scans WHERE org_id = ?\(scope("registry_id", registry)) AND queued_at >= ?
                GROUP BY status
                """, args(org, registry, [Timestamp.format(recentSince)]))
        {
            recent[row["status"]] = row["n"]
        }
        // 4. The images with the highest risk (the image list's `riskScore:desc` order).
        let top = try db.query("SELECT * FROM images WHERE org_id = ?\(scope("registry_id", registry)) ORDER BY risk_score DESC, id LIMIT ?", args(org, registry, [topImages]))
        // 5. The trend's scans: completed in the window, plus each image's latest completed scan
        //    before it (what the window's first days count).
        let since = Timestamp.format(trendSince)
        let trend = try db.query("""
                SELECT s.image_id, s.finished_at, s.critical, s.high FROM scans s
                WHERE s.org_id = ?\(scope("s.registry_id", registry)) AND s.status = 'completed'
                  AND s.image_id IS NOT NULL AND s.finished_at IS NOT NULL
                  AND (s.finished_at >= ? OR s.finished_at = (
                    SELECT MAX(p.finished_at) FROM scans p
                    WHERE p.image_id = s.image_id AND p.status = 'completed' AND p.finished_at < ?))
                ORDER BY s.image_id, s.finished_at, s.id
                """, args(org, registry, [since, since])
        ).map { CompletedScan(imageId: $0["image_id"], finishedAt: $0["finished_at"], critical: $0["critical"], high: $0["high"]) }
        return Overview(severities: totals, registries: registries, recentByStatus: recent, topImages: top, trendScans: trend)
    }
}
