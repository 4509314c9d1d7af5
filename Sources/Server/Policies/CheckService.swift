import Cron
import Foundation
import GRDB
import HTTPTypes
import Registry
import Scan
import Store

/// `POST /api/policy/check`'s answer when a verdict is ready: the verdict evaluated now, the
/// policies and rules evaluated (each rule once, so a CI report can list the passing ones), the
/// violations and the rules without data.
struct CheckVerdictDTO: Encodable, Sendable {
    struct PolicyRef: Encodable, Sendable {
        var id: String
        var name: String
        var action: String
        var rules: [PolicyVerdictDTO.Rule]
    }
    var verdict: String
    var image: String
    var digest: String
    var scanId: String
    var evaluatedAt: String
    var policies: [PolicyRef]
    var violations: [PolicyVerdictDTO.Violation]
    var noData: [PolicyNoData]
}

/// `POST /api/policy/check`'s answer while the scan of the digest is queued or running.
struct CheckPendingDTO: Encodable, Sendable {
    var scanId: String
    var digest: String
    var status: String
    var image: String
}

/// The CI check: may this image ship? Resolves the reference to a digest (a tag through the
/// registry with its stored credentials; a digest as given), reuses the latest completed scan
/// of that digest in the repository or queues one (never a second while one is queued or
/// running), waits for it up to `wait` seconds, and evaluates the policies in scope now, with
/// the exceptions in force now. Nothing is stored: the scan's stored verdict stays what scan
/// completion, rematch and policy changes wrote (a check is a read, and many pipelines may
/// ask at once).
struct CheckService: Sendable {
    let s: AppServices
    let crawler: Crawler

    /// The longest `wait` accepted (seconds); the default is 0 (answer at once, 202 when no
    /// verdict is ready). Clients poll with repeated calls beyond it.
    static let maxWait = 3600
    /// How often a waiting check looks at its scan.
    static let pollInterval: Duration = .milliseconds(250)
    /// The deadline of the registry call that resolves a tag.
    static let resolveTimeout: Duration = .seconds(15)
    /// The platform a check scans and reads (the scan API's default).
    static let platform = Platform.linuxAmd64.description

    enum Outcome: Sendable {
        case verdict(CheckVerdictDTO)
        case pending(CheckPendingDTO)
    }

    /// Reads `{image, wait?}` with one issue per bad field, then checks.
    func check(_ p: Principal, body: ObjectReader, ip: String?) async throws -> Outcome {
        try p.authorize(.ci, reach: .registry, operation: "POST /api/policy/check")
        var r = body
        r.rejectUnknown(allowed: ["image", "wait"])
        let raw = r.string("image", required: true, minLength: 1, maxLength: 512)
        var image: ImageReference?
        if let raw {
            do { image = try ImageReference(raw) } catch { r.fail("image", "Not an image reference: \(error.description)") }
        }
        var wait = 0
        if let v = r.object["wait"] {
            if case .number(let n) = v, n.rounded() == n, n >= 0, n <= Double(Self.maxWait) {
                wait = Int(n)
            } else {
                r.fail("wait", "Expected whole seconds from 0 to \(Self.maxWait).")
            }
        }
        try r.check()
        guard let image else { throw APIError.validation(r.issues) }
        return try await check(p, image: image, wait: wait, ip: ip)
    }

    func check(_ p: Principal, image: ImageReference, wait: Int, ip: String?) async throws -> Outcome {
        try p.authorize(.ci, reach: .registry, operation: "POST /api/policy/check")
        let registry = try await s.db.read { db in
            try ScanService.registry(for: image, orgId: p.orgId, scope: p.registryScope, in: db)
        }
        // Refused exactly as POST /api/scans refuses an image of no registry of the organization.
        guard let registry else {
            throw APIError.validation(
                "image", "The registry \(image.registry) is not one of this organization's registries; add it first.")
        }
        let digest = try await resolve(image, registry: registry)
        let repository = image.repository.name
        let platform = Self.platform
        let orgId = p.orgId
        let lookup = { @Sendable (db: any SQLConnection) throws -> (done: CheckRepository.ScanState?, active: CheckRepository.ScanState?) in
            (try CheckRepository.latestCompleted(
                db, org: orgId, registryId: registry.id, repository: repository, digest: digest, platform: platform),
             try CheckRepository.active(db, org: orgId, registryId: registry.id, repository: repository, digest: digest, platform: platform))
        }
        let found = try await s.db.read(lookup)
        var scan: CheckRepository.ScanState
        if let done = found.done {
            scan = done
        } else if let active = found.active {
            scan = active
        } else {
            scan = try await enqueue(p, image: image, digest: digest, registry: registry, ip: ip, lookup: lookup)
        }
        // Wait for the scan (polling the database; the task sleeps, no thread blocks).
        let deadline = ContinuousClock.now + .seconds(wait)
        while scan.status != ScanStatus.completed.rawValue {
            if scan.status == ScanStatus.failed.rawValue || scan.status == ScanStatus.cancelled.rawValue {
                throw APIError(
                    .badGateway, code: "SCAN_FAILED",
                    message: "The scan \(scan.id) of \(digest) \(scan.status)\(scan.error.map { ": \($0)" } ?? ""). Check again to queue a new one.")
            }
            guard ContinuousClock.now < deadline else {
                return .pending(CheckPendingDTO(scanId: scan.id, digest: digest, status: scan.status, image: image.description))
            }
            try await Task.sleep(for: Self.pollInterval)
            let id = scan.id
            let now = try await s.db.read { db in
                try CheckRepository.scan(db, id: id) ?? lookup(db).done ?? lookup(db).active
            }
            guard let now else {
                throw APIError(.badGateway, code: "SCAN_FAILED", message: "The scan \(id) of \(digest) was deleted. Check again to queue a new one.")
            }
            scan = now
        }
        return .verdict(try await evaluate(scanId: scan.id, digest: digest, image: image))
    }

    /// The verdict of a completed scan now (no storing).
    func evaluate(scanId: String, digest: String, image: ImageReference) async throws -> CheckVerdictDTO {
        let enrichment = await s.policyEnrichment()
        let now = s.now
        let extraTags = image.tag.map { [$0.name] } ?? []
        let result: CheckVerdictDTO? = try await s.db.read { db in
            guard let (_, e, inScope) = try PolicyRecording.evaluate(
                scanId: scanId, extraTags: extraTags, enrichment: enrichment, now: now, in: db)
            else { return nil }
            let evaluated = Set(e.policyIds)
            let policies = inScope.filter { evaluated.contains($0.id) }
            let detail = PolicyRecording.Detail(
                verdict: e.verdict, evaluatedAt: now, policies: e.policyIds, violations: e.violations, noData: e.noData)
            let dto = PolicyVerdictDTO(detail)
            return CheckVerdictDTO(
                verdict: dto.verdict, image: image.description, digest: digest, scanId: scanId, evaluatedAt: dto.evaluatedAt,
                policies: policies.map { policy in
                    CheckVerdictDTO.PolicyRef(
                        id: policy.id, name: policy.name, action: policy.action.rawValue,
                        rules: policy.rules.enumerated().map { PolicyVerdictDTO.Rule(index: $0.offset, type: $0.element.type) })
                },
                violations: dto.violations, noData: dto.noData)
        }
        guard let result else {
            throw APIError(.badGateway, code: "SCAN_FAILED", message: "The scan \(scanId) of \(digest) was deleted. Check again to queue a new one.")
        }
        return result
    }

    /// The digest the reference names: a digest as given; a tag through the registry (a HEAD
    /// of the manifest with the registry's stored credentials), or, for a registry a sensor
    /// scans (out of the server's reach), the digest the last sync or push recorded.
    func resolve(_ image: ImageReference, registry: RegistryRecord) async throws -> String {
        if let digest = image.digest { return digest.description }
        guard let tag = image.tag else {
            throw APIError.validation("image", "Name a tag or a digest.")
        }
        if registry.scanMethod == .sensor {
            let known = try await s.db.read { db in
                try ImageRepository.imageId(db, registryId: registry.id, repository: image.repository.name)
                    .flatMap { try ImageRepository.tagDigest(db, imageId: $0, tag: tag.name) }
            }
            guard let known else {
                throw Self.registryError(
                    image, "the registry is scanned by a sensor and no sync has recorded this tag yet; check by digest or sync first")
            }
            return known
        }
        let credentials = try await s.registryCredentials(registry.id)
        do throws(RegistryError) {
            let client = try crawler.confirmationClient(registry, credentials: credentials, timeout: Self.resolveTimeout)
            return try await client.resolveDigest(image.repository, reference: .tag(tag)).description
        } catch .targetNotAllowed(let m) {
            throw APIError.targetNotAllowed(m)
        } catch {
            throw Self.registryError(image, error.description)
        }
    }

    static func registryError(_ image: ImageReference, _ reason: String) -> APIError {
        APIError(.badGateway, code: "REGISTRY_ERROR", message: "The registry could not resolve \(image.description): \(reason).")
    }

    /// Queues a scan of the digest (counted against the caller's scan rate), unless one for it
    /// appeared meanwhile. With a tag, the scan is the tag's (the tag is recorded at completion);
    /// when the tag's one active scan slot holds another digest's running scan, the digest is
    /// scanned on its own.
    func enqueue(
        _ p: Principal, image: ImageReference, digest: String, registry: RegistryRecord, ip: String?,
        lookup: @escaping @Sendable (any SQLConnection) throws -> (done: CheckRepository.ScanState?, active: CheckRepository.ScanState?)
    ) async throws -> CheckRepository.ScanState {
        try s.scanLimiter.hit("scan:\(p.id)", now: s.now)
        let now = s.now
        return try await s.db.write { db in
            let found = try lookup(db)
            if let existing = found.done ?? found.active { return existing }
            var names = registry.scanners
            if !names.contains("native") { names.insert("native", at: 0) }
            let host = ScanRepository.host(ofRegistryURL: registry.url)
            var request = ScanRequest(
                registryId: registry.id, repository: image.repository.name, tag: image.tag?.name, digest: digest, trigger: "api",
                platform: nil, scanners: names, origin: registry.scanMethod == .sensor ? "sensor" : "cloud")
            var enqueued = try SyncStore.enqueueScan(request, orgId: p.orgId, now: now, registryHost: host, in: db)
            if try CheckRepository.scan(db, id: enqueued.scanId)?.digest != digest {
                request.tag = nil
                enqueued = try SyncStore.enqueueScan(request, orgId: p.orgId, now: now, registryHost: host, in: db)
            }
            if enqueued.enqueued {
                try AppServices.audit(db, org: p.orgId, actor: p.actor, action: "scan.create", target: enqueued.scanId, ip: ip, now: now)
            }
            guard let state = try CheckRepository.scan(db, id: enqueued.scanId) else {
                throw APIError.conflict("The scan could not be queued; check again.")
            }
            return state
        }
    }
}
