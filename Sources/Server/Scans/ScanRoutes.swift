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

    struct OSInfo: Encodable, Sendable { var family: String, version: String? }
    struct Layers: Encodable, Sendable { var total: Int, cached: Int, bytesDownloaded: Int64 }

    init(row: Row) {
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
             packageCount, counts, riskScore, layers, durationMs, error, notes, jobId, queuedAt, startedAt, finishedAt
    }

    // Absent values are `null`, not missing keys: clients see one shape.
    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
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
    var status: String
    var note: String?
    var scope: String
    var imageId: String?
    var expiresAt: String?
    var updatedBy: String
    var updatedAt: String

    init(row: Row) {
        status = row["status"]
        note = row["note"]
        let image: String = row["image_id"]
        scope = image.isEmpty ? "organization" : "image"
        imageId = image.isEmpty ? nil : image
        expiresAt = row["expires_at"]
        updatedBy = row["updated_by"]
        updatedAt = row["updated_at"]
    }

    enum CodingKeys: String, CodingKey { case status, note, scope, imageId, expiresAt, updatedBy, updatedAt }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(status, forKey: .status); try c.encode(note, forKey: .note); try c.encode(scope, forKey: .scope)
        try c.encode(imageId, forKey: .imageId); try c.encode(expiresAt, forKey: .expiresAt)
        try c.encode(updatedBy, forKey: .updatedBy); try c.encode(updatedAt, forKey: .updatedAt)
    }

    /// The triage in force for `vulnerabilityIds` in an organization, image scope over organization scope.
    static func effective(orgId: String, imageId: String?, vulnerabilityIds: Set<String>, in db: Database) throws -> [String: TriageDTO] {
        guard !vulnerabilityIds.isEmpty else { return [:] }
        let marks = Array(repeating: "?", count: vulnerabilityIds.count).joined(separator: ",")
        var args: [any DatabaseValueConvertible & Sendable] = [orgId, imageId ?? ""]
        args += vulnerabilityIds.sorted() as [any DatabaseValueConvertible & Sendable]
        var out: [String: TriageDTO] = [:]
        // '' (organization) sorts before an image id, so the image's row overwrites it.
        for row in try Row.fetchAll(
            db,
            sql: """
                SELECT * FROM triage WHERE org_id = ? AND image_id IN ('', ?) AND vulnerability_id IN (\(marks))
                ORDER BY image_id
                """,
            arguments: StatementArguments(args))
        {
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
        case id, vulnerabilityId, aliases, severity, cvss, package, fixedVersion, fixState, sources, title, references, triage
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id); try c.encode(finding.vulnerabilityId, forKey: .vulnerabilityId)
        try c.encode(finding.aliases, forKey: .aliases); try c.encode(finding.severity.rawValue, forKey: .severity)
        try c.encode(finding.cvss, forKey: .cvss); try c.encode(finding.package, forKey: .package)
        try c.encode(finding.fixedVersion, forKey: .fixedVersion); try c.encode(finding.fixState.rawValue, forKey: .fixState)
        try c.encode(finding.sources, forKey: .sources); try c.encode(finding.title, forKey: .title)
        try c.encode(finding.references, forKey: .references); try c.encode(triage, forKey: .triage)
    }
}

/// `/api/scans…`: queue, list, inspect, cancel and delete scans; their findings, packages and SBOM.
struct ScanRoutes {
    let s: AppServices

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

    /// CycloneDX 1.6 or SPDX 2.3 JSON of the scanned image's stored inventory.
    @Sendable func sbom(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await s.authorize(req, .viewer, reach: .registry)
        let raw = req.uri.queryParameters["format"].map(String.init) ?? SBOMFormat.cyclonedx.rawValue
        guard let format = SBOMFormat(rawValue: raw.lowercased()) else {
            throw APIError.validation("format", "Expected cyclonedx or spdx.")
        }
        let loaded: (SBOMSubject, ImageInventory, Date)?? = try await s.db.read { db in
            guard let row = try scanRow(ctx, p, in: db) else { return nil }
            guard (row["status"] as String) == ScanStatus.completed.rawValue, let manifest = row["manifest_digest"] as String?,
                  let inventory = try ScanStore.inventory(digest: manifest, in: db)
            else { return .some(nil) }
            let subject = SBOMSubject(reference: row["reference"], digest: row["digest"] ?? manifest, platform: row["platform"])
            let finished = (row["finished_at"] as String?).flatMap(Timestamp.parse) ?? Date()
            return (subject, inventory, finished)
        }
        guard let found = loaded else { throw APIError.notFound("Scan") }
        guard let (subject, inventory, createdAt) = found else {
            throw APIError.conflict("The scan has not completed: there is no inventory to export yet.")
        }
        let data = try SBOMWriter.write(format, subject: subject, inventory: inventory, createdAt: createdAt, toolVersion: ProductVersion.current)
        let type = format == .cyclonedx ? "application/vnd.cyclonedx+json; version=1.6" : "application/spdx+json"
        return Response(status: .ok, headers: [.contentType: type], body: .init(byteBuffer: .init(bytes: data)))
    }

    @Sendable func create(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await s.authorize(req, .developer, reach: .registry)
        try s.scanLimiter.hit("scan:\(p.id)", now: s.now)
        var r = try await req.jsonObject()
        r.rejectUnknown(allowed: ["image", "scanners", "platform"])
        let raw = r.string("image", required: true, minLength: 1, maxLength: 512)
        let scanners = r.stringArray("scanners", maxCount: 4)
        let platformText = r.string("platform", maxLength: 64)
        var image: ImageReference?
        if let raw {
            do { image = try ImageReference(raw) } catch { r.fail("image", "Not an image reference: \(error.description)") }
        }
        if let scanners {
            for (i, name) in scanners.enumerated() where ScannerName(rawValue: name) == nil {
                r.fail("scanners[\(i)]", "Unknown scanner \(name); expected one of native, trivy, grype, syft.")
            }
            if Set(scanners).count != scanners.count { r.fail("scanners", "Lists a scanner twice.") }
        }
        var platform: Platform?
        if let platformText {
            platform = Platform(parsing: platformText)
            if platform == nil { r.fail("platform", "Expected os/arch[/variant], e.g. linux/arm64.") }
        }
        try r.check()
        guard let image else { throw APIError.validation(r.issues) }
        let wantedPlatform = platform
        let now = s.now
        let orgId = p.orgId
        let scope = p.registryScope
        let result = try await s.db.write { db -> (ScanEnqueueResult, String)? in
            guard let registry = try Self.registry(for: image, orgId: orgId, scope: scope, in: db) else { return nil }
            var names = scanners ?? registry.scanners
            if !names.contains("native") { names.insert("native", at: 0) }
            let request = ScanRequest(
                registryId: registry.id, repository: image.repository.name, tag: image.tag?.name,
                digest: image.digest?.description, trigger: "api", platform: wantedPlatform?.description, scanners: names,
                origin: registry.scanMethod == .sensor ? "sensor" : "cloud")
            let enqueued = try SyncStore.enqueueScan(
                request, orgId: orgId, now: now, registryHost: ScanStore.host(ofRegistryURL: registry.url), in: db)
            if enqueued.enqueued {
                try AppServices.audit(
                    db, org: orgId, actor: p.actor, action: "scan.create", target: enqueued.scanId, ip: ctx.remoteIP, now: now)
            }
            let status = try String.fetchOne(db, sql: "SELECT status FROM scans WHERE id = ?", arguments: [enqueued.scanId]) ?? "queued"
            return (enqueued, status)
        }
        guard let (enqueued, status) = result else {
            throw APIError.validation(
                "image", "The registry \(image.registry) is not one of this organization's registries; add it first.")
        }
        struct Accepted: Encodable { var id: String, status: String, jobId: String, created: Bool }
        return try Reply.data(
            Accepted(id: enqueued.scanId, status: status, jobId: enqueued.jobId, created: enqueued.enqueued),
            status: .accepted, headers: [.location: "/api/scans/\(enqueued.scanId)"])
    }

    /// The organization's registry an image reference points into (by host; Docker Hub's aliases are one host).
    static func registry(for image: ImageReference, orgId: String, scope: String?, in db: Database) throws -> RegistryRecord? {
        func canonical(_ host: String) -> String {
            let h = host.lowercased()
            return ["docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"].contains(h)
                ? ImageReference.dockerHubRegistry : h
        }
        let wanted = canonical(image.registry)
        return try RegistryRepository.registriesByAge(db, org: orgId).first { r in
            (scope == nil || scope == r.id) && canonical(ScanStore.host(ofRegistryURL: r.url)) == wanted
        }
    }

    static let sortColumns = ["queuedAt": "queued_at", "finishedAt": "finished_at", "riskScore": "risk_score", "status": "status"]

    @Sendable func list(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await s.authorize(req, .viewer, reach: .registry)
        let page = try PageRequest(req.uri, sortable: Set(Self.sortColumns.keys))
        let q = req.uri.queryParameters
        var filters = ["org_id = ?"]
        var args: [any DatabaseValueConvertible & Sendable] = [p.orgId]
        if let scope = p.registryScope { filters.append("registry_id = ?"); args.append(scope) }
        if let v = q["status"] {
            guard ScanStatus(rawValue: String(v)) != nil else {
                throw APIError.validation("status", "Expected one of queued, running, completed, failed, cancelled.")
            }
            filters.append("status = ?"); args.append(String(v))
        }
        if let v = q["registryId"] { filters.append("registry_id = ?"); args.append(String(v)) }
        if let v = q["imageId"] { filters.append("image_id = ?"); args.append(String(v)) }
        if let like = page.likePattern { filters.append("reference LIKE ? ESCAPE '\\'"); args.append(like) }
        let order = page.sortField.flatMap { Self.sortColumns[$0] }.map { "\($0) \(page.descending ? "DESC" : "ASC"), id" }
            ?? "queued_at DESC, id DESC"
        let whereSQL = filters.joined(separator: " AND ")
        let finalArgs = args
        let (rows, total) = try await s.db.read { db in
            let total = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM scans WHERE \(whereSQL)", arguments: StatementArguments(finalArgs)) ?? 0
            let rows = try Row.fetchAll(
                db, sql: "SELECT * FROM scans WHERE \(whereSQL) ORDER BY \(order) LIMIT ? OFFSET ?",
                arguments: StatementArguments(finalArgs + [page.limit, page.offset]))
            return (rows.map(ScanDTO.init(row:)), total)
        }
        return try Reply.json(ListEnvelope(data: rows, page: page, total: total, uri: req.uri))
    }

    /// The scan row if the principal may see it.
    func scanRow(_ ctx: AppRequestContext, _ p: Principal, in db: Database) throws -> Row? {
        let id = ctx.parameters.get("scanId") ?? ""
        guard let row = try Row.fetchOne(db, sql: "SELECT * FROM scans WHERE id = ? AND org_id = ?", arguments: [id, p.orgId])
        else { return nil }
        if !p.reaches(registry: row["registry_id"]) { return nil }
        return row
    }

    @Sendable func get(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await s.authorize(req, .viewer, reach: .registry)
        guard let dto = try await s.db.read({ db in try scanRow(ctx, p, in: db).map(ScanDTO.init(row:)) })
        else { throw APIError.notFound("Scan") }
        return try Reply.data(dto)
    }

    @Sendable func status(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await s.authorize(req, .viewer, reach: .registry)
        struct Status: Encodable {
            struct Progress: Encodable { var done: Int, total: Int }
            var id: String, status: String, progress: Progress, error: String?, queuedAt: String, startedAt: String?, finishedAt: String?
            func encode(to encoder: any Encoder) throws {
                var c = encoder.container(keyedBy: CodingKeys.self)
                try c.encode(id, forKey: .id); try c.encode(status, forKey: .status); try c.encode(progress, forKey: .progress)
                try c.encode(error, forKey: .error); try c.encode(queuedAt, forKey: .queuedAt)
                try c.encode(startedAt, forKey: .startedAt); try c.encode(finishedAt, forKey: .finishedAt)
            }
            enum CodingKeys: String, CodingKey { case id, status, progress, error, queuedAt, startedAt, finishedAt }
        }
        let out: Status? = try await s.db.read { db in
            guard let row = try scanRow(ctx, p, in: db) else { return nil }
            var progress = Status.Progress(done: 0, total: 0)
            if let job = try Row.fetchOne(
                db, sql: "SELECT progress_done, progress_total FROM jobs WHERE id = ?", arguments: [row["job_id"] as String?])
            {
                progress = .init(done: job[0], total: job[1])
            }
            if (row["status"] as String) == ScanStatus.completed.rawValue { progress.done = max(progress.done, progress.total) }
            return Status(
                id: row["id"], status: row["status"], progress: progress, error: row["error"], queuedAt: row["queued_at"],
                startedAt: row["started_at"], finishedAt: row["finished_at"])
        }
        guard let out else { throw APIError.notFound("Scan") }
        return try Reply.data(out)
    }

    @Sendable func cancel(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await s.authorize(req, .developer, reach: .registry)
        let now = s.now
        let ts = Timestamp.format(now)
        let outcome: ScanDTO? = try await s.db.write { db in
            guard let row = try scanRow(ctx, p, in: db) else { return nil }
            let id: String = row["id"]
            guard ScanStatus(rawValue: row["status"])?.isActive == true else {
                throw APIError.conflict("The scan is \(row["status"] as String); only a queued or running scan can be cancelled.")
            }
            try db.execute(
                sql: "UPDATE scans SET status = 'cancelled', finished_at = ?, error = ? WHERE id = ?",
                arguments: [ts, "cancelled by \(p.actor)", id])
            // A running job's worker sees the lost lease within seconds and stops.
            if let job = row["job_id"] as String? { try JobStore.cancel(job, now: now, in: db) }
            try AppServices.audit(db, org: p.orgId, actor: p.actor, action: "scan.cancel", target: id, ip: ctx.remoteIP, now: now)
            return try Row.fetchOne(db, sql: "SELECT * FROM scans WHERE id = ?", arguments: [id]).map(ScanDTO.init(row:))
        }
        guard let outcome else { throw APIError.notFound("Scan") }
        return try Reply.data(outcome)
    }

    @Sendable func delete(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await s.authorize(req, .admin, reach: .registry)
        let now = s.now
        let id: String? = try await s.db.write { db in
            guard let row = try scanRow(ctx, p, in: db) else { return nil }
            let id: String = row["id"]
            if let job = row["job_id"] as String? { try JobStore.cancel(job, now: now, in: db) }
            // Tags that showed this scan fall back to their previous completed scan of the same digest.
            try db.execute(
                sql: """
                    UPDATE image_tags SET
                        last_scan_id = (SELECT s.id FROM scans s WHERE s.image_id = image_tags.image_id AND s.id != ?1
                            AND s.status = 'completed' AND s.digest = image_tags.digest ORDER BY s.finished_at DESC, s.id DESC LIMIT 1),
                        last_scanned_at = (SELECT s.finished_at FROM scans s WHERE s.image_id = image_tags.image_id AND s.id != ?1
                            AND s.status = 'completed' AND s.digest = image_tags.digest ORDER BY s.finished_at DESC, s.id DESC LIMIT 1)
                    WHERE last_scan_id = ?1
                    """,
                arguments: [id])
            try db.execute(sql: "DELETE FROM scans WHERE id = ?", arguments: [id])
            if let image = row["image_id"] as String? { try ScanStore.refreshImageRisk(imageId: image, in: db) }
            try AppServices.audit(db, org: p.orgId, actor: p.actor, action: "scan.delete", target: id, ip: ctx.remoteIP, now: now)
            return id
        }
        guard let id else { throw APIError.notFound("Scan") }
        return try Reply.data(Deleted(id: id))
    }

    @Sendable func findings(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await s.authorize(req, .viewer, reach: .registry)
        let page = try PageRequest(req.uri, sortable: [])
        let q = req.uri.queryParameters
        var filters = ["scan_id = ?"]
        var extra: [any DatabaseValueConvertible & Sendable] = []
        if let v = q["severity"] {
            let ranks = try Self.severityRanks(String(v))
            filters.append("severity_rank IN (\(ranks.map(String.init).joined(separator: ",")))")
        }
        if let v = q["fixable"] {
            guard let b = Bool(String(v).lowercased()) else { throw APIError.validation("fixable", "Expected true or false.") }
            filters.append("fixable = \(b ? 1 : 0)")
        }
        if let v = q["package"] { filters.append("pkg_name = ?"); extra.append(String(v)) }
        if let like = page.likePattern {
            filters.append("(vulnerability_id LIKE ? ESCAPE '\\' OR pkg_name LIKE ? ESCAPE '\\')")
            extra.append(like); extra.append(like)
        }
        let whereSQL = filters.joined(separator: " AND ")
        let extraArgs = extra
        let result: ([FindingDTO], Int)? = try await s.db.read { db in
            guard let row = try scanRow(ctx, p, in: db) else { return nil }
            let id: String = row["id"]
            let args: [any DatabaseValueConvertible & Sendable] = [id] + extraArgs
            let total = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM findings WHERE \(whereSQL)", arguments: StatementArguments(args)) ?? 0
            let rows = try Row.fetchAll(
                db, sql: "SELECT seq, detail FROM findings WHERE \(whereSQL) ORDER BY seq LIMIT ? OFFSET ?",
                arguments: StatementArguments(args + [page.limit, page.offset]))
            let decoder = JSONDecoder()
            let found = try rows.map { r in (seq: r[0] as Int, finding: try decoder.decode(Finding.self, from: r[1] as Data)) }
            let triage = try TriageDTO.effective(
                orgId: p.orgId, imageId: row["image_id"], vulnerabilityIds: Set(found.map(\.finding.vulnerabilityId)), in: db)
            return (found.map { FindingDTO(id: "\(id):\($0.seq)", finding: $0.finding, triage: triage[$0.finding.vulnerabilityId]) }, total)
        }
        guard let (rows, total) = result else { throw APIError.notFound("Scan") }
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
        let typeFilter = req.uri.queryParameters["type"].map(String.init)
        let search = page.search?.lowercased()
        let result: ([InstalledPackage], Int)? = try await s.db.read { db in
            guard let row = try scanRow(ctx, p, in: db) else { return nil }
            guard let digest = row["manifest_digest"] as String?, let inventory = try ScanStore.inventory(digest: digest, in: db) else {
                return ([], 0)
            }
            let all = inventory.packages.filter { pkg in
                (typeFilter == nil || pkg.type.rawValue == typeFilter) && (search == nil || pkg.name.lowercased().contains(search!))
            }
            return (Array(all.dropFirst(page.offset).prefix(page.limit)), all.count)
        }
        guard let (rows, total) = result else { throw APIError.notFound("Scan") }
        return try Reply.json(ListEnvelope(data: rows, page: page, total: total, uri: req.uri))
    }
}
