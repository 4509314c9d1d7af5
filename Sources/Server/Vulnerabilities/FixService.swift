import Cron
import Foundation
import GRDB
import Hummingbird
import HummingbirdCore
import Scan
import Store

extension PriorityFilter {
    /// `kev=true|false`, `epssMin=0…1` (EPSS score), `priority=P1,P2`, `severitySource=nvd,…`
    /// from a query string; every bad parameter is one validation issue.
    static func parse(_ q: FlatDictionary<Substring, Substring>) throws -> PriorityFilter {
        var f = PriorityFilter()
        var issues: [ValidationIssue] = []
        if let v = q["kev"] {
            if let b = Bool(String(v).lowercased()) { f.kev = b } else { issues.append(.init("kev", "Expected true or false.")) }
        }
        if let v = q["epssMin"] {
            if let d = Double(String(v)), d.isFinite, (0...1).contains(d) {
                f.epssMin = d
            } else {
                issues.append(.init("epssMin", "Expected an EPSS score from 0 to 1."))
            }
        }
        if let v = q["priority"] {
            var list: [Priority] = []
            for word in v.split(separator: ",") {
                if let p = Priority(rawValue: word.trimmingCharacters(in: .whitespaces).uppercased()) {
                    list.append(p)
                } else {
                    issues.append(.init("priority", "Unknown priority \(word.prefix(16)); expected P1, P2, P3, P4 or P5."))
                    break
                }
            }
            f.priorities = list
        }
        if let v = q["severitySource"] {
            var list: [String] = []
            for word in v.split(separator: ",") {
                if let s = SeveritySource(rawValue: word.trimmingCharacters(in: .whitespaces).lowercased()) {
                    list.append(s.rawValue)
                } else {
                    issues.append(.init(
                        "severitySource",
                        "Unknown severity source \(word.prefix(16)); expected one of \(SeveritySource.allCases.map(\.rawValue).joined(separator: ", "))."))
                    break
                }
            }
            f.severitySources = list
        }
        if !issues.isEmpty { throw APIError.validation(issues) }
        return f
    }
}

/// One fix group as the API shows it: "upgrade `package` to `fixedVersion` — closes
/// `findings` findings (`kev` KEV) in `images` images".
struct FixGroupDTO: Encodable, Sendable {
    var group: FixGroup

    enum CodingKeys: String, CodingKey {
        case package, type, fixedVersion, findings, kev, images, bestPriority, highestSeverity, vulnerabilityIds, vulnerabilityCount
    }

    /// At most this many vulnerability ids per group (`vulnerabilityCount` has them all).
    static let idLimit = 20

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(group.package, forKey: .package); try c.encode(group.packageType.rawValue, forKey: .type)
        try c.encode(group.fixedVersion, forKey: .fixedVersion); try c.encode(group.findings, forKey: .findings)
        try c.encode(group.kev, forKey: .kev); try c.encode(group.images, forKey: .images)
        try c.encode(group.bestPriority, forKey: .bestPriority); try c.encode(group.highestSeverity, forKey: .highestSeverity)
        try c.encode(Array(group.vulnerabilityIds.prefix(Self.idLimit)), forKey: .vulnerabilityIds)
        try c.encode(group.vulnerabilityIds.count, forKey: .vulnerabilityCount)
    }
}

/// Fix groups: what to upgrade first, over the current findings of the organization or of one
/// image (`FixRepository`). A registry-scoped credential sees its registry's images only.
struct FixService: Sendable {
    let s: AppServices

    func list(_ p: Principal, imageId: String? = nil, registryId: String? = nil, filter: PriorityFilter, limit: Int, offset: Int)
        async throws -> (groups: [FixGroupDTO], total: Int)
    {
        let operation = imageId.map { "GET /api/images/\($0)/fixes" } ?? "GET /api/fixes"
        try p.authorize(.viewer, reach: .registry, operation: operation)
        var q = FixRepository.Query(org: p.orgId, now: s.now, limit: limit, offset: offset)
        q.filter = filter
        q.imageId = imageId
        let scope = p.registryScope
        if let scope, let registryId, scope != registryId {
            // Another registry than the credential's: nothing of it is visible.
            return ([], 0)
        }
        q.registryScope = scope ?? registryId
        let query = q
        let result: (groups: [FixGroupDTO], total: Int)? = try await s.db.read { db in
            if let imageId {
                guard let registry = try VulnerabilityRepository.registryOfImage(imageId, org: p.orgId, in: db),
                    p.reaches(registry: registry)
                else { return nil }
            }
            let (groups, total) = try FixRepository.groups(query, in: db)
            return (groups.map(FixGroupDTO.init), total)
        }
        guard let result else { throw APIError.notFound("Image") }
        return result
    }
}

/// `GET /api/fixes` and `GET /api/images/{imageId}/fixes` (`FixService`).
struct FixRoutes {
    let s: AppServices

    func register(_ api: RouteTable) {
        api.get("/api/fixes", list)
        api.get("/api/images/{imageId}/fixes", imageFixes)
    }

    @Sendable func list(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await s.authorize(req, .viewer, reach: .registry)
        let page = try PageRequest(req.uri, sortable: [])
        let filter = try PriorityFilter.parse(req.uri.queryParameters)
        let (groups, total) = try await FixService(s: s).list(
            p, registryId: req.uri.queryParameters["registryId"].map(String.init), filter: filter, limit: page.limit,
            offset: page.offset)
        return try Reply.json(ListEnvelope(data: groups, page: page, total: total, uri: req.uri))
    }

    @Sendable func imageFixes(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await s.authorize(req, .viewer, reach: .registry)
        let page = try PageRequest(req.uri, sortable: [])
        let filter = try PriorityFilter.parse(req.uri.queryParameters)
        let (groups, total) = try await FixService(s: s).list(
            p, imageId: ctx.parameters.get("imageId") ?? "", filter: filter, limit: page.limit, offset: page.offset)
        return try Reply.json(ListEnvelope(data: groups, page: page, total: total, uri: req.uri))
    }
}
