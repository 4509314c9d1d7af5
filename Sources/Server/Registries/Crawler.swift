import AsyncHTTPClient
import NIOCore
public import Cron
import Foundation
import GRDB
import Logging
import NIOSSL
public import Registry
public import ServiceLifecycle
import Store
import Synchronization

/// The HTTP clients the server talks to the outside with, all under one `OutgoingPolicy`:
/// one verifying TLS and one for registries marked `insecure` (which also skips TLS
/// verification), both for registries, and one for notification channels. A Service so the
/// ServiceGroup shuts them down after the server and workers have stopped.
public final class RegistryHTTPClients: Service, Sendable {
    public let policy: OutgoingPolicy
    public let secure: OutgoingHTTPClient
    public let insecure: OutgoingHTTPClient
    /// Notification channels: redirects are not followed (a webhook is one POST).
    public let notifications: OutgoingHTTPClient

    /// `connectionsPerHost`: connections the registry clients keep open to one registry at most
    /// (AsyncHTTPClient's default is 8, which capped a sync's `--sync-concurrency` there).
    public init(policy: OutgoingPolicy = OutgoingPolicy(), connectionsPerHost: Int = 8) {
        self.policy = policy
        var secureConfig = RegistryClient.httpClientConfiguration()
        secureConfig.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = max(8, connectionsPerHost)
        secure = OutgoingHTTPClient(configuration: secureConfig, policy: policy, purpose: .registry)
        var cfg = secureConfig
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.certificateVerification = .none
        cfg.tlsConfiguration = tls
        insecure = OutgoingHTTPClient(configuration: cfg, policy: policy, purpose: .registry)
        var notify = HTTPClient.Configuration()
        notify.timeout = .init(connect: .seconds(10), read: .seconds(30))
        notifications = OutgoingHTTPClient(configuration: notify, policy: policy, purpose: .notification)
    }

    public func run() async throws {
        try? await gracefulShutdown()
        try await shutdown()
    }

    public func shutdown() async throws {
        try await secure.shutdown()
        try await insecure.shutdown()
        try await notifications.shutdown()
    }
}

/// Test-connection and sync on top of the Registry module's client.
public struct Crawler: Sendable {
    public let services: AppServices
    public let clients: RegistryHTTPClients
    /// Registry requests a sync keeps in flight (listings and HEADs, over all repositories).
    public var concurrency: Int = 8

    public init(services: AppServices, clients: RegistryHTTPClients) {
        self.services = services
        self.clients = clients
    }

    func client(url: String, provider: RegistryProvider, insecure: Bool, credentials: RegistryCredentials?) throws(RegistryError)
        -> RegistryClient
    {
        let config = RegistryClient.Configuration(
            url: url, provider: provider, credentials: credentials, insecure: insecure, endpoints: services.config.providerEndpoints)
        return try RegistryClient(
            configuration: config, http: insecure ? clients.insecure : clients.secure, logger: services.logger)
    }

    /// A client for confirming pushed digests: short request deadline, no retries (a push
    /// receiver answers its caller quickly; what is not confirmed now waits for the next sync).
    func confirmationClient(_ registry: RegistryRecord, credentials: RegistryCredentials?, timeout: Duration) throws(RegistryError)
        -> RegistryClient
    {
        let config = RegistryClient.Configuration(
            url: registry.url, provider: registry.provider, credentials: credentials, insecure: registry.insecure, retry: .none,
            requestTimeout: timeout, endpoints: services.config.providerEndpoints)
        return try RegistryClient(
            configuration: config, http: registry.insecure ? clients.insecure : clients.secure, logger: services.logger)
    }

    /// The registry endpoint of an AWS ECR registry given without `url`: the `proxyEndpoint`
    /// ECR's `GetAuthorizationToken` answers for the credentials' account and region
    /// (`https://<account>.dkr.ecr.<region>.amazonaws.com`), asked at the configured ECR API.
    public func ecrRegistryURL(credentials: RegistryCredentials?) async throws(RegistryError) -> String {
        guard let credentials else { throw .invalidConfiguration("an AWS_ECR registry without url needs its credentials") }
        return try await RegistryClient.ecrRegistryURL(
            credentials: credentials, http: clients.secure, logger: services.logger, endpoints: services.config.providerEndpoints)
    }

    /// Answers within 15 s whatever the registry does. `url` nil: an AWS_ECR registry whose
    /// endpoint is derived from its credentials first (within the same 15 s); a derived
    /// endpoint the outgoing policy refuses throws, as a refused `url` does in the route.
    public func testConnection(
        url: String?, provider: RegistryProvider, insecure: Bool, credentials: RegistryCredentials?
    ) async throws -> TestConnectionReply {
        let start = ContinuousClock.now
        var budget = Duration.seconds(14)
        var endpoint = url ?? ""
        if endpoint.isEmpty {
            do {
                endpoint = try await ecrRegistryURL(credentials: credentials)
            } catch {
                return TestConnectionReply(
                    ok: false, status: ConnectionTestResult.Status(error).rawValue, message: error.description,
                    latencyMs: Self.milliseconds(since: start), authScheme: "none", repositories: [])
            }
            try await services.checkOutgoingTarget(endpoint, for: .registry)
            budget = max(budget - (ContinuousClock.now - start), .seconds(1))
        }
        do {
            var r = try await client(url: endpoint, provider: provider, insecure: insecure, credentials: credentials)
                .testConnection(timeout: budget)
            if url == nil { r.latencyMs = Self.milliseconds(since: start) }
            return TestConnectionReply(
                ok: r.ok, status: r.status.rawValue, message: r.message, latencyMs: r.latencyMs,
                authScheme: r.authScheme.rawValue, repositories: r.repositories)
        } catch {
            return TestConnectionReply(
                ok: false, status: "not_a_registry", message: error.description, latencyMs: 0, authScheme: "none", repositories: [])
        }
    }

    /// An AWS_ECR registry stored without url (created before its endpoint was derived at
    /// creation) gets it derived and stored now, once; any other registry is returned as is.
    func withDerivedURL(_ registry: RegistryRecord, credentials: RegistryCredentials?) async throws -> RegistryRecord {
        guard registry.url.isEmpty, registry.provider == .awsEcr else { return registry }
        let url = try await ecrRegistryURL(credentials: credentials)
        let id = registry.id
        return try await services.db.write { db in
            try RegistryRepository.update(db, id: id) { $0.url = url }
        } ?? registry
    }

    static func milliseconds(since start: ContinuousClock.Instant) -> Int {
        let d = ContinuousClock.now - start
        return Int(d.components.seconds * 1000 + d.components.attoseconds / 1_000_000_000_000_000)
    }

    /// The sync job: list repositories and tags, filter, resolve digests, record the result.
    public func sync(_ context: JobContext, _ payload: SyncJobPayload) async throws -> String? {
        let db = services.db
        guard let registry = try await db.read({ db in
            try RegistryRepository.registry(db, id: payload.registryId)
        }) else {
            throw PermanentJobError("registry \(payload.registryId) no longer exists")
        }
        try await setHealth(registry.id, status: .syncing, score: nil, error: nil, synced: false)
        do {
            let outcome = try await runSync(registry, context: context)
            let score = outcome.total == 0 ? 100 : 100 * (outcome.total - outcome.failed.count) / outcome.total
            let status: HealthStatus = outcome.failed.isEmpty ? .healthy : (score >= 50 ? .degraded : .unhealthy)
            let error = outcome.failed.isEmpty ? nil
                : "\(outcome.failed.count) of \(outcome.total) repositories could not be listed; first: \(outcome.failed[0])"
            try await setHealth(registry.id, status: status, score: score, error: error, synced: true)
            return String(decoding: try JSONEncoder().encode(outcome.applied), as: UTF8.self)
        } catch let e as RegistryError {
            try await setHealth(registry.id, status: .unhealthy, score: 0, error: e.description, synced: false)
            if case .authFailed = e { throw PermanentJobError(e.description) }
            if case .invalidConfiguration = e { throw PermanentJobError(e.description) }
            throw e
        } catch let e as CancellationError {
            try? await setHealth(registry.id, status: .unknown, score: nil, error: nil, synced: false)
            throw e
        }
    }

    struct RunOutcome {
        var applied: SyncOutcome
        var total: Int
        var failed: [String]
    }

    func runSync(_ registry: RegistryRecord, context: JobContext) async throws -> RunOutcome {
        let credentials = try await services.registryCredentials(registry.id)
        let registry = try await withDerivedURL(registry, credentials: credentials)
        let client = try client(url: registry.url, provider: registry.provider, insecure: registry.insecure, credentials: credentials)
        let filter = try? TagFilter(include: registry.tagInclude, exclude: registry.tagExclude)
        let repositories = try await client.listRepositories()
        await context.progress(done: 0, total: repositories.count)
        var discovered: [DiscoveredTag] = []
        var failed: [String] = []
        var failedRepos: [String] = []
        var firstError: RegistryError?
        var done = 0
        // Bounded concurrency: at most `concurrency` requests in flight, over all repositories.
        let permits = RequestPermits(concurrency)
        try await withThrowingTaskGroup(of: (String, Result<[DiscoveredTag], RegistryError>).self) { group in
            var iterator = repositories.makeIterator()
            func addNext() {
                guard let repo = iterator.next() else { return }
                group.addTask {
                    do {
                        return (repo.name, .success(try await Self.tags(of: repo, client: client, filter: filter, permits: permits)))
                    } catch let e as RegistryError {
                        return (repo.name, .failure(e))
                    }
                }
            }
            for _ in 0..<max(1, concurrency) { addNext() }
            while let (repo, result) = try await group.next() {
                switch result {
                case .success(let tags): discovered += tags
                case .failure(let e):
                    firstError = firstError ?? e
                    failed.append("\(repo): \(e.description)")
                    failedRepos.append(repo)
                }
                done += 1
                if done % 10 == 0 || done == repositories.count {
                    await context.progress(done: done, total: repositories.count)
                }
                addNext()
            }
        }
        // Nothing listed: fail with the registry's own error, so an auth failure stays an auth
        // failure (permanent) however many repositories there are.
        if !repositories.isEmpty, failed.count == repositories.count, let firstError {
            throw firstError
        }
        let host = client.registryHost
        let now = services.now
        let keep = failedRepos
        let found = discovered
        let applied = try await services.db.write { db in
            // Repositories that failed this time keep what was recorded before: nothing is lost to a flaky listing.
            var all = found
            for repo in keep {
                all += try ImageRepository.tags(db, registryId: registry.id, repository: repo).map {
                    DiscoveredTag(repository: repo, tag: $0.name, digest: $0.digest)
                }
            }
            guard let fresh = try RegistryRecord.fetch(db, id: registry.id, org: registry.orgId) else {
                throw PermanentJobError("registry \(registry.id) was deleted during the sync")
            }
            return try SyncStore.apply(all, registry: fresh, registryHost: host, now: now, in: db)
        }
        return RunOutcome(applied: applied, total: repositories.count, failed: failed)
    }

    /// One repository's tags that pass `filter`, with their digests (HEAD), in the listing's
    /// order; a tag deleted between listing and resolving is left out. Every request (the
    /// listing, each HEAD) holds one of `permits`, shared by the whole sync, so the tags of one
    /// repository resolve concurrently. The first failure other than a deleted tag fails the
    /// repository (no further HEADs are sent for it). The sensor lists the same way.
    public static func tags(
        of repo: Repository, client: RegistryClient, filter: TagFilter?, permits: RequestPermits
    ) async throws(RegistryError) -> [DiscoveredTag] {
        await permits.acquire()
        let listed: [Tag]
        do {
            listed = try await client.listTags(repo)
            await permits.release()
        } catch {
            await permits.release()
            throw error
        }
        let tags = listed.filter { filter?.allows($0.name) ?? true }
        let failure = FirstFailure()
        var digests = [String?](repeating: nil, count: tags.count)
        await withTaskGroup(of: (Int, String?).self) { group in
            for (i, tag) in tags.enumerated() {
                await permits.acquire()
                if failure.error != nil {
                    await permits.release()
                    break
                }
                group.addTask {
                    let digest: String?
                    do throws(RegistryError) {
                        digest = try await client.resolveDigest(repo, reference: .tag(tag)).description
                    } catch .notFound {
                        digest = nil  // deleted between listing and resolving
                    } catch {
                        failure.record(error)
                        digest = nil
                    }
                    await permits.release()
                    return (i, digest)
                }
            }
            for await (i, digest) in group { digests[i] = digest }
        }
        if let error = failure.error { throw error }
        return zip(tags, digests).compactMap { tag, digest in
            digest.map { DiscoveredTag(repository: repo.name, tag: tag.name, digest: $0) }
        }
    }

    func setHealth(_ id: String, status: HealthStatus, score: Int?, error: String?, synced: Bool) async throws {
        let now = services.now
        try await services.db.write { db in
            try RegistryRepository.setHealth(db, id: id, status: status, score: score, error: error, synced: synced, now: now)
        }
    }
}

/// The body of a test-connection answer.
public struct TestConnectionReply: Sendable, Codable {
    public var ok: Bool
    public var status: String
    public var message: String
    public var latencyMs: Int
    public var authScheme: String
    public var repositories: [String]
}

/// The first error of a repository's concurrent HEADs, seen by the loop that sends them.
private final class FirstFailure: Sendable {
    private let first = Mutex<RegistryError?>(nil)
    var error: RegistryError? { first.withLock { $0 } }
    func record(_ error: RegistryError) { first.withLock { if $0 == nil { $0 = error } } }
}
