public import Cron
public import Foundation
import GRDB
public import Logging
public import Registry
import Synchronization
public import Scan
public import Store

/// Everything a request handler needs, passed as a value (no global locator).
public struct AppServices: Sendable {
    public let db: AppDatabase
    public let secrets: SecretStore
    public let jobs: JobStore
    public let logger: Logger
    public let config: ServerConfiguration
    /// The OSV vulnerability database (`<data-dir>/vulndb.sqlite`); nil in tests that do not match.
    public let vulnDB: VulnerabilityDatabase?
    /// Verified credentials and registry pages, invalidated on commit (see `HotCaches`).
    let caches: HotCaches
    let scanLimiter = RateLimiter(limit: 10)
    let keyLimiter = RateLimiter(limit: 10)
    let patLimiter = RateLimiter(limit: 10)
    /// Failed sign-ins per (account, client address) and per client address; see `AccountRoutes.signIn`.
    let signInFailures = RateLimiter(limit: AppServices.signInFailuresPerAccountAndAddress)
    let signInAddressFailures = RateLimiter(limit: AppServices.signInFailuresPerAddress)
    static let signInFailuresPerAccountAndAddress = 5
    static let signInFailuresPerAddress = 20
    /// Set by the serving process: `initial-admin-key` is deleted once the organization is set up.
    public var initialKeyFile: InitialKeyFile?
    /// On PostgreSQL, the installation's one vulnerability-database version (nil on SQLite).
    public var vulnDBReleases: VulnDBReleases?

    public init(
        db: AppDatabase, secrets: SecretStore, jobs: JobStore, logger: Logger, config: ServerConfiguration,
        vulnDB: VulnerabilityDatabase? = nil
    ) {
        self.vulnDB = vulnDB
        self.caches = HotCaches(database: db)
        self.db = db
        self.secrets = secrets
        self.jobs = jobs
        self.logger = logger
        self.config = config
    }

    public var now: Date { jobs.clock.now() }

    /// Runs `body`, a match, against the installation's current vulnerability-database
    /// release: on PostgreSQL the node copies it in first when its file holds another version
    /// (see `VulnDBReleases`); on SQLite there is one file and `body` runs at once.
    func matchingCurrentRelease<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        guard let releases = vulnDBReleases else { return try await body() }
        return try await releases.matching(body)
    }

    /// Appends an audit event inside the caller's transaction.
    public static func audit(
        _ db: any SQLConnection, org: String, actor: String, action: String, target: String?, ip: String?, now: Date
    ) throws {
        try AuditRepository.append(
            db, AuditRecord(orgId: org, actor: actor, action: action, target: target, ip: ip, createdAt: now))
    }
}

/// The data directory's `initial-admin-key`, deleted after the first answer that created
/// something once a user or another key exists (see `DataDirectory.retireInitialAdminKeyIfSetUp`).
public final class InitialKeyFile: Sendable {
    let directory: DataDirectory
    private let retired = Atomic<Bool>(false)

    public init(_ directory: DataDirectory) { self.directory = directory }

    func retireIfSetUp(_ db: AppDatabase, logger: Logger) async {
        guard !retired.load(ordering: .relaxed) else { return }
        do {
            if try await directory.retireInitialAdminKeyIfSetUp(db) {
                retired.store(true, ordering: .relaxed)
                logger.notice("the organization is set up: deleted \(directory.initialAdminKeyPath) (the key itself stays valid until revoked)")
            }
        } catch {
            logger.error("\(error)")
        }
    }
}

/// Serving options that handlers need to see.
public struct ServerConfiguration: Sendable {
    public var host: String
    public var port: Int
    public var dataDir: String
    /// Base URL the appliance is reached at (for webhook URLs); defaults to http(s)://host:port.
    public var publicURL: String?
    public var tls: Bool
    public var bcryptCost: UInt8
    public var sessionLifetime: TimeInterval
    /// Base URL of the OSV archives the daily `vulndb_update` job downloads; nil: no scheduled update.
    public var vulnDBUpdateURL: String?
    /// Where the enrichment feeds come from (`serve --nvd-url`, `--epss-url`, `--kev-url`,
    /// `--debian-tracker-url`); a source without one is never updated by the server.
    public var enrichmentURLs: [EnrichmentSource: String]
    /// Peers whose `X-Forwarded-For` names the client (`--trusted-proxy`); empty: the header is ignored.
    public var trustedProxies: [IPNetwork]
    /// When set, `/metrics` requires `Authorization: Bearer <token>` (`--metrics-token`).
    public var metricsToken: String?
    /// Lets notification channels and the vulnerability-database feed reach loopback, private
    /// and link-local addresses (`serve --allow-private-targets`); metadata addresses stay refused.
    public var allowPrivateTargets: Bool
    /// The providers' auth and listing APIs (`serve --ecr-api-endpoint`); the public ones by default.
    public var providerEndpoints: ProviderEndpoints

    public init(
        host: String = "127.0.0.1", port: Int = 8080, dataDir: String = "./data", publicURL: String? = nil,
        tls: Bool = false, bcryptCost: UInt8 = 12, sessionLifetime: TimeInterval = 12 * 3600, vulnDBUpdateURL: String? = nil,
        trustedProxies: [IPNetwork] = [], metricsToken: String? = nil, allowPrivateTargets: Bool = false,
        providerEndpoints: ProviderEndpoints = ProviderEndpoints(), enrichmentURLs: [EnrichmentSource: String] = [:]
    ) {
        self.enrichmentURLs = enrichmentURLs
        self.providerEndpoints = providerEndpoints
        self.trustedProxies = trustedProxies
        self.metricsToken = metricsToken
        self.vulnDBUpdateURL = vulnDBUpdateURL
        self.allowPrivateTargets = allowPrivateTargets
        self.host = host
        self.port = port
        self.dataDir = dataDir
        self.publicURL = publicURL
        self.tls = tls
        self.bcryptCost = bcryptCost
        self.sessionLifetime = sessionLifetime
    }

    /// The enrichment sources with a configured URL, in `EnrichmentSource.allCases` order.
    public var configuredEnrichment: [EnrichmentSource] { EnrichmentSource.allCases.filter { enrichmentURLs[$0] != nil } }

    public var baseURL: String {
        if let publicURL { return publicURL.hasSuffix("/") ? String(publicURL.dropLast()) : publicURL }
        return "\(tls ? "https" : "http")://\(host):\(port)"
    }
}

