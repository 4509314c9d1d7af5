import HTTPTypes
import Hummingbird

/// Headers every response gets: `X-Content-Type-Options: nosniff`; `Cache-Control: no-store`
/// unless the handler chose a policy (the console's assets are cacheable, nothing else is:
/// API answers carry keys, findings and tokens); under TLS `Strict-Transport-Security`.
/// Outermost, so error answers get them too.
struct ResponseHeadersMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let tls: Bool

    static let hsts = "max-age=31536000"

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        var response = try await next(request, context)
        if response.headers[.xContentTypeOptions] == nil { response.headers[.xContentTypeOptions] = "nosniff" }
        if request.uri.path.hasPrefix("/api/") {
            response.headers[.cacheControl] = "no-store"
        } else if response.headers[.cacheControl] == nil {
            response.headers[.cacheControl] = "no-store"
        }
        if tls { response.headers[.strictTransportSecurity] = Self.hsts }
        return response
    }
}

/// Deletes `initial-admin-key` after the first request that created something (a user, a key)
/// and left the organization set up; a no-op once the file is gone.
struct InitialKeyFileMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let services: AppServices
    let file: InitialKeyFile

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        let response = try await next(request, context)
        if response.status == .created { file.retireIfSetUp(services.db, logger: services.logger) }
        return response
    }
}
