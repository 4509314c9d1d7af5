import Cron
import Foundation
import GRDB
import Scan
import Store

/// The images' domain operations for the API and the console: each takes the caller's
/// `Principal`, authorizes it (any role; registry-scoped credentials see their registry's
/// images only) and reads through `ImageRepository` / `OverviewRepository`.
struct ImageService: Sendable {
    let s: AppServices

    static let sortColumns = ["name": "name", "createdAt": "created_at", "riskScore": "risk_score"]

    /// A page of the images the caller may see (`GET /api/images`).
    func list(_ p: Principal, page: PageRequest, registryId: String?) async throws -> (images: [ImageDTO], total: Int) {
        try p.authorize(.viewer, reach: .registry, operation: "GET /api/images")
        let registryIds = p.registryFilter(asked: registryId)
        let query = ImageRepository.ListQuery(
            org: p.orgId, registryIds: registryIds, like: page.likePattern,
            sortColumn: page.sortField.flatMap { Self.sortColumns[$0] }, descending: page.descending,
            limit: page.limit, offset: page.offset)
        return try await s.db.read { db in
            let found = try ImageRepository.list(db, query)
            let verdicts = try PolicyRepository.imageVerdicts(db, imageIds: found.rows.map { $0["id"] })
            return (found.rows.map { row in
                var dto = ImageDTO(row: row)
                dto.policy = ImageDTO.policySummary(verdicts[dto.id])
                return dto
            }, found.total)
        }
    }

    /// One image with its tags (`GET /api/images/{imageId}`); 404 outside the caller's reach.
    func image(_ p: Principal, id: String) async throws -> ImageDTO {
        try p.authorize(.viewer, reach: .registry, operation: "GET /api/images/\(id)")
        let dto: ImageDTO? = try await s.db.read { db in
            guard let row = try ImageRepository.image(db, id: id, org: p.orgId) else { return nil }
            if !p.reaches(registry: row["registry_id"]) { return nil }
            let tags = try ImageRepository.tagRows(db, imageId: id).map {
                ImageDTO.TagDTO(
                    name: $0["name"], digest: $0["digest"], lastScanId: $0["last_scan_id"],
                    lastScannedAt: $0["last_scanned_at"], firstSeenAt: $0["first_seen_at"], updatedAt: $0["updated_at"])
            }
            var dto = ImageDTO(row: row, tags: tags)
            dto.policy = ImageDTO.policySummary(try PolicyRepository.imageVerdicts(db, imageIds: [id])[id])
            return dto
        }
        guard let dto else { throw APIError.notFound("Image") }
        return dto
    }

    /// The console overview's totals, in one read transaction of six statements.
    struct Overview: Sendable {
        /// The top fix groups ("Fix first").
        var fixFirst: [FixGroup]
        var severities: OverviewRepository.SeverityTotals
        var registries: [OverviewRepository.RegistryRisk]
        var recentByStatus: [String: Int]
        var topImages: [ImageDTO]
        var trend: [ConsoleChart.Point]
    }

    func overview(_ p: Principal) async throws -> Overview {
        try p.authorize(.viewer, reach: .registry, operation: "GET /console")
        let now = s.now
        return try await s.db.read { db in
            let o = try OverviewRepository.overview(
                db, org: p.orgId, registry: p.registryScope, recentSince: now.addingTimeInterval(-86_400),
                trendSince: Calendar(identifier: .gregorian).startOfDay(for: now).addingTimeInterval(-29 * 86_400))
            var fixes = FixRepository.Query(org: p.orgId, now: now, limit: 5, offset: 0)
            fixes.registryScope = p.registryScope
            return Overview(
                fixFirst: try FixRepository.groups(fixes, countTotal: false, in: db).groups, severities: o.severities, registries: o.registries, recentByStatus: o.recentByStatus,
                topImages: o.topImages.map { ImageDTO(row: $0) }, trend: ConsoleChart.trend(scans: o.trendScans, now: now))
        }
    }
}
