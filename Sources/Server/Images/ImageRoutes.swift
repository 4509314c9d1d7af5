import Cron
import Foundation
import GRDB
import Hummingbird
import Store

struct ImageDTO: Encodable, Sendable {
    struct Counts: Encodable, Sendable {
        var critical: Int, high: Int, medium: Int, low: Int, unknown: Int
    }
    struct TagDTO: Encodable, Sendable {
        var name: String
        var digest: String
        var lastScanId: String?
        var lastScannedAt: String?
        var firstSeenAt: String
        var updatedAt: String

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(name, forKey: .name); try c.encode(digest, forKey: .digest)
            try c.encode(lastScanId, forKey: .lastScanId); try c.encode(lastScannedAt, forKey: .lastScannedAt)
            try c.encode(firstSeenAt, forKey: .firstSeenAt); try c.encode(updatedAt, forKey: .updatedAt)
        }
        enum CodingKeys: String, CodingKey { case name, digest, lastScanId, lastScannedAt, firstSeenAt, updatedAt }
    }

    var id: String
    var registryId: String
    var name: String
    var fullName: String
    var tagCount: Int
    var latestTag: String?
    var latestDigest: String?
    var riskScore: Int
    var vulnerabilities: Counts
    var lastScannedAt: String?
    var createdAt: String
    var tags: [TagDTO]?
    /// The image's policy verdict: the worst verdict of its tags' current scans (null before
    /// any evaluation).
    var policy: PolicySummary?

    struct PolicySummary: Encodable, Sendable {
        var verdict: String
        var evaluatedAt: String
        var violations: Int
    }

    static func policySummary(_ verdicts: [(verdict: String, violationCount: Int, evaluatedAt: Date)]?) -> PolicySummary? {
        guard let verdicts, !verdicts.isEmpty else { return nil }
        let order = ["pass": 0, "warn": 1, "fail": 2]
        let worst = verdicts.max { (order[$0.verdict] ?? 0) < (order[$1.verdict] ?? 0) }!
        let latest = verdicts.map(\.evaluatedAt).max()!
        return PolicySummary(
            verdict: worst.verdict, evaluatedAt: Timestamp.format(latest), violations: verdicts.reduce(0) { $0 + $1.violationCount })
    }

    init(row: SQLRow, tags: [TagDTO]? = nil) {
        id = row["id"]
        registryId = row["registry_id"]
        name = row["name"]
        fullName = row["full_name"]
        tagCount = row["tag_count"]
        latestTag = row["latest_tag"]
        latestDigest = row["latest_digest"]
        riskScore = row["risk_score"]
        vulnerabilities = Counts(critical: row["critical"], high: row["high"], medium: row["medium"], low: row["low"], unknown: row["unknown"])
        lastScannedAt = row["last_scanned_at"]
        createdAt = row["created_at"]
        self.tags = tags
    }

    enum CodingKeys: String, CodingKey {
        case id, registryId, name, fullName, tagCount, latestTag, latestDigest, riskScore, vulnerabilities, lastScannedAt, createdAt, tags,
             policy
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id); try c.encode(registryId, forKey: .registryId); try c.encode(name, forKey: .name)
        try c.encode(fullName, forKey: .fullName); try c.encode(tagCount, forKey: .tagCount)
        try c.encode(latestTag, forKey: .latestTag); try c.encode(latestDigest, forKey: .latestDigest)
        try c.encode(riskScore, forKey: .riskScore); try c.encode(vulnerabilities, forKey: .vulnerabilities)
        try c.encode(lastScannedAt, forKey: .lastScannedAt); try c.encode(createdAt, forKey: .createdAt)
        try c.encodeIfPresent(tags, forKey: .tags)
        try c.encode(policy, forKey: .policy)
    }
}

/// `GET /api/images` and `GET /api/images/{imageId}`: what sync found (`ImageService`).
struct ImageRoutes {
    let s: AppServices
    var images: ImageService { ImageService(s: s) }

    func register(_ api: RouteTable) {
        api.get("/api/images", list)
        api.get("/api/images/{imageId}", get)
    }

    @Sendable func list(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await s.authenticate(req)
        try p.authorize(.viewer, reach: .registry, operation: "")
        let page = try PageRequest(req.uri, sortable: Set(ImageService.sortColumns.keys))
        let (rows, total) = try await images.list(p, page: page, registryId: req.uri.queryParameters["registryId"].map(String.init))
        return try Reply.json(ListEnvelope(data: rows, page: page, total: total, uri: req.uri))
    }

    @Sendable func get(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await s.authenticate(req)
        return try Reply.data(try await images.image(p, id: ctx.parameters.get("imageId") ?? ""))
    }
}
