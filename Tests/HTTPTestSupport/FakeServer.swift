package import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTLS
import Logging
import NIOCore
package import NIOSSL

// The one in-process HTTP server of the test targets (registry fakes, token servers, OSV
// download hosts): canned answers from a handler, on 127.0.0.1 with a free port, HTTP or
// HTTPS.

/// A request as a fake server sees it.
package struct FakeRequest: Sendable {
    package var method: String
    package var path: String
    package var query: [String: [String]]
    package var headers: [String: String]
    package var body: Data

    package init(method: String, path: String, query: [String: [String]] = [:], headers: [String: String] = [:], body: Data = Data()) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
    }

    package func header(_ name: String) -> String? { headers[name.lowercased()] }
    package func q(_ name: String) -> String? { query[name]?.first }
}

/// A canned answer. `chunks` streams a body without Content-Length; `failAfterChunks` drops
/// the connection after writing them.
package struct FakeResponse: Sendable {
    package var status: Int
    package var headers: [(String, String)] = []
    package var body: Data = Data()
    package var chunks: [Data]? = nil
    package var failAfterChunks = false
    package var delay: Duration? = nil

    package init(
        status: Int, headers: [(String, String)] = [], body: Data = Data(), chunks: [Data]? = nil, failAfterChunks: Bool = false,
        delay: Duration? = nil
    ) {
        self.status = status
        self.headers = headers
        self.body = body
        self.chunks = chunks
        self.failAfterChunks = failAfterChunks
        self.delay = delay
    }

    package static func json(_ status: Int = 200, _ object: Any, headers: [(String, String)] = []) -> FakeResponse {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return FakeResponse(status: status, headers: [("Content-Type", "application/json")] + headers, body: data)
    }

    package static func status(_ code: Int, headers: [(String, String)] = []) -> FakeResponse {
        FakeResponse(status: code, headers: headers)
    }
}

package struct InjectedFailure: Error {
    package init() {}
}

package typealias FakeHandler = @Sendable (FakeRequest) async throws -> FakeResponse

/// Runs an in-process HTTP server on 127.0.0.1 with a free port for the duration of `body`
/// (HTTPS with `tls`).
@discardableResult
package func withFakeServer<T: Sendable>(
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

