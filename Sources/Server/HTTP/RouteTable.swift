import Cron
import GRDB
import HTTPTypes
import Hummingbird
import Synchronization
import Logging
import Store

/// Records every route as it is added to the router, so the OpenAPI test can check
/// that each one is documented and 405 can be told apart from 404.
public final class RouteIndex: Sendable {
    public struct Entry: Sendable, Hashable {
        public var method: String
        public var path: String
    }

    private let entries = Mutex<[Entry]>([])

    public var all: [Entry] { entries.withLock { $0 } }

    func append(_ e: Entry) { entries.withLock { $0.append(e) } }

    /// Methods registered for a concrete path (template segments match anything).
    func methods(matching path: String) -> [String] {
        let segs = path.split(separator: "/", omittingEmptySubsequences: true)
        return all.filter { e in
            let t = e.path.split(separator: "/", omittingEmptySubsequences: true)
            guard t.count == segs.count else { return false }
            return zip(t, segs).allSatisfy { $0.hasPrefix("{") || $0 == $1 }
        }.map(\.method)
    }
}

struct RouteTable {
    let router: Router<AppRequestContext>
    let index: RouteIndex

    typealias Handler = @Sendable (Request, AppRequestContext) async throws -> Response

    func add(_ method: HTTPRequest.Method, _ path: String, _ handler: @escaping Handler) {
        index.append(RouteIndex.Entry(method: method.rawValue, path: path))
        router.on(RouterPath(stringLiteral: path), method: method, use: handler)
    }

    func get(_ p: String, _ h: @escaping Handler) { add(.get, p, h) }
    func post(_ p: String, _ h: @escaping Handler) { add(.post, p, h) }
    func put(_ p: String, _ h: @escaping Handler) { add(.put, p, h) }
    func delete(_ p: String, _ h: @escaping Handler) { add(.delete, p, h) }
}

/// Turns every failure into the API's JSON error envelope: unknown routes 404, known
/// paths with another method 405, Hummingbird's own errors mapped to our codes, and
/// anything unexpected a 500 with no internals in the message.
struct ErrorMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let routes: RouteIndex
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        do {
            return try await next(request, context)
        } catch let e as APIError {
            return try e.response(from: request, context: context)
        } catch let e as HTTPError {
            return try map(e.status, request, context).response(from: request, context: context)
        } catch let e as any HTTPResponseError {
            return try map(e.status, request, context).response(from: request, context: context)
        } catch let e as DatabaseError where StorageFault(e) != nil {
            // The disk, not the request: say what happened instead of a bare 500.
            let fault = StorageFault(e)!
            logger.error("storage fault", metadata: ["path": "\(request.uri.path)", "sqlite": "\(e.extendedResultCode.rawValue)"])
            return try fault.apiError.response(from: request, context: context)
        } catch let e as SQLDatabaseError {
            if case .unavailable(let why) = e {
                // PostgreSQL is down or unreachable: the node recovers when it is back.
                logger.error("database unavailable", metadata: ["path": "\(request.uri.path)", "error": "\(why)"])
                var unavailable = APIError(
                    .serviceUnavailable, code: "DATABASE_UNAVAILABLE",
                    message: "The database cannot be reached. Retry shortly.")
                unavailable.headers[.retryAfter] = "5"
                return try unavailable.response(from: request, context: context)
            }
            if case .statement(let state, _) = e, state == "22021" || state == "22P05" {
                // PostgreSQL's text holds no NUL character (SQLite's does): the input's fault.
                return try APIError.badRequest("Text may not contain a NUL character (U+0000).").response(from: request, context: context)
            }
            logger.error("database error", metadata: ["path": "\(request.uri.path)", "error": "\(e)"])
            return try APIError.internalError.response(from: request, context: context)
        } catch {
            logger.error("unhandled error", metadata: ["path": "\(request.uri.path)", "error": "\(type(of: error))"])
            return try APIError.internalError.response(from: request, context: context)
        }
    }

    func map(_ status: HTTPResponse.Status, _ request: Request, _ context: Context) -> APIError {
        switch status {
        case .notFound:
            let methods = routes.methods(matching: request.uri.path)
            if !methods.isEmpty {
                var e = APIError.methodNotAllowed
                e.headers[.allow] = Array(Set(methods)).sorted().joined(separator: ", ")
                return e
            }
            return APIError(.notFound, code: "NOT_FOUND", message: "No route for \(request.method.rawValue) \(request.uri.path).")
        case .contentTooLarge: return .payloadTooLarge
        case .badRequest: return .badRequest("The request could not be parsed.")
        case .unauthorized: return .unauthorized
        case .forbidden: return .forbidden
        case .methodNotAllowed: return .methodNotAllowed
        case .unsupportedMediaType: return .badRequest("Unsupported content type.")
        default:
            if status.code >= 500 { return .internalError }
            return APIError(status, code: "BAD_REQUEST", message: status.reasonPhrase)
        }
    }
}
