import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTLS
import Logging
import NIOCore
import NIOSSL
@testable import Registry

/// A request as a fake server sees it.
struct FakeRequest: Sendable {
    var method: String
    var path: String
    var query: [String: [String]]
    var headers: [String: String]
    var body: Data

    func header(_ name: String) -> String? { headers[name.lowercased()] }
    func q(_ name: String) -> String? { query[name]?.first }
}

/// A canned answer. `chunks` streams a body without Content-Length; `failAfterChunks` drops
/// the connection after writing them.
struct FakeResponse: Sendable {
    var status: Int
    var headers: [(String, String)] = []
    var body: Data = Data()
    var chunks: [Data]? = nil
    var failAfterChunks = false
    var delay: Duration? = nil

    static func json(_ status: Int = 200, _ object: Any, headers: [(String, String)] = []) -> FakeResponse {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return FakeResponse(status: status, headers: [("Content-Type", "application/json")] + headers, body: data)
    }

    static func status(_ code: Int, headers: [(String, String)] = []) -> FakeResponse {
        FakeResponse(status: code, headers: headers)
    }
}

struct InjectedFailure: Error {}

typealias FakeHandler = @Sendable (FakeRequest) async throws -> FakeResponse

/// Counts requests per key, for "fetched once" assertions.
actor Counter {
    private(set) var counts: [String: Int] = [:]
    private(set) var log: [String] = []
    func hit(_ key: String) { counts[key, default: 0] += 1; log.append(key) }
    func count(_ key: String) -> Int { counts[key] ?? 0 }
}

/// Runs an in-process HTTP server on 127.0.0.1 with a free port for the duration of `body`
/// (HTTPS with `tls`).
@discardableResult
func withFakeServer<T: Sendable>(
    _ handler: @escaping FakeHandler, tls: TLSConfiguration? = nil, _ body: @Sendable (_ baseURL: String) async throws -> T
) async throws -> T {
    let responder = CallbackResponder<BasicRequestContext> { request, _ in
        var request = request
        let buffer = try await request.collectBody(upTo: 64 << 20)
        var query: [String: [String]] = [:]
        for (k, v) in request.uri.queryParameters { query[String(k), default: []].append(String(v)) }
        var headers: [String: String] = [:]
        for field in request.headers { headers[field.name.canonicalName] = field.value }
        // HTTP/1 `Host` arrives as the :authority pseudo-header.
        if let authority = request.head.authority { headers["host"] = authority }
        let fake = FakeRequest(method: request.method.rawValue, path: request.uri.path, query: query, headers: headers,
                               body: Data(buffer.readableBytesView))
        let answer = try await handler(fake)
        if let delay = answer.delay { try await Task.sleep(for: delay) }
        var fields = HTTPFields()
        for (n, v) in answer.headers { if let name = HTTPField.Name(n) { fields.append(HTTPField(name: name, value: v)) } }
        let status = HTTPResponse.Status(code: answer.status)
        if let chunks = answer.chunks {
            let fail = answer.failAfterChunks
            return Response(status: status, headers: fields, body: ResponseBody { writer in
                for c in chunks { try await writer.write(ByteBuffer(bytes: c)) }
                if fail { throw InjectedFailure() }
                try await writer.finish(nil)
            })
        }
        return Response(status: status, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(bytes: answer.body)))
    }
    let (ports, continuation) = AsyncStream<Int>.makeStream()
    var logger = Logger(label: "fake-server")
    logger.logLevel = .critical
    let app = Application(
        responder: responder,
        server: try tls.map { try .tls(.http1(), tlsConfiguration: $0) } ?? .http1(),
        configuration: .init(address: .hostname("127.0.0.1", port: 0)),
        onServerRunning: { channel in continuation.yield(channel.localAddress?.port ?? 0) },
        logger: logger
    )
    return try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask {
            try await app.runService(gracefulShutdownSignals: [])
            return nil
        }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw InjectedFailure() }
        do {
            let result = try await body("\(tls == nil ? "http" : "https")://127.0.0.1:\(port)")
            group.cancelAll()
            return result
        } catch {
            group.cancelAll()
            throw error
        }
    }
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

func makeClient(_ http: HTTPClient, _ url: String, provider: RegistryProvider = .dockerRegistry, credentials: RegistryCredentials? = nil,
                endpoints: ProviderEndpoints = ProviderEndpoints(), retry: RetryPolicy = fastRetry, pageSize: Int = 100,
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
