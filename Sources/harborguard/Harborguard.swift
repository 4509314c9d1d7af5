import Cron
import Admin
import ArgumentParser
import Foundation
import Scan
import Logging
import Metrics
import Prometheus
import Registry
import Server
import Store

struct Harborguard: AsyncParsableCommand {
    /// The entry point (called by `main.swift`).
    static func main() async {
        // Everything the appliance writes (database, WAL, keyring, backups) is private to its user.
        umask(0o077)
        MemoryTuning.apply()
        if let unknown = unknownSubcommand(Array(CommandLine.arguments.dropFirst())) {
            // ArgumentParser would answer `harborguard check --help` with the root help and exit 0.
            FileHandle.standardError.write(Data("Error: unknown subcommand '\(unknown)'\n\n\(helpMessage())\n".utf8))
            Foundation.exit(64)  // EX_USAGE
        }
        do {
            var command = try parseAsRoot()
            if var async = command as? any AsyncParsableCommand {
                try await async.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }

    /// The first word where a subcommand is expected that names none, at any depth.
    static func unknownSubcommand(_ args: [String]) -> String? {
        var command: any ParsableCommand.Type = Harborguard.self
        for arg in args {
            let subcommands = command.configuration.subcommands
            guard !subcommands.isEmpty, !arg.hasPrefix("-"), arg != "help" else { return nil }
            guard let next = subcommands.first(where: { $0._commandName == arg || $0.configuration.aliases.contains(arg) })
            else { return arg }
            command = next
        }
        return nil
    }

    static let configuration = CommandConfiguration(
        commandName: "harborguard",
        abstract: "Self-hosted container-image security appliance.",
        version: ProductVersion.current,
        subcommands: [
            Serve.self, ScanCommand.self, CheckCommand.self, PullCommand.self, SensorCommand.self, DBCommand.self, AdminCommand.self,
            BenchLayerCommand.self,
        ]
    )
}

/// Options every command shares.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: "Data directory (or HARBORGUARD_DATA_DIR).")
    var dataDir: String = ProcessInfo.processInfo.environment["HARBORGUARD_DATA_DIR"] ?? "./data"

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical (or HARBORGUARD_LOG_LEVEL).")
    var logLevel: String = ProcessInfo.processInfo.environment["HARBORGUARD_LOG_LEVEL"] ?? "info"

    /// Bootstraps logging once per process, to stderr.
    func bootstrapLogging() -> Logger {
        let level = Logger.Level(rawValue: logLevel.lowercased()) ?? .info
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = level
            return h
        }
        var logger = Logger(label: "harborguard")
        logger.logLevel = level
        return logger
    }
}

/// Prints a one-line error and exits non-zero, for failures a user can act on.
func fail(_ message: String, code: Int32 = 1) -> Never {
    FileHandle.standardError.write(Data("harborguard: \(message)\n".utf8))
    exit(code)
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the REST API, the scheduler and the job workers.")

    @OptionGroup var global: GlobalOptions
    @Option(
        help: ArgumentHelp(
            "Keep the data in this PostgreSQL database instead of the embedded SQLite file (postgres://USER[:PASSWORD]@HOST:PORT/DB?sslmode=disable|prefer|require|verify-ca|verify-full; or HARBORGUARD_DATABASE_URL). Several nodes may share one database; each needs the same keyring.",
            valueName: "url"))
    var database: String?
    @Option(help: "The keyring file (or HARBORGUARD_KEK_FILE; default DATA_DIR/keys/keyring.json). Every node on one database needs the same one.")
    var kekFile: String?
    @Option(help: "Address to listen on.") var host: String = "127.0.0.1"
    @Option(help: "Port to listen on.") var port: Int = 8080
    @Option(help: "PEM certificate chain; with --tls-key serves HTTPS.") var tlsCert: String?
    @Option(help: "PEM private key for --tls-cert.") var tlsKey: String?
    @Option(help: "Base URL users reach the appliance at (for webhook URLs); when set, requests for any other host name are refused (421) against DNS rebinding.")
    var publicUrl: String?
    @Flag(help: "Let notification channels and the feeds (--vulndb-url, --nvd-url, --epss-url, --kev-url, --debian-tracker-url) reach loopback, private and link-local addresses (cloud metadata addresses stay refused).")
    var allowPrivateTargets = false
    @Option(help: "Concurrent job workers.") var workers: Int = 4
    @Option(help: "Seconds a job lease lasts without renewal (a killed worker's job is retried after it).")
    var jobLease: Int = 60
    @Option(help: "Registry requests a sync keeps in flight (tag listings and digest HEADs, over all repositories).") var syncConcurrency: Int = 8
    @Option(help: "Seconds between scheduler ticks.") var schedulerInterval: Int = 60
    @Option(help: "Days of scan history to keep (every tag's latest scan is always kept).") var retentionDays: Int = 90
    @Option(help: "Base URL of OSV ecosystem archives to download daily (e.g. https://osv-vulnerabilities.storage.googleapis.com); none: no scheduled update.")
    var vulndbUrl: String?
    @Option(help: "NVD CVE 2.0 feed directory (nvdcve-2.0-<year>|modified.json.gz with .meta) to update from; none: NVD is not updated.")
    var nvdUrl: String?
    @Option(help: "EPSS scores file (.csv.gz) or a directory holding epss_scores-current.csv.gz; none: EPSS is not updated.")
    var epssUrl: String?
    @Option(help: "CISA KEV catalog JSON or a directory holding known_exploited_vulnerabilities.json; none: KEV is not updated.")
    var kevUrl: String?
    @Option(help: "Debian security tracker JSON or a directory holding a file named json; none: the tracker is not updated.")
    var debianTrackerUrl: String?

    var enrichmentURLs: [EnrichmentSource: String] {
        enrichmentLocations(nvd: nvdUrl, epss: epssUrl, kev: kevUrl, debianTracker: debianTrackerUrl)
    }
    @Option(
        help: ArgumentHelp(
            "A reverse proxy whose X-Forwarded-For names the client: an IP or CIDR range; repeat it or separate with commas. Without it the header is ignored.",
            valueName: "ip-or-cidr"))
    var trustedProxy: [String] = []
    @Option(help: "Seconds from a request's first byte to the end of its headers; slower clients are disconnected.")
    var headerTimeout: Int = 10
    @Option(help: "Seconds an idle keep-alive connection stays open.") var idleTimeout: Int = 60
    @Option(help: "Client connections open at once; more are closed at once (default: ulimit -n minus 256, at most 10000).")
    var maxConnections: Int?
    @Option(help: "Require Authorization: Bearer TOKEN on /metrics (or HARBORGUARD_METRICS_TOKEN; prefer --metrics-token-file).")
    var metricsToken: String?
    @Option(help: "File holding the /metrics bearer token.") var metricsTokenFile: String?
    @Option(
        help: ArgumentHelp(
            "The AWS ECR API endpoint (GetAuthorizationToken, DescribeRepositories): https, or http on a loopback address; default https://api.ecr.<region>.amazonaws.com.",
            valueName: "url"))
    var ecrApiEndpoint: String?

    func validate() throws {
        if headerTimeout < 1 || headerTimeout > 3600 { throw ValidationError("--header-timeout must be 1-3600 seconds") }
        if idleTimeout < 1 || idleTimeout > 86_400 { throw ValidationError("--idle-timeout must be 1-86400 seconds") }
        if let maxConnections {
            if maxConnections < 1 { throw ValidationError("--max-connections must be at least 1") }
            if let soft = ConnectionLimits.openFileLimit, maxConnections > soft {
                throw ValidationError(
                    "--max-connections \(maxConnections) is above the open-file limit (ulimit -n = \(soft)); raise the limit or lower --max-connections")
            }
        }
        if metricsToken != nil && metricsTokenFile != nil { throw ValidationError("--metrics-token and --metrics-token-file exclude each other") }
        do { _ = try IPNetwork.parseList(trustedProxy) } catch { throw ValidationError("--trusted-proxy: \(error)") }
        if (tlsCert == nil) != (tlsKey == nil) { throw ValidationError("--tls-cert and --tls-key go together") }
        if !(0...65535).contains(port) { throw ValidationError("--port must be 0-65535") }
        if workers < 1 || workers > 64 { throw ValidationError("--workers must be 1-64") }
        if jobLease < 2 || jobLease > 86_400 { throw ValidationError("--job-lease must be 2-86400 seconds") }
        if syncConcurrency < 1 || syncConcurrency > 64 { throw ValidationError("--sync-concurrency must be 1-64") }
        if schedulerInterval < 1 || schedulerInterval > 3600 { throw ValidationError("--scheduler-interval must be 1-3600 seconds") }
        if retentionDays < 1 || retentionDays > 36_500 { throw ValidationError("--retention-days must be 1-36500") }
        if let ecrApiEndpoint, HostAllowList(publicURL: ecrApiEndpoint) == nil {
            throw ValidationError("--ecr-api-endpoint must be an absolute http(s) URL with a host")
        }
        for (source, location) in enrichmentURLs.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            do { try EnrichmentUpdater.validate(location: location) } catch { throw ValidationError("\(source.flag): \(error)") }
        }
        if let publicUrl, HostAllowList(publicURL: publicUrl) == nil {
            throw ValidationError("--public-url must be an absolute http(s) URL with a host")
        }
        if let url = databaseURL {
            do { _ = try PostgresTarget(url: url) } catch { throw ValidationError("--database: \(error)") }
        }
    }

    /// `--database`, else `HARBORGUARD_DATABASE_URL` (empty: unset).
    var databaseURL: String? {
        database ?? ProcessInfo.processInfo.environment["HARBORGUARD_DATABASE_URL"].flatMap { $0.isEmpty ? nil : $0 }
    }

    func run() async throws {
        let logger = global.bootstrapLogging()
        if let kekFile { setenv("HARBORGUARD_KEK_FILE", kekFile, 1) }
        let prometheus = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: prometheus))
        var token = metricsToken ?? metricsTokenFile.map { readSecretFile($0, what: "metrics token") }
        if token == nil, let env = ProcessInfo.processInfo.environment["HARBORGUARD_METRICS_TOKEN"], !env.isEmpty { token = env }
        if let t = token, t.count < 16 { fail("the metrics token must be at least 16 characters", code: 64) }
        let connections = ConnectionLimits(
            headerTimeout: TimeInterval(headerTimeout), idleTimeout: TimeInterval(idleTimeout),
            maxConnections: maxConnections ?? ConnectionLimits.defaultMaxConnections)
        let options = ServeOptions(
            server: ServerConfiguration(
                host: host, port: port, dataDir: global.dataDir, publicURL: publicUrl, tls: tlsCert != nil,
                vulnDBUpdateURL: vulndbUrl, trustedProxies: (try? IPNetwork.parseList(trustedProxy)) ?? [],
                metricsToken: token, allowPrivateTargets: allowPrivateTargets,
                providerEndpoints: ProviderEndpoints(ecrAPI: ecrApiEndpoint), enrichmentURLs: enrichmentURLs),
            tlsCertificate: tlsCert, tlsKey: tlsKey, workers: workers, jobLease: TimeInterval(jobLease),
            syncConcurrency: syncConcurrency, schedulerInterval: TimeInterval(schedulerInterval), retentionDays: retentionDays,
            connections: connections, databaseURL: databaseURL)
        let appliance: Appliance
        do {
            appliance = try await Appliance(options: options, logger: logger, metrics: prometheus)
        } catch {
            if let url = databaseURL {
                fail("cannot open \((try? PostgresTarget(url: url).description) ?? "the database") with data directory \(global.dataDir): \(error)")
            }
            fail("cannot open data directory \(global.dataDir): \(error)")
        }
        if let key = appliance.initialAdminKey {
            let path = DataDirectory(global.dataDir).initialAdminKeyPath
            // Written straight to the descriptor so it is out before the server blocks.
            FileHandle.standardOutput.write(Data(
                "Created organization 'default'. Initial admin API key (shown once; also in \(path) until a user or another key exists):\n\(key)\n".utf8))
        }
        try await appliance.run(extraServices: [MemoryTrimService()]) { url in
            logger.info("harborguard listening", metadata: ["url": "\(url)"])
        }
    }
}
