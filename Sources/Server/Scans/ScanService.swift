import Cron
import Foundation
import GRDB
import Registry
import Scan
import Store

/// `GET /api/scans/{scanId}/status`: where a scan is.
struct ScanProgressDTO: Encodable, Sendable {
    struct Progress: Encodable, Sendable { var done: Int, total: Int }
    var id: String, status: String, progress: Progress, error: String?, queuedAt: String, startedAt: String?, finishedAt: String?

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id); try c.encode(status, forKey: .status); try c.encode(progress, forKey: .progress)
        try c.encode(error, forKey: .error); try c.encode(queuedAt, forKey: .queuedAt)
        try c.encode(startedAt, forKey: .startedAt); try c.encode(finishedAt, forKey: .finishedAt)
    }

    enum CodingKeys: String, CodingKey { case id, status, progress, error, queuedAt, startedAt, finishedAt }
}

/// The scans' domain operations for the API and the console: each takes the caller's
/// `Principal`, authorizes it (registry-scoped credentials reach their registry's scans only:
/// another registry's scan is 404) and works through `ScanRepository`.
struct ScanService: Sendable {
    let s: AppServices

    static let sortColumns = ["queuedAt": "queued_at", "finishedAt": "finished_at", "riskScore": "risk_score", "status": "status"]

    /// The scan row if the principal may see it.
    static func visibleScan(_ id: String, _ p: Principal, in db: any SQLConnection) throws -> SQLRow? {
        guard let row = try ScanRepository.scan(id, org: p.orgId, in: db), p.reaches(registry: row["registry_id"]) else { return nil }
        return row
    }

    /// Counts a scan request against the caller's rate (429 beyond it), before its body is read.
    func admit(_ p: Principal) throws {
        try p.authorize(.developer, reach: .registry, operation: "POST /api/scans")
        try s.scanLimiter.hit("scan:\(p.id)", now: s.now)
    }

    /// A scan request as the API takes it (`{image, scanners?, platform?}`), validated with one
    /// issue per bad field, then `create` below (after `admit`).
    func create(_ p: Principal, body: ObjectReader, ip: String?) async throws -> (enqueued: ScanEnqueueResult, status: String) {
        try p.authorize(.developer, reach: .registry, operation: "POST /api/scans")
        var r = body
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
        return try await create(p, image: image, scanners: scanners, platform: platform, ip: ip)
    }

    /// Queues a scan of an image of one of the organization's registries (`POST /api/scans`,
    /// after `admit`).
    func create(
        _ p: Principal, image: ImageReference, scanners: [String]?, platform: Platform?, ip: String?
    ) async throws -> (enqueued: ScanEnqueueResult, status: String) {
        try p.authorize(.developer, reach: .registry, operation: "POST /api/scans")
        let now = s.now
        let result = try await s.db.write { db -> (ScanEnqueueResult, String)? in
            guard let registry = try Self.registry(for: image, orgId: p.orgId, scope: p.registryScope, in: db) else { return nil }
            var names = scanners ?? registry.scanners
            if !names.contains("native") { names.insert("native", at: 0) }
            let request = ScanRequest(
                registryId: registry.id, repository: image.repository.name, tag: image.tag?.name,
                digest: image.digest?.description, trigger: "api", platform: platform?.description, scanners: names,
                origin: registry.scanMethod == .sensor ? "sensor" : "cloud")
            let enqueued = try SyncStore.enqueueScan(
                request, orgId: p.orgId, now: now, registryHost: ScanRepository.host(ofRegistryURL: registry.url), in: db)
            if enqueued.enqueued {
                try AppServices.audit(db, org: p.orgId, actor: p.actor, action: "scan.create", target: enqueued.scanId, ip: ip, now: now)
            }
            return (enqueued, try ScanRepository.status(enqueued.scanId, in: db) ?? "queued")
        }
        guard let result else {
            throw APIError.validation(
                "image", "The registry \(image.registry) is not one of this organization's registries; add it first.")
        }
        return result
    }

    /// The organization's registry an image reference points into (by host; Docker Hub's aliases are one host).
    static func registry(for image: ImageReference, orgId: String, scope: String?, in db: any SQLConnection) throws -> RegistryRecord? {
        func canonical(_ host: String) -> String {
            let h = host.lowercased()
            return ["docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"].contains(h)
                ? ImageReference.dockerHubRegistry : h
        }
        let wanted = canonical(image.registry)
        return try RegistryRepository.registriesByAge(db, org: orgId).first { r in
            (scope == nil || scope == r.id) && canonical(ScanRepository.host(ofRegistryURL: r.url)) == wanted
        }
    }

    /// A page of the scans the caller may see (`GET /api/scans`), newest first by default.
    func list(
        _ p: Principal, page: PageRequest, status: ScanStatus? = nil, registryId: String? = nil, imageId: String? = nil
    ) async throws -> (scans: [ScanDTO], total: Int) {
        try p.authorize(.viewer, reach: .registry, operation: "GET /api/scans")
        var query = ScanRepository.ListQuery(org: p.orgId, limit: page.limit, offset: page.offset)
        if let scope = p.registryScope { query.registryIds.append(scope) }
        if let registryId { query.registryIds.append(registryId) }
        query.status = status?.rawValue
        query.imageId = imageId
        query.like = page.likePattern
        query.sortColumn = page.sortField.flatMap { Self.sortColumns[$0] }
        query.descending = page.descending
        let listQuery = query
        return try await s.db.read { db in
            let (rows, total) = try ScanRepository.list(listQuery, in: db)
            return (rows.map(ScanDTO.init(row:)), total)
        }
    }

    /// One scan (`GET /api/scans/{scanId}`); 404 outside the caller's reach.
    func scan(_ p: Principal, id: String) async throws -> ScanDTO {
        try p.authorize(.viewer, reach: .registry, operation: "GET /api/scans/\(id)")
        guard let dto = try await s.db.read({ db -> ScanDTO? in
            guard var dto = try Self.visibleScan(id, p, in: db).map(ScanDTO.init(row:)) else { return nil }
            dto.policy = try PolicyRecording.stored(scanId: dto.id, in: db).map(PolicyVerdictDTO.init)
            return dto
        })
        else { throw APIError.notFound("Scan") }
        return dto
    }

    /// Where a scan is, with its job's progress.
    func progress(_ p: Principal, id: String) async throws -> ScanProgressDTO {
        try p.authorize(.viewer, reach: .registry, operation: "GET /api/scans/\(id)/status")
        let out: ScanProgressDTO? = try await s.db.read { db in
            guard let row = try Self.visibleScan(id, p, in: db) else { return nil }
            var progress = ScanProgressDTO.Progress(done: 0, total: 0)
            if let jobId = row["job_id"] as String?, let job = try JobStore.get(jobId, in: db) {
                progress = .init(done: job.progressDone, total: job.progressTotal)
            }
            if (row["status"] as String) == ScanStatus.completed.rawValue { progress.done = max(progress.done, progress.total) }
            return ScanProgressDTO(
                id: row["id"], status: row["status"], progress: progress, error: row["error"], queuedAt: row["queued_at"],
                startedAt: row["started_at"], finishedAt: row["finished_at"])
        }
        guard let out else { throw APIError.notFound("Scan") }
        return out
    }

    /// Cancels a queued or running scan (409 otherwise); its job through `JobStore.cancel`.
    func cancel(_ p: Principal, id: String, ip: String?) async throws -> ScanDTO {
        try p.authorize(.developer, reach: .registry, operation: "POST /api/scans/\(id)/cancel")
        let now = s.now
        let outcome: ScanDTO? = try await s.db.write { db in
            guard let row = try Self.visibleScan(id, p, in: db) else { return nil }
            guard ScanStatus(rawValue: row["status"])?.isActive == true else {
                throw APIError.conflict("The scan is \(row["status"] as String); only a queued or running scan can be cancelled.")
            }
            try ScanRepository.markCancelled(id, by: p.actor, now: now, in: db)
            // A running job's worker sees the lost lease within seconds and stops.
            if let job = row["job_id"] as String? { try JobStore.cancel(job, now: now, in: db) }
            try AppServices.audit(db, org: p.orgId, actor: p.actor, action: "scan.cancel", target: id, ip: ip, now: now)
            return try ScanRepository.scan(id, in: db).map(ScanDTO.init(row:))
        }
        guard let outcome else { throw APIError.notFound("Scan") }
        return outcome
    }

    /// Deletes a scan and its findings; tags that showed it fall back to their previous scan.
    func delete(_ p: Principal, id: String, ip: String?) async throws {
        try p.authorize(.admin, reach: .registry, operation: "DELETE /api/scans/\(id)")
        let now = s.now
        let found: Bool = try await s.db.write { db in
            guard let row = try Self.visibleScan(id, p, in: db) else { return false }
            if let job = row["job_id"] as String? { try JobStore.cancel(job, now: now, in: db) }
            try ScanRepository.delete(id, in: db)
            if let image = row["image_id"] as String? { try ScanRepository.refreshImageRisk(imageId: image, in: db) }
            try AppServices.audit(db, org: p.orgId, actor: p.actor, action: "scan.delete", target: id, ip: ip, now: now)
            return true
        }
        guard found else { throw APIError.notFound("Scan") }
    }

    /// A page of a scan's findings with the triage in force for each.
    func findings(_ p: Principal, id: String, _ query: ScanRepository.FindingsQuery) async throws -> (findings: [FindingDTO], total: Int) {
        try p.authorize(.viewer, reach: .registry, operation: "GET /api/scans/\(id)/findings")
        let result: ([FindingDTO], Int)? = try await s.db.read { db in
            guard let row = try Self.visibleScan(id, p, in: db) else { return nil }
            let (found, total) = try ScanRepository.findings(scanId: id, query, in: db)
            let triage = try TriageDTO.effective(
                orgId: p.orgId, imageId: row["image_id"], vulnerabilityIds: Set(found.map(\.finding.vulnerabilityId)), in: db)
            return (found.map { FindingDTO(id: "\(id):\($0.seq)", finding: $0.finding, triage: triage[$0.finding.vulnerabilityId]) }, total)
        }
        guard let result else { throw APIError.notFound("Scan") }
        return result
    }

    /// A page of the scanned image's packages (empty before the scan completed).
    func packages(_ p: Principal, id: String, page: PageRequest, type: String?) async throws -> (packages: [InstalledPackage], total: Int) {
        try p.authorize(.viewer, reach: .registry, operation: "GET /api/scans/\(id)/packages")
        let search = page.search?.lowercased()
        let result: ([InstalledPackage], Int)? = try await s.db.read { db in
            guard let row = try Self.visibleScan(id, p, in: db) else { return nil }
            guard let digest = row["manifest_digest"] as String?, let inventory = try ScanRepository.inventory(digest: digest, in: db) else {
                return ([], 0)
            }
            let all = inventory.packages.filter { pkg in
                (type == nil || pkg.type.rawValue == type) && (search == nil || pkg.name.lowercased().contains(search!))
            }
            return (Array(all.dropFirst(page.offset).prefix(page.limit)), all.count)
        }
        guard let result else { throw APIError.notFound("Scan") }
        return result
    }

    /// What an SBOM of a completed scan is made of; nil when the scan has not completed.
    func sbomSource(_ p: Principal, id: String) async throws -> (subject: SBOMSubject, inventory: ImageInventory, createdAt: Date)? {
        try p.authorize(.viewer, reach: .registry, operation: "GET /api/scans/\(id)/sbom")
        let loaded: (SBOMSubject, ImageInventory, Date)?? = try await s.db.read { db in
            guard let row = try Self.visibleScan(id, p, in: db) else { return nil }
            guard (row["status"] as String) == ScanStatus.completed.rawValue, let manifest = row["manifest_digest"] as String?,
                  let inventory = try ScanRepository.inventory(digest: manifest, in: db)
            else { return .some(nil) }
            let subject = SBOMSubject(reference: row["reference"], digest: row["digest"] ?? manifest, platform: row["platform"])
            let finished = (row["finished_at"] as String?).flatMap(Timestamp.parse) ?? Date()
            return (subject, inventory, finished)
        }
        guard let found = loaded else { throw APIError.notFound("Scan") }
        return found
    }
}
