import Admin
import ArgumentParser
import Foundation
import Scan
import Logging
import Metrics
import Prometheus
import Server

@main
struct Harborguard: AsyncParsableCommand {
    static func main() async {
        // Everything the appliance writes (database, WAL, keyring, backups) is private to its user.
        umask(0o077)
        MemoryTuning.apply()
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

    static let configuration = CommandConfiguration(
        commandName: "harborguard",
        abstract: "Self-hosted container-image security appliance.",
        version: ProductVersion.current,
        subcommands: [Serve.self, ScanCommand.self, PullCommand.self, SensorCommand.self, DBCommand.self, AdminCommand.self]
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
    @Option(help: "Address to listen on.") var host: String = "127.0.0.1"
    @Option(help: "Port to listen on.") var port: Int = 8080
    @Option(help: "PEM certificate chain; with --tls-key serves HTTPS.") var tlsCert: String?
    @Option(help: "PEM private key for --tls-cert.") var tlsKey: String?
    @Option(help: "Base URL users reach the appliance at (for webhook URLs); when set, requests for any other host name are refused (421) against DNS rebinding.")
    var publicUrl: String?
    @Flag(help: "Let notification channels and the --vulndb-url feed reach loopback, private and link-local addresses (cloud metadata addresses stay refused).")
    var allowPrivateTargets = false
    @Option(help: "Concurrent job workers.") var workers: Int = 4
    @Option(help: "Seconds a job lease lasts without renewal (a killed worker's job is retried after it).")
    var jobLease: Int = 60
    @Option(help: "Repositories a sync lists and resolves at once.") var syncConcurrency: Int = 8
    @Option(help: "Seconds between scheduler ticks.") var schedulerInterval: Int = 60
    @Option(help: "Days of scan history to keep (every tag's latest scan is always kept).") var retentionDays: Int = 90
    @Option(help: "Base URL of OSV ecosystem archives to download daily (e.g. https://osv-vulnerabilities.storage.googleapis.com); none: no scheduled update.")
    var vulndbUrl: String?

    func validate() throws {
        if (tlsCert == nil) != (tlsKey == nil) { throw ValidationError("--tls-cert and --tls-key go together") }
        if !(0...65535).contains(port) { throw ValidationError("--port must be 0-65535") }
        if workers < 1 || workers > 64 { throw ValidationError("--workers must be 1-64") }
        if jobLease < 2 || jobLease > 86_400 { throw ValidationError("--job-lease must be 2-86400 seconds") }
        if syncConcurrency < 1 || syncConcurrency > 64 { throw ValidationError("--sync-concurrency must be 1-64") }
        if schedulerInterval < 1 || schedulerInterval > 3600 { throw ValidationError("--scheduler-interval must be 1-3600 seconds") }
        if retentionDays < 1 || retentionDays > 36_500 { throw ValidationError("--retention-days must be 1-36500") }
        if let publicUrl, HostAllowList(publicURL: publicUrl) == nil {
            throw ValidationError("--public-url must be an absolute http(s) URL with a host")
        }
    }

    func run() async throws {
        let logger = global.bootstrapLogging()
        let prometheus = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: prometheus))
        let options = ServeOptions(
            server: ServerConfiguration(
                host: host, port: port, dataDir: global.dataDir, publicURL: publicUrl, tls: tlsCert != nil,
                vulnDBUpdateURL: vulndbUrl, allowPrivateTargets: allowPrivateTargets),
            tlsCertificate: tlsCert, tlsKey: tlsKey, workers: workers, jobLease: TimeInterval(jobLease),
            syncConcurrency: syncConcurrency, schedulerInterval: TimeInterval(schedulerInterval), retentionDays: retentionDays)
        let appliance: Appliance
        do {
            appliance = try Appliance(options: options, logger: logger, metrics: prometheus)
        } catch {
            fail("cannot open data directory \(global.dataDir): \(error)")
        }
        if let key = appliance.initialAdminKey {
            let path = DataDirectory(global.dataDir).initialAdminKeyPath
            // Written straight to the descriptor so it is out before the server blocks.
            FileHandle.standardOutput.write(Data(
                "Created organization 'default'. Initial admin API key (shown once; also in \(path)):\n\(key)\n".utf8))
        }
        let trimming = Task.detached { await MemoryTuning.trimPeriodically() }
        defer { trimming.cancel() }
        try await appliance.run { url in
            logger.info("harborguard listening", metadata: ["url": "\(url)"])
        }
    }
}
