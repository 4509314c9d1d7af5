import HTTPTypes
import Hummingbird
import Store

/// What every request gets around its handler, in one middleware (each middleware is one more
/// async frame on every request, `/healthz` included):
/// - the client address: the peer, or behind a `--trusted-proxy` the client it forwarded for
///   (resolved once: the console's in-process API calls keep it);
/// - response headers: `X-Content-Type-Options: nosniff`; `Cache-Control: no-store` unless the
///   handler chose a policy (the console's assets are cacheable, nothing else is: API answers
///   carry keys, findings and tokens); under TLS `Strict-Transport-Security`. Outermost, so
///   error answers get them too;
/// - after a request that created something (201) and left the organization set up (a user, a
///   key), `initial-admin-key` is deleted; a no-op once the file is gone.
struct RequestEnvelopeMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let tls: Bool
    let trusted: [IPNetwork]
    let services: AppServices
    let initialKeyFile: InitialKeyFile?

    static let hsts = "max-age=31536000"
    static let forwardedFor = HTTPField.Name("X-Forwarded-For")!

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        var context = context
        if !context.clientAddressResolved {
            if !trusted.isEmpty {
                context.remoteIP = ClientAddress.resolve(
                    peer: context.peerIP, forwardedFor: request.headers[values: Self.forwardedFor], trusted: trusted)
            }
            context.clientAddressResolved = true
        }
        var response = try await next(request, context)
        if response.status == .created, let initialKeyFile { await initialKeyFile.retireIfSetUp(services.db, logger: services.logger) }
        if response.headers[.xContentTypeOptions] == nil { response.headers[.xContentTypeOptions] = "nosniff" }
        if request.uri.path.hasPrefix("/api/") || response.headers[.cacheControl] == nil {
            response.headers[.cacheControl] = "no-store"
        }
        if tls { response.headers[.strictTransportSecurity] = Self.hsts }
        return response
    }
}
