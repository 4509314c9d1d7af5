import Cron
import Foundation
import GRDB
import Hummingbird
import HummingbirdCore
import Scan
import Store

/// The CSV reports (`GET /api/reports/{findings,images,vulnerabilities,fixes}.csv`): the JSON
/// lists' rows with the same filters, every row in one file, streamed from one read
/// transaction (``StreamedExport``). Viewer and above; a registry-scoped credential exports
/// its registry's rows only.
struct ReportRoutes {
    let s: AppServices

    func register(_ api: RouteTable) {
        api.get("/api/reports/findings.csv", findings)
        api.get("/api/reports/images.csv", images)
        api.get("/api/reports/vulnerabilities.csv", vulnerabilities)
        api.get("/api/reports/fixes.csv", fixes)
    }

    static let findingColumns = [
        "registry", "image", "tags", "digest", "scan_id", "vulnerability_id", "aliases", "severity", "severity_source", "cvss_score",
        "cvss_vector", "epss_score", "epss_percentile", "kev", "priority", "package", "version", "type", "purl", "fixed_version",
        "fix_state", "title", "triage_status",
    ]
    static let imageColumns = [
        "id", "registry_id", "image", "latest_tag", "latest_digest", "tag_count", "risk_score", "critical", "high", "medium", "low",
        "unknown", "last_scanned_at", "created_at",
    ]
    static let vulnerabilityColumns = [
        "vulnerability_id", "aliases", "severity", "severity_source", "cvss_score", "epss_score", "epss_percentile", "kev", "priority",
        "package", "type", "versions", "fixed_version", "fixable", "affected_images", "first_detected_at", "triage_status", "title",
    ]
    static let fixColumns = [
        "package", "type", "fixed_version", "findings", "kev", "images", "best_priority", "highest_severity", "vulnerability_count",
        "vulnerability_ids",
    ]

    static func priority(_ rank: Int?) -> String? {
        rank.flatMap { Priority(rank: $0) }?.rawValue
    }

    @Sendable func findings(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await s.authorize(req, .viewer, reach: .registry)
        let q = req.uri.queryParameters
        var query = ReportRepository.FindingsQuery(org: p.orgId, now: s.now)
        query.registryIds = p.registryFilter(asked: q["registryId"].map(String.init))
        query.imageId = q["imageId"].map(String.init)
        query.scanId = q["scanId"].map(String.init)
        var issues: [ValidationIssue] = []
        if let v = q["severity"] {
            do { query.severityRanks = try ScanRoutes.severityRanks(String(v)) } catch let e as APIError { issues += e.issues }
        }
        if let v = q["fixable"] {
            if let b = Bool(String(v).lowercased()) { query.fixable = b } else { issues.append(.init("fixable", "Expected true or false.")) }
        }
        if let v = q["package"] { query.package = String(v) }
        do { query.priority = try PriorityFilter.parse(q) } catch let e as APIError { issues += e.issues }
        if !issues.isEmpty { throw APIError.validation(issues) }
        if let scanId = query.scanId {
            let visible = try await s.db.read { db in
                try ScanRepository.scan(scanId, org: p.orgId, in: db).map { p.reaches(registry: $0["registry_id"]) } ?? false
            }
            guard visible else { throw APIError.notFound("Scan") }
        }
        let chosen = query
        return try StreamedExport.csv(db: s.db, filename: "findings.csv", header: Self.findingColumns) { db, sink in
            var line = CSVLine()
            try ReportRepository.eachFinding(chosen, in: db) { f in
                line.removeAll()
                line.text(f.registry); line.text(f.image); line.text(f.tags); line.text(f.digest); line.text(f.scanId)
                line.text(f.vulnerabilityId); line.text(f.aliases); line.text(f.severity.rawValue); line.text(f.severitySource)
                line.number(f.cvssScore); line.text(f.cvssVector); line.number(f.epss); line.number(f.epssPercentile); line.bool(f.kev)
                line.text(Self.priority(f.priorityRank)); line.text(f.package); line.text(f.version); line.text(f.type); line.text(f.purl)
                line.text(f.fixedVersion); line.text(f.fixState); line.text(f.title); line.text(f.triage)
                line.end()
                try sink.write(line.bytes)
            }
        }
    }

    @Sendable func images(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await s.authorize(req, .viewer, reach: .registry)
        let page = try PageRequest(req.uri, sortable: Set(ImageService.sortColumns.keys))
        let query = ImageRepository.ListQuery(
            org: p.orgId, registryIds: p.registryFilter(asked: req.uri.queryParameters["registryId"].map(String.init)),
            like: page.likePattern, sortColumn: page.sortField.flatMap { ImageService.sortColumns[$0] }, descending: page.descending,
            limit: Int(Int32.max), offset: 0)
        return try StreamedExport.csv(db: s.db, filename: "images.csv", header: Self.imageColumns) { db, sink in
            var line = CSVLine()
            try ImageRepository.each(db, query) { row in
                let i = ImageDTO(row: row)
                line.removeAll()
                line.text(i.id); line.text(i.registryId); line.text(i.fullName); line.text(i.latestTag); line.text(i.latestDigest)
                line.integer(i.tagCount); line.integer(i.riskScore); line.integer(i.vulnerabilities.critical)
                line.integer(i.vulnerabilities.high); line.integer(i.vulnerabilities.medium); line.integer(i.vulnerabilities.low)
                line.integer(i.vulnerabilities.unknown); line.text(i.lastScannedAt); line.text(i.createdAt)
                line.end()
                try sink.write(line.bytes)
            }
        }
    }

    @Sendable func vulnerabilities(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await s.authorize(req, .viewer, reach: .registry)
        let page = try PageRequest(req.uri, sortable: Set(VulnerabilityRoutes.sortColumns.keys))
        var query = try VulnerabilityRoutes.listQuery(req.uri, page: page, principal: p, now: s.now)
        query.registryScope = p.registryScope
        let chosen = query
        return try StreamedExport.csv(db: s.db, filename: "vulnerabilities.csv", header: Self.vulnerabilityColumns) { db, sink in
            var line = CSVLine()
            let decoder = JSONDecoder()
            try VulnerabilityRepository.each(chosen, in: db) { r in
                let f = try decoder.decode(Finding.self, from: r["detail"] as Data)
                line.removeAll()
                line.text(r["vulnerability_id"]); line.list(f.aliases); line.text(Severity(rank: r["severity_rank"]).rawValue)
                line.text(f.severitySource?.rawValue); line.number(f.cvssRating?.score ?? f.cvss); line.number(r["epss"])
                line.number(f.epss?.percentile); line.bool(r["kev"]); line.text(Self.priority(r["priority_rank"]))
                line.text(r["pkg_name"]); line.text(f.package.type.rawValue)
                line.list(((r["versions"] as String?) ?? "").split(separator: ",").map(String.init).sorted())
                line.text(f.fixedVersion); line.bool(r["fixable"]); line.integer(r["affected"]); line.text(r["first_detected_at"])
                line.text(r["status"]); line.text(f.title)
                line.end()
                try sink.write(line.bytes)
            }
        }
    }

    @Sendable func fixes(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await s.authorize(req, .viewer, reach: .registry)
        let filter = try PriorityFilter.parse(req.uri.queryParameters)
        let asked = req.uri.queryParameters["registryId"].map(String.init)
        if let scope = p.registryScope, let asked, scope != asked {
            // Another registry than the credential's: nothing of it is visible.
            return try StreamedExport.csv(db: s.db, filename: "fixes.csv", header: Self.fixColumns) { _, _ in }
        }
        var q = FixRepository.Query(org: p.orgId, now: s.now, limit: Int(Int32.max), offset: 0)
        q.filter = filter
        q.registryScope = p.registryScope ?? asked
        let query = q
        return try StreamedExport.csv(db: s.db, filename: "fixes.csv", header: Self.fixColumns) { db, sink in
            var line = CSVLine()
            for g in try FixRepository.groups(query, countTotal: false, in: db).groups {
                line.removeAll()
                line.text(g.package); line.text(g.packageType.rawValue); line.text(g.fixedVersion); line.integer(g.findings)
                line.integer(g.kev); line.integer(g.images); line.text(g.bestPriority?.rawValue); line.text(g.highestSeverity.rawValue)
                line.integer(g.vulnerabilityIds.count); line.list(g.vulnerabilityIds)
                line.end()
                try sink.write(line.bytes)
            }
        }
    }
}
