public import Hummingbird
import Logging
import NIOCore

/// The per-request context: Hummingbird's core storage plus the caller's address.
public struct AppRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteIP: String?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteIP = source.channel.remoteAddress?.ipAddress
    }

    /// Bodies are read by handlers with their own 1 MiB cap; this bounds any other decode.
    public var maxUploadSize: Int { 1 << 20 }
}
