import Foundation
import Logging
import NIOCore
import Registry
import Scan
import Server
import Store
import Synchronization

/// The work of a claimed job (a sync or a scan, done here with the registry's credentials)
/// and the upload of its result.
extension SensorAgent {
    // MARK: Working

    enum End: Sendable { case finished, leaseLost }

    func process(_ job: Claimed) async {
        logger.info("job claimed", metadata: ["job": "\(job.id)", "type": "\(job.type)", "attempt": "\(job.attempt)"])
        let end = await withTaskGroup(of: End.self) { group in
            group.addTask {
                await self.work(job)
                return .finished
            }
            group.addTask { await self.keepLeased(job.id) }
            let first = await group.next() ?? .finished
            group.cancelAll()
            return first
        }
        if end == .leaseLost {
            logger.warning("lease lost (cancelled or reclaimed); work abandoned", metadata: ["job": "\(job.id)"])
            _ = held.withLock { $0.removeValue(forKey: job.id) }
        }
    }

    /// Renews every third of the lease until cancelled; returns `.leaseLost` when the server
    /// says the lease is gone (the scan was cancelled, or the job reclaimed).
    func keepLeased(_ id: String) async -> End {
        let every = Duration.seconds(settings.lease) / 3
        while true {
            do { try await Task.sleep(for: every) } catch { return .finished }
            do {
                let body = try SensorProtocol.encoder.encode(SensorRenewRequest(leaseSeconds: settings.lease))
                let r = try await api.post("/api/sensor/jobs/\(id)/renew", body: body, timeout: .seconds(15))
                if r.status == 409 || r.status == 404 { return .leaseLost }
                if r.status != 200 { logger.debug("renew refused", metadata: ["job": "\(id)", "status": "\(r.status)"]) }
            } catch {
                if Task.isCancelled { return .finished }
                logger.debug("renew failed", metadata: ["job": "\(id)", "error": "\(error)"])
            }
        }
    }

    /// A result as posted; `attempt` is filled in at each upload try.
    typealias Result = SensorResult

    func work(_ job: Claimed) async {
        var result: Result
        let start = ContinuousClock.now
        do {
            switch job.type {
            case .sync: result = try await sync(job)
            case .scan: result = try await scan(job)
            default: result = .failure("this sensor does not know job type \(job.type)", retryable: false)
            }
        } catch {
            if Task.isCancelled || error is CancellationError { return }
            let failure = JobFailure.classify(error)
            logger.warning("job failed", metadata: ["job": "\(job.id)", "error": "\(failure)", "retryable": "\(failure.retryable)"])
            result = .failure(failure.description, retryable: failure.retryable)
        }
        if Task.isCancelled { return }
        let elapsed = (ContinuousClock.now - start).components
        let ms = elapsed.seconds * 1000 + elapsed.attoseconds / 1_000_000_000_000_000
        logger.info("job done; uploading", metadata: ["job": "\(job.id)", "status": "\(result.status)", "ms": "\(ms)"])
        await upload(job.id, result)
    }

    func registryClient(_ t: Claimed.RegistryTarget) throws -> RegistryClient {
        let insecure = t.insecure || settings.forceInsecure
        let provider = RegistryProvider(rawValue: t.provider) ?? .custom
        let host = URLComponents(string: t.url).flatMap { c in c.host.map { h in c.port.map { "\(h):\($0)" } ?? h } } ?? t.url
        let credentials = settings.credentials
            ?? DockerConfig.credentials(for: provider == .dockerHub ? ImageReference.dockerHubRegistry : host)
        return try RegistryClient(
            configuration: .init(url: t.url, provider: provider, credentials: credentials, insecure: insecure),
            http: insecure ? clients.insecure : clients.secure, logger: logger)
    }

    /// Lists repositories and tags, applies the registry's filters and resolves digests, as the
    /// server's own sync does; repositories that fail are reported so their tags are kept.
    func sync(_ job: Claimed) async throws -> Result {
        let client = try registryClient(job.payload.registry)
        let filter = try? TagFilter(include: job.payload.includeTags, exclude: job.payload.excludeTags)
        let repositories = try await client.listRepositories()
        var tags: [DiscoveredTag] = []
        var failed: [String] = []
        var firstError: RegistryError?
        let permits = RequestPermits(settings.syncConcurrency)
        try await withThrowingTaskGroup(of: (String, Swift.Result<[DiscoveredTag], RegistryError>).self) { group in
            var iterator = repositories.makeIterator()
            func addNext() {
                guard let repo = iterator.next() else { return }
                group.addTask {
                    do {
                        return (repo.name, .success(try await Crawler.tags(of: repo, client: client, filter: filter, permits: permits)))
                    } catch let e as RegistryError {
                        return (repo.name, .failure(e))
                    }
                }
            }
            for _ in 0..<settings.syncConcurrency { addNext() }
            while let (repo, result) = try await group.next() {
                switch result {
                case .success(let found): tags += found
                case .failure(let e):
                    firstError = firstError ?? e
                    failed.append(repo)
                    logger.warning("repository not listed", metadata: ["repository": "\(repo)", "error": "\(e)"])
                }
                addNext()
            }
        }
        if !repositories.isEmpty, failed.count == repositories.count, let firstError { throw firstError }
        logger.info("sync listed", metadata: ["repositories": "\(repositories.count)", "tags": "\(tags.count)", "failed": "\(failed.count)"])
        return Result(
            status: "succeeded", tags: tags.map { .init(repository: $0.repository, tag: $0.tag, digest: $0.digest) },
            failedRepositories: failed, repositories: repositories.count)
    }

    /// The native analyser with no database: the server matches the inventory.
    func scan(_ job: Claimed) async throws -> Result {
        let p = job.payload
        guard let repo = p.repository else { return .failure("the scan job names no repository", retryable: false) }
        let client = try registryClient(p.registry)
        let repository = try Repository(repo)
        let tag = try p.tag.map { t throws(RegistryError) in try Tag(t) }
        let digest = try p.digest.map { d throws(RegistryError) in try Digest(d) }
        // By digest when the sync resolved one: the scan is of what the sync saw.
        let image = ImageReference(registry: client.registryHost, repository: repository, tag: tag, digest: digest)
        guard let platform = Platform(parsing: p.platform ?? "linux/amd64") else {
            return .failure("invalid platform \(p.platform ?? "")", retryable: false)
        }
        logger.info("scanning", metadata: ["job": "\(job.id)", "image": "\(image)"])
        let logger = self.logger
        let report = try await ImageScanner(cache: cache).scan(
            image, client: client, platform: platform, database: nil,
            progress: { line in logger.debug("scan progress", metadata: ["line": "\(line)"]) })
        var runs = [ScannerRunRecord(
            name: "native", status: "ok", version: "harborguard-analyzer/\(LayerAnalysis.analyzerVersion)",
            durationMs: report.durationMs, error: nil)]
        for name in (p.scanners ?? []) where name != "native" {
            runs.append(ScannerRunRecord(
                name: name, status: "unavailable", version: nil, durationMs: 0, error: "\(name) is not run by this sensor build"))
        }
        return Result(status: "succeeded", report: report, scanners: runs)
    }

    // MARK: Uploading

    /// Posts a result until the server takes it, refuses it for good, or `uploadRetry` has
    /// passed: a server restarting meanwhile loses nothing. A result refused as malformed is
    /// replaced by a failure so the job does not wait for its lease to run out.
    func upload(_ id: String, _ first: Result) async {
        var result = first
        let deadline = ContinuousClock.now + settings.uploadRetry
        var delay = Duration.seconds(1)
        var tries = 0
        while !Task.isCancelled {
            tries += 1
            result.attempt = held.withLock { $0[id] }
            do {
                let body = try SensorProtocol.encoder.encode(result)
                let r = try await api.post("/api/sensor/jobs/\(id)/result", body: body, timeout: .seconds(120))
                switch r.status {
                case 200:
                    logger.info("result recorded", metadata: ["job": "\(id)", "tries": "\(tries)", "response": "\(r.text.prefix(300))"])
                    _ = held.withLock { $0.removeValue(forKey: id) }
                    return
                case 404, 409:
                    logger.warning("result not taken: the job is no longer this sensor's", metadata: ["job": "\(id)", "status": "\(r.status)"])
                    _ = held.withLock { $0.removeValue(forKey: id) }
                    return
                case 400, 413:
                    logger.error("the server refused the result", metadata: ["job": "\(id)", "status": "\(r.status)", "body": "\(r.text.prefix(500))"])
                    guard result.status == "succeeded" else {
                        _ = held.withLock { $0.removeValue(forKey: id) }
                        return
                    }
                    result = .failure("the server refused the sensor's result (\(r.status)): \(r.text.prefix(500))", retryable: false)
                    continue
                case 401, 403:
                    setFatal("the server refused the sensor key (\(r.status)) while uploading a result")
                    return
                case 400..<500 where r.status != 408 && r.status != 429:
                    logger.error("the server refused the result", metadata: ["job": "\(id)", "status": "\(r.status)", "body": "\(r.text.prefix(500))"])
                    _ = held.withLock { $0.removeValue(forKey: id) }
                    return
                default:
                    logger.warning("upload refused; retrying", metadata: ["job": "\(id)", "status": "\(r.status)", "in": "\(delay)"])
                }
            } catch {
                if Task.isCancelled { return }
                logger.warning("upload failed; retrying", metadata: ["job": "\(id)", "error": "\(error)", "in": "\(delay)"])
            }
            guard ContinuousClock.now + delay < deadline else {
                logger.error("giving up on the upload; the job's lease will expire and it will be claimed again", metadata: ["job": "\(id)"])
                return
            }
            do { try await Task.sleep(for: delay) } catch { return }
            delay = min(delay * 2, .seconds(30))
        }
    }
}

/// Layer analyses of this process's scans, so a rescan downloads no layer it has seen
/// (bounded: the oldest entries go first).
final class MemoryLayerCache: LayerAnalysisCache {
    let capacity: Int
    private let state = Mutex<(entries: [String: LayerAnalysis], order: [String])>(([:], []))

    init(capacity: Int) { self.capacity = capacity }

    func get(digest: String) async -> LayerAnalysis? {
        state.withLock { $0.entries[digest] }
    }

    func put(_ analysis: LayerAnalysis, digest: String) async {
        state.withLock { s in
            if s.entries.updateValue(analysis, forKey: digest) == nil { s.order.append(digest) }
            while s.order.count > capacity { s.entries.removeValue(forKey: s.order.removeFirst()) }
        }
    }
}
