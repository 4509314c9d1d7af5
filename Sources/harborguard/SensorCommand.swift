import ArgumentParser
import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Registry
import Scan
import Server
import ServiceLifecycle
import Synchronization
import UnixSignals

/// `harborguard sensor`: runs next to a registry the appliance cannot reach. It holds the
/// registry's credentials (the server never sees them), claims its registry's sync and scan
/// jobs from the server, does the work locally and uploads tag and image inventories; the
/// server matches inventories against its own vulnerability database.
struct SensorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sensor",
        abstract: "Sync and scan a registry the server cannot reach, with credentials only this machine holds.",
        discussion: """
            The API key is the sensorApiKey returned when the registry was created with scanMethod sensor \
            (--api-key or HARBORGUARD_SENSOR_API_KEY). Registry credentials: --username with --password-stdin, \
            or HARBORGUARD_REGISTRY_USERNAME and HARBORGUARD_REGISTRY_PASSWORD, or the registry's entry in \
            ~/.docker/config.json; they are never sent to the server.
            On SIGTERM or SIGINT the sensor stops claiming, abandons unfinished work and hands its leases back \
            (POST /api/sensor/jobs/{id}/release) so the jobs are claimed again at once; a sensor killed outright \
            leaves its leases to expire (--lease seconds) instead.
            """)

    @OptionGroup var global: GlobalOptions
    @Option(help: "The appliance's base URL, e.g. https://harborguard.example.com.") var server: String
    @Option(help: "The registry's sensor API key (or HARBORGUARD_SENSOR_API_KEY).")
    var apiKey: String?
    @Option(help: "This sensor's name as the server shows it (default: the host name).") var name: String?
    @Option(help: "Registry username.") var username: String?
    @Flag(help: "Read the registry password from standard input.") var passwordStdin = false
    @Flag(help: "Treat the registry as insecure (plain http://, no TLS verification) whatever its record says.")
    var insecure = false
    @Flag(help: "Do not verify the server's TLS certificate.") var serverInsecure = false
    @Option(help: "Seconds between heartbeats.") var heartbeatInterval: Int = 30
    @Option(help: "Seconds between polls for jobs (default: what the server asks for).") var pollInterval: Int?
    @Option(help: "Jobs worked on at once.") var concurrency: Int = 2
    @Option(help: "Seconds a job's lease lasts; it is renewed every third of that while the job runs.") var lease: Int = 60
    @Option(help: "Seconds a finished job's result upload is retried while the server is unreachable.")
    var uploadRetrySeconds: Int = 600
    @Option(help: "Repositories a sync lists and resolves at once.") var syncConcurrency: Int = 4

    func validate() throws {
        guard let u = URLComponents(string: server), ["http", "https"].contains(u.scheme ?? ""), u.host?.isEmpty == false else {
            throw ValidationError("--server must be an http(s) URL")
        }
        if heartbeatInterval < 1 || heartbeatInterval > 3600 { throw ValidationError("--heartbeat-interval must be 1-3600") }
        if let p = pollInterval, p < 1 || p > 3600 { throw ValidationError("--poll-interval must be 1-3600") }
        if concurrency < 1 || concurrency > 10 { throw ValidationError("--concurrency must be 1-10") }
        if lease < 10 || lease > 3600 { throw ValidationError("--lease must be 10-3600") }
        if uploadRetrySeconds < 0 || uploadRetrySeconds > 86_400 { throw ValidationError("--upload-retry-seconds must be 0-86400") }
        if syncConcurrency < 1 || syncConcurrency > 64 { throw ValidationError("--sync-concurrency must be 1-64") }
    }

    func run() async throws {
        let logger = global.bootstrapLogging()
        guard let key = apiKey ?? ProcessInfo.processInfo.environment["HARBORGUARD_SENSOR_API_KEY"],
              Tokens.isWellFormed(key, prefix: Tokens.apiKeyPrefix)
        else { fail("a sensor API key (hg_ak_…) is needed: --api-key or HARBORGUARD_SENSOR_API_KEY", code: 64) }
        let credentials = try resolveFlagCredentials()
        let hostname = ProcessInfo.processInfo.hostName
        let settings = SensorAgent.Settings(
            server: server.hasSuffix("/") ? String(server.dropLast()) : server, apiKey: key, name: name ?? hostname,
            hostname: hostname, version: ProductVersion.current, forceInsecure: insecure, serverInsecure: serverInsecure,
            heartbeatInterval: .seconds(heartbeatInterval), pollInterval: pollInterval, concurrency: concurrency,
            lease: lease, uploadRetry: .seconds(uploadRetrySeconds), syncConcurrency: syncConcurrency,
            credentials: credentials)
        // Created after everything that can fail: an HTTPClient must be shut down, and the
        // ServiceGroup does that after the agent has handed its leases back.
        let clients = RegistryHTTPClients()
        let agent = SensorAgent(settings: settings, clients: clients, logger: logger)
        let group = ServiceGroup(
            services: [clients, agent], gracefulShutdownSignals: [.sigterm, .sigint], cancellationSignals: [], logger: logger)
        do {
            try await group.run()
        } catch {
            fail("\(error)")
        }
    }

    /// Credentials from flags or environment, read once at start (stdin is read only here).
    func resolveFlagCredentials() throws -> RegistryCredentials? {
        let env = ProcessInfo.processInfo.environment
        guard let username = username ?? env["HARBORGUARD_REGISTRY_USERNAME"] else {
            if passwordStdin { fail("--password-stdin needs --username", code: 64) }
            return nil
        }
        var password = env["HARBORGUARD_REGISTRY_PASSWORD"]
        if passwordStdin { password = readLine(strippingNewline: true) }
        guard let password, !password.isEmpty else {
            fail("a password is needed with --username: --password-stdin or HARBORGUARD_REGISTRY_PASSWORD", code: 64)
        }
        return .usernamePassword(username: username, password: password)
    }
}

/// The sensor's loops: heartbeat, claim, work (renewing leases), upload with retries.
final class SensorAgent: Service, Sendable {
    struct Settings: Sendable {
        var server: String
        var apiKey: String
        var name: String
        var hostname: String
        var version: String
        var forceInsecure: Bool
        var serverInsecure: Bool
        var heartbeatInterval: Duration
        var pollInterval: Int?
        var concurrency: Int
        var lease: Int
        var uploadRetry: Duration
        var syncConcurrency: Int
        /// From flags or environment; nil means ~/.docker/config.json for the registry's host.
        var credentials: RegistryCredentials?
    }

    /// The server refused the key: retrying cannot help.
    struct Fatal: Error, CustomStringConvertible {
        var description: String
    }

    let settings: Settings
    let clients: RegistryHTTPClients
    let logger: Logger
    let api: SensorAPI
    let cache = MemoryLayerCache(capacity: 512)
    /// Jobs this sensor holds a lease on, with the attempt the server last gave it.
    let held = Mutex<[String: Int]>([:])
    let serverPoll = Mutex<Int>(10)
    let fatal = Mutex<Fatal?>(nil)

    init(settings: Settings, clients: RegistryHTTPClients, logger: Logger) {
        self.settings = settings
        self.clients = clients
        self.logger = logger
        api = SensorAPI(
            base: settings.server, key: settings.apiKey, http: settings.serverInsecure ? clients.insecure : clients.secure)
    }

    var pollInterval: Duration { .seconds(settings.pollInterval ?? serverPoll.withLock { $0 }) }

    func run() async throws {
        logger.info("sensor starting", metadata: ["server": "\(settings.server)", "name": "\(settings.name)"])
        await cancelWhenGracefulShutdownOrFatal {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await self.heartbeatLoop() }
                group.addTask { await self.workLoop() }
                // Either loop ends only when cancelled or on a fatal refusal; then both stop.
                _ = await group.next()
                group.cancelAll()
            }
        }
        // Unfinished work goes back to the queue now rather than when its lease runs out.
        let unfinished = held.withLock { Array($0.keys) }
        if !unfinished.isEmpty {
            logger.info("sensor stopping: releasing leases", metadata: ["jobs": "\(unfinished.count)"])
        }
        for id in unfinished.sorted() {
            do {
                let r = try await api.post("/api/sensor/jobs/\(id)/release", body: Data("{}".utf8), timeout: .seconds(5))
                if r.status != 200 { logger.warning("release refused", metadata: ["job": "\(id)", "status": "\(r.status)"]) }
            } catch {
                logger.warning("release failed; the lease will expire", metadata: ["job": "\(id)", "error": "\(error)"])
            }
        }
        if let f = fatal.withLock({ $0 }) { throw f }
        logger.info("sensor stopped")
    }

    /// Runs `body` until it returns, the process is asked to stop, or the agent hits a fatal error.
    func cancelWhenGracefulShutdownOrFatal(_ body: @escaping @Sendable () async -> Void) async {
        await cancelWhenGracefulShutdown { await body() }
    }

    func setFatal(_ message: String) {
        logger.error("\(message)")
        fatal.withLock { $0 = $0 ?? Fatal(description: message) }
    }

    var isFatal: Bool { fatal.withLock { $0 != nil } }

    // MARK: Heartbeat

    func heartbeatLoop() async {
        var failing = false
        while !Task.isCancelled && !isFatal {
            do {
                let body = try SensorProtocol.encoder.encode(
                    SensorHeartbeat(name: settings.name, version: settings.version, hostname: settings.hostname))
                let r = try await api.post("/api/sensor/heartbeat", body: body, timeout: .seconds(15))
                switch r.status {
                case 200:
                    if let d = try? SensorProtocol.decoder.decode(SensorReply<SensorHeartbeatReply>.self, from: r.body).data {
                        serverPoll.withLock { $0 = max(1, d.pollIntervalSeconds) }
                        if failing || !didConnect.withLock({ $0 }) {
                            logger.info("connected to server", metadata: ["registry": "\(d.registryId)"])
                        }
                        didConnect.withLock { $0 = true }
                    }
                    failing = false
                case 401, 403:
                    setFatal("the server refused the sensor key (\(r.status)): is it the registry's sensorApiKey, and is the registry still there?")
                    return
                default:
                    if !failing { logger.warning("heartbeat refused", metadata: ["status": "\(r.status)", "body": "\(r.text.prefix(200))"]) }
                    failing = true
                }
            } catch {
                if Task.isCancelled { return }
                if !failing { logger.warning("heartbeat failed; retrying", metadata: ["error": "\(error)"]) }
                failing = true
            }
            try? await Task.sleep(for: settings.heartbeatInterval)
        }
    }

    let didConnect = Mutex(false)

    // MARK: Claiming

    typealias Claimed = SensorClaimedJob

    enum Event: Sendable { case jobDone, tick }

    func workLoop() async {
        await withTaskGroup(of: Event.self) { group in
            var active = 0
            var sleeping = false
            while !Task.isCancelled && !isFatal {
                if active < settings.concurrency {
                    for job in await claim(max: settings.concurrency - active) {
                        active += 1
                        group.addTask {
                            await self.process(job)
                            return .jobDone
                        }
                    }
                }
                if !sleeping {
                    let interval = pollInterval
                    group.addTask {
                        try? await Task.sleep(for: interval)
                        return .tick
                    }
                    sleeping = true
                }
                guard let event = await group.next() else { break }
                switch event {
                case .jobDone: active -= 1
                case .tick: sleeping = false
                }
            }
            group.cancelAll()
        }
    }

    /// New jobs to start; a job this sensor already works on (its lease ran out while the
    /// server was away and the claim handed it back) only gets its attempt updated.
    func claim(max: Int) async -> [Claimed] {
        do {
            let body = try SensorProtocol.encoder.encode(SensorClaimRequest(max: max, leaseSeconds: settings.lease))
            let r = try await api.post("/api/sensor/jobs/claim", body: body, timeout: .seconds(30))
            switch r.status {
            case 200:
                let jobs = try SensorProtocol.decoder.decode(SensorReply<[Claimed]>.self, from: r.body).data
                return held.withLock { held in
                    jobs.filter { job in
                        let new = held[job.id] == nil
                        held[job.id] = job.attempt
                        return new
                    }
                }
            case 401, 403:
                setFatal("the server refused the sensor key (\(r.status)) while claiming jobs")
            default:
                logger.warning("claim refused", metadata: ["status": "\(r.status)", "body": "\(r.text.prefix(200))"])
            }
        } catch {
            if !Task.isCancelled { logger.debug("claim failed", metadata: ["error": "\(error)"]) }
        }
        return []
    }

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
        try await withThrowingTaskGroup(of: (String, Swift.Result<[DiscoveredTag], RegistryError>).self) { group in
            var iterator = repositories.makeIterator()
            func addNext() {
                guard let repo = iterator.next() else { return }
                group.addTask {
                    do {
                        return (repo.name, .success(try await Crawler.tags(of: repo, client: client, filter: filter)))
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

/// The server's sensor endpoints over HTTP.
struct SensorAPI: Sendable {
    let base: String
    let key: String
    let http: OutgoingHTTPClient

    struct Response: Sendable {
        var status: Int
        var body: Data
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    func post(_ path: String, body: Data, timeout: TimeAmount) async throws -> Response {
        var req = HTTPClientRequest(url: base + path)
        req.method = .POST
        req.headers.add(name: "X-API-Key", value: key)
        req.headers.add(name: "Content-Type", value: "application/json")
        req.headers.add(name: "User-Agent", value: "harborguard-sensor/\(ProductVersion.current)")
        req.body = .bytes(ByteBuffer(bytes: body))
        let r = try await http.execute(req, deadline: .now() + timeout)
        let buffer = try await r.body.collect(upTo: 8 << 20)
        return Response(status: Int(r.status.code), body: Data(buffer.readableBytesView))
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
