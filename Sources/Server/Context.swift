public import Hummingbird
import Logging
import NIOCore
import Store

/// The per-request context: Hummingbird's core storage plus the caller's address.
public struct AppRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The client's address: the connection's peer, or behind a `--trusted-proxy` the client
    /// it forwarded for (set by `RequestEnvelopeMiddleware`). Rate limits and the audit log use it.
    public internal(set) var remoteIP: String?
    /// The connection's peer address, whatever the headers say.
    public let peerIP: String?
    /// Set once `remoteIP` has been resolved, so the console's in-process API calls keep it.
    var clientAddressResolved = false

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        peerIP = source.channel.remoteAddress?.ipAddress
        remoteIP = peerIP
    }

    /// Bodies are read by handlers with their own 1 MiB cap; this bounds any other decode.
    public var maxUploadSize: Int { 1 << 20 }
}
