import Cron
import Foundation
import GRDB
import Hummingbird
import HummingbirdCore
import Registry
import Scan
import Store

/// A scan as the API shows it.
struct ScanDTO: Encodable, Sendable {
    var id: String
    var imageId: String?
    var registryId: String
    var reference: String
    var digest: String?
    var platform: String
    var status: String
    var trigger: String
    var origin: String
    var scanners: [ScannerRunRecord]
    var requestedScanners: [String]
    var os: OSInfo?
    var packageCount: Int
    var counts: SeverityCounts
    var riskScore: Int
    var layers: Layers
    var durationMs: Int?
    var error: String?
    var notes: [String]
    var jobId: String?
    var queuedAt: String
    var startedAt: String?
    var finishedAt: String?
    /// The policy verdict stored with the scan (only `GET /api/scans/{id}` fills it).
    var policy: PolicyVerdictDTO?

    struct OSInfo: Encodable, Sendable { var family: String, version: String? }
    struct Layers: Encodable, Sendable { var total: Int, cached: Int, bytesDownloaded: Int64 }

    init(row: SQLRow) {
        func json<T: Decodable>(_ col: String, _: T.Type) -> T? {
            (row[col] as String?).flatMap { try? JSONDecoder().decode(T.self, from: Data($0.utf8)) }
        }
        id = row["id"]
        imageId = row["image_id"]
        registryId = row["registry_id"]
        reference = row["reference"]
        digest = row["digest"]
        platform = row["platform"]
        status = row["status"]
        trigger = row["trigger"]
        origin = row["origin"]
        scanners = json("scanners", [ScannerRunRecord].self) ?? []
        requestedScanners = json("requested_scanners", [String].self) ?? ["native"]
        os = (row["os_family"] as String?).map { OSInfo(family: $0, version: row["os_version"]) }
        packageCount = row["package_count"]
        var c = SeverityCounts()
        c.critical = row["critical"]; c.high = row["high"]; c.medium = row["medium"]; c.low = row["low"]; c.unknown = row["unknown"]
        counts = c
        riskScore = row["risk_score"]
        layers = Layers(total: row["layers_total"], cached: row["layers_cached"], bytesDownloaded: row["bytes_downloaded"])
        durationMs = row["duration_ms"]
        error = row["error"]
        notes = json("notes", [String].self) ?? []
        jobId = row["job_id"]
        queuedAt = row["queued_at"]
        startedAt = row["started_at"]
        finishedAt = row["finished_at"]
    }

    enum CodingKeys: String, CodingKey {
        case id, imageId, registryId, reference, digest, platform, status, trigger, origin, scanners, requestedScanners, os,
             packageCount, counts, riskScore, layers, durationMs, error, notes, jobId, queuedAt, startedAt, finishedAt, policy
    }

    // Absent values are `null`, not missing keys: clients see one shape.
    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        // Only the one-scan answer carries the verdict (lists stay light).
        try c.encodeIfPresent(policy, forKey: .policy)
        try c.encode(id, forKey: .id); try c.encode(imageId, forKey: .imageId); try c.encode(registryId, forKey: .registryId)
        try c.encode(reference, forKey: .reference); try c.encode(digest, forKey: .digest); try c.encode(platform, forKey: .platform)
        try c.encode(status, forKey: .status); try c.encode(trigger, forKey: .trigger); try c.encode(origin, forKey: .origin)
        try c.encode(scanners, forKey: .scanners); try c.encode(requestedScanners, forKey: .requestedScanners)
        try c.encode(os, forKey: .os); try c.encode(packageCount, forKey: .packageCount); try c.encode(counts, forKey: .counts)
        try c.encode(riskScore, forKey: .riskScore); try c.encode(layers, forKey: .layers); try c.encode(durationMs, forKey: .durationMs)
        try c.encode(error, forKey: .error); try c.encode(notes, forKey: .notes); try c.encode(jobId, forKey: .jobId)
        try c.encode(queuedAt, forKey: .queuedAt); try c.encode(startedAt, forKey: .startedAt); try c.encode(finishedAt, forKey: .finishedAt)
    }
}

/// A triage decision as attached to a finding or a vulnerability.
struct TriageDTO: Encodable, Sendable {
    /// Where an imported decision came from: the VEX document's id and author.
    struct Source: Encodable, Sendable { var document: String?, author: String? }
    var status: String
    var note: String?
    var justification: String?
    var scope: String
    var imageId: String?
    var expiresAt: String?
    var updatedBy: String
    var updatedAt: String
    var source: Source?
    var subcomponents: [String]

    init(row: SQLRow) {
        status = row["status"]
        note = row["note"]
        justification = row["justification"]
        let image: String = row["image_id"]
        scope = image.isEmpty ? "organization" : "image"
        imageId = image.isEmpty ? nil : image
        expiresAt = row["expires_at"]
        updatedBy = row["updated_by"]
        updatedAt = row["updated_at"]
        let document: String? = row["source_document"]
        let author: String? = row["source_author"]
        source = document == nil && author == nil ? nil : Source(document: document, author: author)
        subcomponents = ((row["subcomponents"] as String?) ?? "").split(separator: "\n").map(String.init)
    }

    enum CodingKeys: String, CodingKey {
        case status, note, justification, scope, imageId, expiresAt, updatedBy, updatedAt, source, subcomponents
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(status, forKey: .status); try c.encode(note, forKey: .note); try c.encode(justification, forKey: .justification)
        try c.encode(scope, forKey: .scope)
        try c.encode(imageId, forKey: .imageId); try c.encode(expiresAt, forKey: .expiresAt)
        try c.encode(updatedBy, forKey: .updatedBy); try c.encode(updatedAt, forKey: .updatedAt)
        try c.encode(source, forKey: .source); try c.encode(subcomponents, forKey: .subcomponents)
    }

    /// The triage in force for `vulnerabilityIds` in an organization, image scope over organization scope.
    static func effective(orgId: String, imageId: String?, vulnerabilityIds: Set<String>, in db: any SQLConnection) throws -> [String: TriageDTO] {
        var out: [String: TriageDTO] = [:]
        // Organization rows come first, so the image's row overwrites them.
        for row in try ScanRepository.triageRows(orgId: orgId, imageId: imageId, vulnerabilityIds: vulnerabilityIds, in: db) {
            out[row["vulnerability_id"]] = TriageDTO(row: row)
        }
        return out
    }
}

/// One finding of a scan, as stored (the scan's `Finding`) plus its triage.
struct FindingDTO: Encodable, Sendable {
    var id: String
    var finding: Finding
    var triage: TriageDTO?

    enum CodingKeys: String, CodingKey {
        case id, vulnerabilityId, aliases, severity, severitySource, cvss, epss, kev, priority, package, fixedVersion, fixState, sources,
             title, references, matchedBy, triage
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id); try c.encode(finding.vulnerabilityId, forKey: .vulnerabilityId)
        try c.encode(finding.aliases, forKey: .aliases); try c.encode(finding.severity.rawValue, forKey: .severity)
        try FindingDocument.encodePriorityFields(
            of: finding, into: &c, severitySource: .severitySource, cvss: .cvss, epss: .epss, kev: .kev, priority: .priority)
        try c.encode(finding.package, forKey: .package)
        try c.encode(finding.fixedVersion, forKey: .fixedVersion); try c.encode(finding.fixState.rawValue, forKey: .fixState)
        try c.encode(finding.sources, forKey: .sources); try c.encode(finding.title, forKey: .title)
        try c.encode(finding.references, forKey: .references); try c.encode(finding.matchedBy, forKey: .matchedBy)
        try c.encode(triage, forKey: .triage)
    }
}

/// `/api/scans…`: queue, list, inspect, cancel and delete scans; their findings, packages and SBOM.
struct ScanRoutes {
    let s: AppServices
    var scans: ScanService { ScanService(s: s) }

    func register(_ api: RouteTable) {
        api.post("/api/scans", create)
        api.get("/api/scans", list)
        api.get("/api/scans/{scanId}", get)
        api.get("/api/scans/{scanId}/status", status)
        api.post("/api/scans/{scanId}/cancel", cancel)
        api.delete("/api/scans/{scanId}", delete)
        api.get("/api/scans/{scanId}/findings", findings)
        api.get("/api/scans/{scanId}/packages", packages)
        api.get("/api/scans/{scanId}/sbom", sbom)
    }

    static var sortColumns: [String: String] { ScanService.sortColumns }

    func scanId(_ ctx: AppRequestContext) -> String { ctx.parameters.get("scanId") ?? "" }

    /// CycloneDX 1.6 or SPDX 2.3 JSON of the scanned image's stored inventory.
    @Sendable func sbom(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await s.authorize(req, .viewer, reach: .registry)
        let raw = req.uri.queryParameters["format"].map(String.init) ?? SBOMFormat.cyclonedx.rawValue
        guard let format = SBOMFormat(rawValue: raw.lowercased()) else {
            throw APIError.validation("format", "Expected cyclonedx or spdx.")
        }
        guard let (subject, inventory, createdAt) = try await scans.sbomSource(p, id: scanId(ctx)) else {
            throw APIError.conflict("The scan has not completed: there is no inventory to export yet.")
        }
        let data = try SBOMWriter.write(format, subject: subject, inventory: inventory, createdAt: createdAt, toolVersion: ProductVersion.current)
        let type = format == .cyclonedx ? "application/vnd.cyclonedx+json; version=1.6" : "application/spdx+json"
        return Response(status: .ok, headers: [.contentType: type], body: .init(byteBuffer: .init(bytes: data)))
    }

    @Sendable func create(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await s.authorize(req, .developer, reach: .registry)
        try scans.admit(p)
        let (enqueued, status) = try await scans.create(p, body: try await req.jsonObject(), ip: ctx.remoteIP)
        struct Accepted: Encodable { var id: String, status: String, jobId: String, created: Bool }
        return try Reply.data(
            Accepted(id: enqueued.scanId, status: status, jobId: enqueued.jobId, created: enqueued.enqueued),
            status: .accepted, headers: [.location: "/api/scans/\(enqueued.scanId)"])
    }

    @Sendable func list(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await s.authorize(req, .viewer, reach: .registry)
        let page = try PageRequest(req.uri, sortable: Set(Self.sortColumns.keys))
        let q = req.uri.queryParameters
        var status: ScanStatus?
        if let v = q["status"] {
            guard let st = ScanStatus(rawValue: String(v)) else {
                throw APIError.validation("status", "Expected one of queued, running, completed, failed, cancelled.")
            }
            status = st
        }
        let (rows, total) = try await scans.list(
            p, page: page, status: status, registryId: q["registryId"].map(String.init), imageId: q["imageId"].map(String.init))
        return try Reply.json(ListEnvelope(data: rows, page: page, total: total, uri: req.uri))
    }

    @Sendable func get(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await s.authorize(req, .viewer, reach: .registry)
        return try Reply.data(try await scans.scan(p, id: scanId(ctx)))
    }

    @Sendable func status(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await s.authorize(req, .viewer, reach: .registry)
        return try Reply.data(try await scans.progress(p, id: scanId(ctx)))
    }

    @Sendable func cancel(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await s.authorize(req, .developer, reach: .registry)
        return try Reply.data(try await scans.cancel(p, id: scanId(ctx), ip: ctx.remoteIP))
    }

    @Sendable func delete(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await s.authorize(req, .admin, reach: .registry)
        let id = scanId(ctx)
        try await scans.delete(p, id: id, ip: ctx.remoteIP)
        return try Reply.data(Deleted(id: id))
    }

    @Sendable func findings(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await s.authorize(req, .viewer, reach: .registry)
        let page = try PageRequest(req.uri, sortable: Set(ScanRepository.FindingsOrder.allCases.map(\.rawValue)))
        let q = req.uri.queryParameters
        var query = ScanRepository.FindingsQuery(limit: page.limit, offset: page.offset)
        query.priority = try PriorityFilter.parse(q)
        query.order = page.sortField.flatMap(ScanRepository.FindingsOrder.init(rawValue:)) ?? .priority
        if let v = q["severity"] { query.severityRanks = try Self.severityRanks(String(v)) }
        if let v = q["fixable"] {
            guard let b = Bool(String(v).lowercased()) else { throw APIError.validation("fixable", "Expected true or false.") }
            query.fixable = b
        }
        if let v = q["package"] { query.package = String(v) }
        query.like = page.likePattern
        let (rows, total) = try await scans.findings(p, id: scanId(ctx), query)
        return try Reply.json(ListEnvelope(data: rows, page: page, total: total, uri: req.uri))
    }

    /// `CRITICAL,high` → storage ranks; unknown words are a validation error.
    static func severityRanks(_ list: String) throws -> [Int] {
        var ranks: [Int] = []
        for word in list.split(separator: ",") {
            guard let sev = Severity(rawValue: word.trimmingCharacters(in: .whitespaces).uppercased()) else {
                throw APIError.validation("severity", "Unknown severity \(word); expected CRITICAL, HIGH, MEDIUM, LOW or UNKNOWN.")
            }
            ranks.append(sev.storedRank)
        }
        return ranks
    }

    @Sendable func packages(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await s.authorize(req, .viewer, reach: .registry)
        let page = try PageRequest(req.uri, sortable: [])
        let (rows, total) = try await scans.packages(p, id: scanId(ctx), page: page, type: req.uri.queryParameters["type"].map(String.init))
        return try Reply.json(ListEnvelope(data: rows, page: page, total: total, uri: req.uri))
    }
}
