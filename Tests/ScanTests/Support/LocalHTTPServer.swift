import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

// An in-process HTTP server on 127.0.0.1 for the updater tests (a trimmed copy of the
// registry tests' fake server).

/// A request as the fake server sees it.
struct LocalRequest: Sendable {
    var method: String
    var path: String
    var headers: [String: String]

    func header(_ name: String) -> String? { headers[name.lowercased()] }
}

/// A canned answer. `chunks` streams the body without Content-Length; `failAfterChunks`
/// drops the connection after writing them.
struct LocalResponse: Sendable {
    var status: Int
    var headers: [(String, String)] = []
    var body = Data()
    var chunks: [Data]? = nil
    var failAfterChunks = false

    static func status(_ code: Int, headers: [(String, String)] = []) -> LocalResponse {
        LocalResponse(status: code, headers: headers)
    }
}

struct DroppedConnection: Error {}

/// Runs the server with a free port for the duration of `body`.
@discardableResult
func withLocalHTTPServer<T: Sendable>(
    _ handler: @escaping @Sendable (LocalRequest) async throws -> LocalResponse,
    _ body: @Sendable (_ baseURL: String) async throws -> T
) async throws -> T {
    let responder = CallbackResponder<BasicRequestContext> { request, _ in
        var headers: [String: String] = [:]
        for field in request.headers { headers[field.name.canonicalName] = field.value }
        let answer = try await handler(LocalRequest(method: request.method.rawValue, path: request.uri.path, headers: headers))
        var fields = HTTPFields()
        for (n, v) in answer.headers { if let name = HTTPField.Name(n) { fields.append(HTTPField(name: name, value: v)) } }
        let status = HTTPResponse.Status(code: answer.status)
        if let chunks = answer.chunks {
            let fail = answer.failAfterChunks
            return Response(status: status, headers: fields, body: ResponseBody { writer in
                for c in chunks { try await writer.write(ByteBuffer(bytes: c)) }
                if fail { throw DroppedConnection() }
                try await writer.finish(nil)
            })
        }
        return Response(status: status, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(bytes: answer.body)))
    }
    let (ports, continuation) = AsyncStream<Int>.makeStream()
    var logger = Logger(label: "local-http-server")
    logger.logLevel = .critical
    let app = Application(
        responder: responder,
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
        guard let port = await iterator.next() else { throw DroppedConnection() }
        do {
            let result = try await body("http://127.0.0.1:\(port)")
            group.cancelAll()
            return result
        } catch {
            group.cancelAll()
            throw error
        }
    }
}

/// One HTTP client for the duration of `body`, always shut down.
@discardableResult
func withTestHTTPClient<T: Sendable>(_ body: (HTTPClient) async throws -> T) async throws -> T {
    let client = HTTPClient(eventLoopGroupProvider: .singleton)
    do {
        let result = try await body(client)
        try await client.shutdown()
        return result
    } catch {
        try? await client.shutdown()
        throw error
    }
}
