import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOSSL
@testable import Registry

// Registry test helpers; the fake HTTP server itself is in HTTPTestSupport, shared with the
// scan tests.

/// Counts requests per key, for "fetched once" assertions.
actor Counter {
    private(set) var counts: [String: Int] = [:]
    private(set) var log: [String] = []
    func hit(_ key: String) { counts[key, default: 0] += 1; log.append(key) }
    func count(_ key: String) -> Int { counts[key] ?? 0 }
}

/// One HTTP client per test, shut down at the end; configured as the client expects (with
/// `tls` for its TLS settings, e.g. a test CA).
@discardableResult
func withHTTPClient<T: Sendable>(tls: TLSConfiguration? = nil, _ body: (HTTPClient) async throws -> T) async throws -> T {
    var configuration = RegistryClient.httpClientConfiguration(connectTimeout: .seconds(5), readTimeout: .seconds(20))
    if let tls { configuration.tlsConfiguration = tls }
    let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    do {
        let result = try await body(client)
        try await client.shutdown()
        return result
    } catch {
        try? await client.shutdown()
        throw error
    }
}

let testLogger: Logger = {
    var l = Logger(label: "registry-tests")
    l.logLevel = .critical
    return l
}()

/// A fast retry policy for tests.
let fastRetry = RetryPolicy(maxAttempts: 3, baseDelay: .milliseconds(5), maxDelay: .milliseconds(50), maxTotalDelay: .seconds(2))

/// Every provider API on a closed local port: a test that does not set one reaches no real host
/// (a GHCR client's test connection lists through the GitHub API).
let offlineEndpoints = ProviderEndpoints(
    dockerHubAPI: "https://127.0.0.1:9", ecrAPI: "https://127.0.0.1:9", azureAuthority: "https://127.0.0.1:9",
    googleTokenURL: "https://127.0.0.1:9/token", githubAPI: "https://127.0.0.1:9")

func makeClient(_ http: HTTPClient, _ url: String, provider: RegistryProvider = .dockerRegistry, credentials: RegistryCredentials? = nil,
                endpoints: ProviderEndpoints = offlineEndpoints, retry: RetryPolicy = fastRetry, pageSize: Int = 100,
                configure: (inout RegistryClient.Configuration) -> Void = { _ in }) throws -> RegistryClient {
    var config = RegistryClient.Configuration(url: url, provider: provider, credentials: credentials, insecure: true, retry: retry, pageSize: pageSize, endpoints: endpoints)
    config.requestTimeout = .seconds(10)
    configure(&config)
    return try RegistryClient(configuration: config, httpClient: http, logger: testLogger)
}

/// Builds a small image in memory: config + layers + manifest bytes.
struct TestImage {
    var config: Data
    var layers: [Data]
    var manifest: Data
    var manifestDigest: Digest { Digest.sha256(of: manifest) }

    init(seed: String, os: String = "linux", arch: String = "amd64", mediaType: String = MediaType.ociManifest, layerCount: Int = 1) {
        let config = Data("{\"architecture\":\"\(arch)\",\"os\":\"\(os)\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]},\"config\":{\"Labels\":{\"seed\":\"\(seed)\"}}}".utf8)
        let layers = (0..<layerCount).map { Data("layer \($0) of \(seed) ".utf8 + Data(repeating: UInt8($0 & 0xff), count: 1000)) }
        let configType = mediaType == MediaType.ociManifest ? "application/vnd.oci.image.config.v1+json" : "application/vnd.docker.container.image.v1+json"
        let layerType = mediaType == MediaType.ociManifest ? "application/vnd.oci.image.layer.v1.tar+gzip" : "application/vnd.docker.image.rootfs.diff.tar.gzip"
        let layerJSON = layers.map { "{\"mediaType\":\"\(layerType)\",\"digest\":\"\(Digest.sha256(of: $0))\",\"size\":\($0.count)}" }.joined(separator: ",")
        let manifest = "{\"schemaVersion\":2,\"mediaType\":\"\(mediaType)\",\"config\":{\"mediaType\":\"\(configType)\",\"digest\":\"\(Digest.sha256(of: config))\",\"size\":\(config.count)},\"layers\":[\(layerJSON)]}"
        self.config = config
        self.layers = layers
        self.manifest = Data(manifest.utf8)
    }

    static func index(_ entries: [(TestImage, String, String, String?)], mediaType: String = MediaType.ociIndex) -> Data {
        let items = entries.map { image, os, arch, variant in
            let v = variant.map { ",\"variant\":\"\($0)\"" } ?? ""
            return "{\"mediaType\":\"\(MediaType.ociManifest)\",\"digest\":\"\(image.manifestDigest)\",\"size\":\(image.manifest.count),\"platform\":{\"architecture\":\"\(arch)\",\"os\":\"\(os)\"\(v)}}"
        }.joined(separator: ",")
        return Data("{\"schemaVersion\":2,\"mediaType\":\"\(mediaType)\",\"manifests\":[\(items)]}".utf8)
    }
}
