import ArgumentParser
import Foundation
import Logging
import Registry
import Scan
import Server
import Store
import ServiceLifecycle
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
    @Option(help: "Registry requests a sync keeps in flight (tag listings and digest HEADs, over all repositories).") var syncConcurrency: Int = 4

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
        let clients = RegistryHTTPClients(connectionsPerHost: syncConcurrency)
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
