import ArgumentParser
import Foundation
import Logging
import Registry
import Scan
import Server
import Store

/// How the one-shot commands (`scan`, `pull`) reach a registry: credentials and plain http.
struct RegistryAccessOptions: ParsableArguments {
    @Option(help: "Registry username.") var username: String?
    @Flag(help: "Read the registry password from standard input.") var passwordStdin = false
    @Flag(help: "Talk to the registry over plain http:// (local registries).") var insecure = false

    /// --username with --password-stdin or HARBORGUARD_REGISTRY_PASSWORD, the
    /// HARBORGUARD_REGISTRY_USERNAME/PASSWORD pair, or ~/.docker/config.json.
    func credentials(host: String) -> RegistryCredentials? {
        let env = ProcessInfo.processInfo.environment
        if let username = username ?? env["HARBORGUARD_REGISTRY_USERNAME"] {
            var password = env["HARBORGUARD_REGISTRY_PASSWORD"]
            if passwordStdin {
                password = readLine(strippingNewline: true)
            }
            guard let password, !password.isEmpty else {
                fail("a password is needed with --username: --password-stdin or HARBORGUARD_REGISTRY_PASSWORD", code: 64)
            }
            return .usernamePassword(username: username, password: password)
        }
        return DockerConfig.credentials(for: host)
    }

    /// A client for the registry of `reference` (Docker Hub's rules for docker.io).
    func client(for reference: ImageReference, clients: RegistryHTTPClients, logger: Logger) throws -> RegistryClient {
        let scheme = insecure ? "http" : "https"
        let provider: RegistryProvider = reference.registry == ImageReference.dockerHubRegistry ? .dockerHub : .dockerRegistry
        return try RegistryClient(
            configuration: .init(
                url: "\(scheme)://\(reference.registry)", provider: provider, credentials: credentials(host: reference.registry),
                insecure: insecure),
            http: insecure ? clients.insecure : clients.secure, logger: logger)
    }
}

/// `harborguard pull IMAGE DIR`: the crawler's download path on its own, into an OCI image
/// layout that `skopeo`, `syft oci-dir:`, `trivy --input` and `harborguard` itself can read.
struct PullCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pull",
        abstract: "Copy one image from a registry into an OCI image layout directory, verifying every digest.",
        discussion: """
            DIR must be absent or empty. index.json is written last, so a layout without it is an \
            interrupted pull. Credentials as for `scan`. Prints a JSON summary on standard output.
            """)

    @OptionGroup var global: GlobalOptions
    @Argument(help: "Image reference: [host[:port]/]repo[:tag][@sha256:…]") var image: String
    @Argument(help: "Destination directory (an OCI image layout).") var directory: String
    @Option(help: "Platform of a multi-platform image.") var platform: String = "linux/amd64"
    @Option(help: "Layers downloaded at the same time.") var concurrency: Int = 4
    @OptionGroup var access: RegistryAccessOptions

    func run() async throws {
        var logger = Logger(label: "harborguard.pull")
        logger.logLevel = Logger.Level(rawValue: global.logLevel.lowercased()) ?? .warning
        if logger.logLevel == .info { logger.logLevel = .warning }
        let reference: ImageReference
        do { reference = try ImageReference(image) } catch { fail("\(error)", code: 64) }
        guard let wanted = Platform(parsing: platform) else { fail("--platform must look like linux/amd64", code: 64) }
        guard (1...32).contains(concurrency) else { fail("--concurrency must be between 1 and 32", code: 64) }
        let clients = RegistryHTTPClients()
        let report: ImagePull.Report
        do {
            let client = try access.client(for: reference, clients: clients, logger: logger)
            report = try await ImagePull(concurrency: concurrency).pull(
                reference, client: client, platform: wanted, into: URL(fileURLWithPath: directory),
                progress: { line in FileHandle.standardError.write(Data("harborguard: \(line)\n".utf8)) })
        } catch {
            try? await clients.shutdown()
            fail("pull of \(image) failed: \(error)")
        }
        try? await clients.shutdown()
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        FileHandle.standardOutput.write(try e.encode(report) + Data("\n".utf8))
    }
}
