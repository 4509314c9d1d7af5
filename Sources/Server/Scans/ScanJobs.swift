public import Cron
import Foundation
import GRDB
import Logging
import Registry
import Synchronization
public import Scan
public import Store

/// The `scan` job: pull the image with the registry's own credentials, run the native
/// analyser (through the layer cache) and the requested external scanners, match against
/// the vulnerability database, and record everything in one transaction.
public struct ScanRunner: Sendable {
    public let services: AppServices
    public let crawler: Crawler
    public let cache: DatabaseLayerCache
    public var limits: LayerLimits = .default
    /// Deadline of one external scanner run.
    public var scannerTimeout: Duration = .seconds(600)

    public init(services: AppServices, crawler: Crawler) {
        self.services = services
        self.crawler = crawler
        self.cache = DatabaseLayerCache(database: services.db.sql)
    }

    public func run(_ context: JobContext, _ payload: ScanRequest) async throws -> String? {
        var decoded = payload
        let db = services.db
        let now = services.now
        let job = context.job
        let registryId = decoded.registryId
        let registry = try await db.read { db in
            try RegistryRepository.registry(db, id: registryId)
        }
        guard let registry else { throw PermanentJobError("registry \(registryId) no longer exists") }
        let host = ScanRepository.host(ofRegistryURL: registry.url)
        if decoded.scanId == nil {
            // Queued before scans had rows.
            let id = IDs.make("scn")
            decoded.scanId = id
            let r = decoded
            try await db.write { db in
                try ScanRepository.insertScan(id: id, request: r, orgId: registry.orgId, jobId: job.id, registryHost: host, now: now, in: db)
                try SyncStore.writePayload(r, jobId: job.id, in: db)
            }
        }
        let request = decoded
        let scanId = decoded.scanId!
        guard try await db.write({ db in try ScanRepository.markRunning(scanId, now: now, in: db) }) else {
            return #"{"skipped":"scan cancelled or deleted"}"#
        }
        let start = ContinuousClock.now
        do {
            let report = try await services.matchingCurrentRelease {
                try await scan(request, registry: registry, host: host, context: context)
            }
            var notes = report.notes
            let runs = report.scanners.map {
                ScannerRunRecord(name: $0.name, status: $0.status.rawValue, version: $0.version, durationMs: $0.durationMs, error: $0.error)
            }
            if let vulndb = services.vulnDB, (try? await vulndb.status().advisories) ?? 0 == 0 {
                notes.insert("The vulnerability database is empty: packages were inventoried but not matched. Run `harborguard db import` or `db update`.", at: 0)
            } else if services.vulnDB == nil {
                notes.insert("No vulnerability database is configured: packages were inventoried but not matched.", at: 0)
            }
            let finishedAt = services.now
            let enrichment = await services.policyEnrichment()
            struct Summary: Encodable { var scanId: String, digest: String, packages: Int, findings: Int, layersCached: Int, recorded: Bool }
            // The scan's results, the follow-up scan and the job's completion in one transaction.
            return try await db.write { [notes] db in
                let ok = try ScanRecording.complete(
                    scanId, report: report, scanners: runs, notes: notes, registryHost: host, enrichment: enrichment, now: finishedAt,
                    in: db)
                if ok { try followUp(request, scanned: report.digest, registry: registry, host: host, now: finishedAt, in: db) }
                let summary = Summary(
                    scanId: scanId, digest: report.digest, packages: report.packages.count, findings: report.findings.count,
                    layersCached: report.layers.filter(\.cached).count, recorded: ok)
                let result = String(decoding: try JSONCoding.encoder.encode(summary), as: UTF8.self)
                _ = try context.complete(result: result, now: finishedAt, in: db)
                return result
            }
        } catch let e as CancellationError {
            throw e
        } catch {
            let failure = JobFailure.classify(error)
            let elapsed = start.duration(to: .now)
            let ms = Int(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)
            let lastAttempt = job.attempts >= job.maxAttempts
            let finishedAt = services.now
            try await db.write { db in
                if failure.retryable && !lastAttempt {
                    try ScanRepository.markRetrying(scanId, error: failure.description, in: db)
                } else {
                    try ScanRecording.markFailed(scanId, error: failure.description, durationMs: ms, scanners: nil, now: finishedAt, in: db)
                }
            }
            if failure.retryable { throw failure }
            throw PermanentJobError(failure.description)
        }
    }

    func scan(_ request: ScanRequest, registry: RegistryRecord, host: String, context: JobContext) async throws -> ImageScanReport {
        let credentials = try await services.registryCredentials(registry.id)
        let client = try crawler.client(
            url: registry.url, provider: registry.provider, insecure: registry.insecure, credentials: credentials)
        let repository = try Repository(request.repository)
        let tag = try request.tag.map { t throws(RegistryError) in try Tag(t) }
        let digest = try request.digest.map { d throws(RegistryError) in try Digest(d) }
        let image = ImageReference(registry: client.registryHost, repository: repository, tag: tag, digest: digest)
        var platform = Platform.linuxAmd64
        if let p = request.platform {
            guard let parsed = Platform(parsing: p) else { throw JobFailure("invalid platform \(p)", retryable: false) }
            platform = parsed
        }
        var scanner = ImageScanner(limits: limits, cache: cache)
        // External scanners read an OCI layout teed from this scan's own download, in
        // <data-dir>/cache (never a second pull, never the registry's credentials).
        scanner.externalScanners = (request.scanners ?? registry.scanners).filter { $0 != "native" }
        if !scanner.externalScanners.isEmpty {
            let cacheDir = URL(fileURLWithPath: services.config.dataDir).appendingPathComponent("cache")
            try? FileManager.default.createDirectory(at: cacheDir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            scanner.workDirectory = cacheDir
            scanner.scannerTimeout = scannerTimeout
        }
        let progress = ProgressRelay(context: context)
        return try await scanner.scan(
            image, client: client, platform: platform, database: services.vulnDB,
            progress: { step in progress.report(step) })
    }

    /// A push that landed while the tag was being scanned is scanned next (the running scan
    /// held the tag's one active slot).
    func followUp(_ request: ScanRequest, scanned: String, registry: RegistryRecord, host: String, now: Date, in db: any SQLConnection) throws {
        guard let tag = request.tag, registry.schedule == .onPush else { return }
        let current = try ImageRepository.imageId(db, registryId: registry.id, repository: request.repository)
            .flatMap { try ImageRepository.tagDigest(db, imageId: $0, tag: tag) }
        guard let current, current != scanned, current != request.digest else { return }
        var next = request
        next.scanId = nil
        next.digest = current
        next.trigger = "push"
        _ = try SyncStore.enqueueScan(next, orgId: registry.orgId, now: now, registryHost: host, in: db)
    }
}

/// Turns the pipeline's layer steps into job progress (layers done of the image's layers),
/// at most one write a second (every progress write waits its turn on SQLite's single
/// writer, with the queue's claims).
final class ProgressRelay: Sendable {
    let context: JobContext
    private let last = Mutex<ContinuousClock.Instant?>(nil)

    init(context: JobContext) { self.context = context }

    func report(_ step: ScanProgress) {
        guard case .layer(let index, let total, _, _) = step else { return }
        let done = index
        let now = ContinuousClock.now
        let due = last.withLock { last -> Bool in
            if let previous = last, previous.duration(to: now) < .seconds(1) { return false }
            last = now
            return true
        }
        guard due else { return }
        let context = self.context
        Task { await context.progress(done: done - 1, total: total) }
    }
}
