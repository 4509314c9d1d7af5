public import Cron
public import Foundation
import HummingbirdTLS
import GRDB
import Scan
import Registry
import NIOSSL
import NIOCore
public import Hummingbird
public import Logging
import HummingbirdCore
public import ServiceLifecycle
import UnixSignals
public import Prometheus
import Store

/// Builds the router with every route; tests call this with an in-memory database.
public func buildRouter(
    services: AppServices, crawler: Crawler, metrics: PrometheusCollectorRegistry? = nil, heartbeat: Heartbeat = Heartbeat(),
    scheduler: (heartbeat: Heartbeat, interval: TimeInterval)? = nil
) -> (Router<AppRequestContext>, RouteIndex) {
    let router = Router(context: AppRequestContext.self)
    let index = RouteIndex()
    let table = RouteTable(router: router, index: index)
    router.add(middleware: RequestEnvelopeMiddleware(
        tls: services.config.tls, trusted: services.config.trustedProxies, services: services,
        initialKeyFile: services.initialKeyFile))
    router.add(middleware: ErrorMiddleware(routes: index, logger: services.logger))
    if let url = services.config.publicURL, let allowList = HostAllowList(publicURL: url) {
        router.add(middleware: HostAllowListMiddleware(allowList: allowList))
    }
    router.add(middleware: MetricsMiddleware())
    OpsRoutes(s: services, metrics: metrics, heartbeat: heartbeat, scheduler: scheduler).register(table)
    RegistryRoutes(s: services, crawler: crawler).register(table)
    AccountRoutes(s: services).register(table)
    ImageRoutes(s: services).register(table)
    FixRoutes(s: services).register(table)
    ReportRoutes(s: services).register(table)
    ScanRoutes(s: services).register(table)
    VulnerabilityRoutes(s: services).register(table)
    VEXRoutes(s: services).register(table)
    EventRoutes(s: services, crawler: crawler, guardState: PushEventGuard()).register(table)
    CrawlerRoutes(s: services, crawler: crawler).register(table)
    NotificationRoutes(s: services, client: crawler.clients.notifications).register(table)
    PolicyRoutes(s: services).register(table)
    CheckRoutes(s: services, crawler: crawler).register(table)
    SensorRoutes(s: services, crawler: crawler).register(table)
    // The console calls the API routes above in-process; it is not part of the API's route index.
    ConsoleRoutes(s: services, crawler: crawler).register(router)
    return (router, index)
}

/// What `harborguard serve` is given (the executable parses; the library never sees ArgumentParser).
public struct ServeOptions: Sendable {
    public var server: ServerConfiguration
    public var tlsCertificate: String?
    public var tlsKey: String?
    public var workers: Int
    /// Seconds a job's lease lasts without renewal; a dead worker's job is retried after it.
    public var jobLease: TimeInterval
    /// Registry requests a sync keeps in flight (tag listings and digest HEADs, over all repositories).
    public var syncConcurrency: Int
    /// Seconds between scheduler ticks.
    public var schedulerInterval: TimeInterval
    /// Finished scans older than this are pruned daily (every tag's latest scan is kept).
    public var retentionDays: Int
    /// Request-head deadline, keep-alive idle timeout and the cap on open connections.
    public var connections: ConnectionLimits
    /// `postgres://…`: the data lives in PostgreSQL (several nodes may share it); nil: SQLite.
    public var databaseURL: String?

    public init(
        server: ServerConfiguration, tlsCertificate: String? = nil, tlsKey: String? = nil, workers: Int = 4,
        jobLease: TimeInterval = 60, syncConcurrency: Int = 8, schedulerInterval: TimeInterval = 60, retentionDays: Int = 90,
        connections: ConnectionLimits = ConnectionLimits(), databaseURL: String? = nil
    ) {
        self.databaseURL = databaseURL
        self.connections = connections
        self.schedulerInterval = schedulerInterval
        self.retentionDays = retentionDays
        self.syncConcurrency = syncConcurrency
        self.server = server
        self.tlsCertificate = tlsCertificate
        self.tlsKey = tlsKey
        self.workers = workers
        self.jobLease = jobLease
    }
}

/// The serving process: the HTTP server plus the job workers, in one ServiceGroup.
public struct Appliance: Sendable {
    public let services: AppServices
    public let initialAdminKey: String?
    let options: ServeOptions
    let metrics: PrometheusCollectorRegistry?
    let heartbeat = Heartbeat()
    let schedulerHeartbeat = Heartbeat()

    /// Opens (or initialises) the data directory and wires the modules.
    public init(options: ServeOptions, logger: Logger, metrics: PrometheusCollectorRegistry?) async throws {
        let dir = DataDirectory(options.server.dataDir)
        let opened = try await dir.open(databaseURL: options.databaseURL)
        let jobs = JobStore(database: opened.db.sql)
        let vulnDB = try VulnerabilityDatabase(path: dir.vulnDBPath)
        var services = AppServices(
            db: opened.db, secrets: SecretStore(keyring: opened.keyring), jobs: jobs, logger: logger,
            config: options.server, vulnDB: vulnDB)
        services.initialKeyFile = InitialKeyFile(dir)
        if options.databaseURL != nil {
            services.vulnDBReleases = VulnDBReleases(
                db: opened.db, vulndb: vulnDB, directory: URL(fileURLWithPath: dir.path),
                node: "\(ProcessInfo.processInfo.hostName) pid \(getpid())", logger: logger)
        }
        self.services = services
        initialAdminKey = opened.initialAdminKey
        self.options = options
        self.metrics = metrics
    }

    /// Job handlers by type; capabilities register theirs here.
    static func handlers(crawler: Crawler, scanner: ScanRunner) -> [String: JobHandler] {
        let notifier = NotificationSender(services: crawler.services, client: crawler.clients.notifications)
        var handlers = JobHandlers()
        handlers.handle(.notify) { try await notifier.run($0, $1) }
        handlers.handle(.notifyFlush) { try await notifier.flush($0, $1) }
        handlers.handle(.sync) { try await crawler.sync($0, $1) }
        handlers.handle(.scan) { try await scanner.run($0, $1) }
        handlers.handle(.rematch) { try await scanner.rematch($0, $1) }
        handlers.handle(.vulndbUpdate) { try await scanner.vulndbUpdate($0, $1) }
        return handlers.table
    }

    /// The scheduler and its tasks: the registry policy every tick, housekeeping daily.
    func scheduler() -> Scheduler {
        let services = self.services
        let retention = options.retentionDays
        let policy = SchedulePolicy()
        let tasks = [
            ScheduledTask(name: "policy", period: 0) { now in
                let outcome = try await services.db.write { db in try policy.apply(orgId: nil, now: now, in: db) }
                if outcome.enqueued > 0 {
                    services.logger.info(
                        "schedule", metadata: ["syncs": "\(outcome.syncsEnqueued)", "scans": "\(outcome.scansEnqueued)"])
                }
            },
            ScheduledTask(name: "sensor-offline", period: 0) { now in
                let n = try await services.db.write { db in try SensorSettings.fromEnvironment.markOffline(now: now, in: db) }
                if n > 0 { services.logger.warning("sensors went offline", metadata: ["registries": "\(n)"]) }
            },
            ScheduledTask(name: "triage-expiry", period: 3600) { now in
                try await services.db.write { db in _ = try Housekeeping.applyExpiredTriage(now: now, in: db) }
            },
            ScheduledTask(name: "vulndb-update", period: 86_400) { now in
                // Daily, only when an update URL is configured (--vulndb-url or a feed's), for
                // those configured; the job queues a rematch when anything changed.
                let config = services.config
                let sources = (config.vulnDBUpdateURL == nil ? [] : ["osv"]) + config.configuredEnrichment.map(\.rawValue)
                guard !sources.isEmpty else { return }
                _ = try await services.db.write { db in
                    try ScanRunner.enqueueVulnDBUpdate(
                        url: config.vulnDBUpdateURL, ecosystems: nil, sources: sources, orgId: nil, now: now, in: db)
                }
            },
            ScheduledTask(name: "retention", period: 86_400) { now in
                let n = try await services.db.write { db in try Housekeeping.pruneScans(olderThanDays: retention, now: now, in: db) }
                if n > 0 { services.logger.info("pruned scan history", metadata: ["scans": "\(n)", "days": "\(retention)"]) }
            },
        ]
        // Several nodes on one PostgreSQL database: the holder of an advisory lock runs the tasks.
        let leadership = options.databaseURL.flatMap { try? PostgresLeaderLock(url: $0, logger: services.logger) }
        return Scheduler(
            database: services.db.sql, clock: services.jobs.clock, interval: .seconds(options.schedulerInterval), tasks: tasks,
            logger: services.logger, heartbeat: schedulerHeartbeat, leadership: leadership)
    }

    /// Runs until SIGTERM/SIGINT, then drains: the server stops accepting, workers hand back leases.
    /// `extraServices` (the CLI's memory trim) run in the same ServiceGroup: every long-running
    /// loop of `serve` is a `Service` there, so one graceful shutdown ends them all.
    public func run(
        extraServices: [any Service] = [], onListening: @escaping @Sendable (String) -> Void = { _ in }
    ) async throws {
        var tlsConfiguration: TLSConfiguration?
        if let cert = options.tlsCertificate, let key = options.tlsKey {
            let chain = try NIOSSLCertificate.fromPEMFile(cert).map { NIOSSLCertificateSource.certificate($0) }
            let configuration = TLSConfiguration.makeServerConfiguration(
                certificateChain: chain, privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem)))
            // Fails here (a key that does not match the certificate, say), before any client exists.
            _ = try NIOSSLContext(configuration: configuration)
            tlsConfiguration = configuration
        }
        let tls = tlsConfiguration
        let scheme = tls == nil ? "http" : "https"
        let limits = options.connections
        let gate = ConnectionGate(limit: limits.maxConnections)
        let http1 = HTTP1Channel.Configuration(idleTimeout: .nanoseconds(Int64(limits.idleTimeout * 1e9)))
        let headerTimeout = TimeAmount.nanoseconds(Int64(limits.headerTimeout * 1e9))
        let server = HTTPServerBuilder { responder in
            let plain = HTTP1Channel(responder: responder, configuration: http1)
            if let tls {
                return LimitedChildChannel(
                    base: try TLSChannel(plain, tlsConfiguration: tls), gate: gate, headerTimeout: headerTimeout)
            }
            return LimitedChildChannel(base: plain, gate: gate, headerTimeout: headerTimeout)
        }
        // Created last, after everything that can throw: an HTTPClient must be shut down,
        // and only the ServiceGroup below guarantees that once it exists.
        // One connection to a registry for every repository a sync resolves at once.
        let clients = RegistryHTTPClients(
            policy: OutgoingPolicy(allowPrivateTargets: options.server.allowPrivateTargets), connectionsPerHost: options.syncConcurrency)
        var crawler = Crawler(services: services, clients: clients)
        crawler.concurrency = options.syncConcurrency
        let (router, _) = buildRouter(
            services: services, crawler: crawler, metrics: metrics, heartbeat: heartbeat,
            scheduler: (schedulerHeartbeat, options.schedulerInterval))
        let pool = WorkerPool(
            store: services.jobs, handlers: Self.handlers(crawler: crawler, scanner: ScanRunner(services: services, crawler: crawler)),
            configuration: .init(workers: options.workers, lease: options.jobLease), logger: services.logger,
            heartbeat: heartbeat)
        let host = options.server.host
        let app = Application(
            router: router, server: server,
            configuration: .init(address: .hostname(host, port: options.server.port), serverName: "harborguard"),
            services: [pool, scheduler(), clients] + invalidationListener() + vulnDBFollower() + extraServices,
            onServerRunning: { channel in
                onListening("\(scheme)://\(host):\(channel.localAddress?.port ?? 0)")
            },
            logger: services.logger)
        try await app.runService(gracefulShutdownSignals: [.sigterm, .sigint])
        await services.db.close()
    }

    /// On PostgreSQL, the task that keeps this node's vulnerability database on the current release.
    func vulnDBFollower() -> [any Service] {
        guard let releases = services.vulnDBReleases else { return [] }
        return [VulnDBFollowerService(releases: releases, interval: .seconds(10), logger: services.logger)]
    }

    /// On PostgreSQL, the service that hears other nodes' changes to cached tables.
    func invalidationListener() -> [any Service] {
        guard let url = options.databaseURL, let listener = try? PostgresInvalidationListener(url: url, logger: services.logger)
        else { return [] }
        return [InvalidationListenerService(listener: listener, hub: services.db.invalidations)]
    }
}

/// Runs the LISTEN connection until shutdown, handing what it hears to the caches.
struct InvalidationListenerService: Service {
    let listener: PostgresInvalidationListener
    let hub: InvalidationHub

    func run() async throws {
        let hub = self.hub
        await cancelWhenGracefulShutdown {
            await listener.run { payload in
                // nil: (re)connected, and whatever changed meanwhile is unknown.
                guard let payload else { return hub.post(.all) }
                hub.post(CachedTables(payload: payload) ?? .all)
            }
        }
    }
}
