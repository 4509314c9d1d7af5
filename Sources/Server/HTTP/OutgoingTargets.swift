public import Registry
import Store

extension AppServices {
    /// The outgoing-request policy of this server (`serve --allow-private-targets`).
    public var outgoingPolicy: OutgoingPolicy { OutgoingPolicy(allowPrivateTargets: config.allowPrivateTargets) }

    /// Refuses (422 TARGET_NOT_ALLOWED) a URL whose host is, or resolves to, an address the
    /// policy refuses for `purpose`. A name that does not resolve now is accepted: every
    /// request checks again before it connects.
    func checkOutgoingTarget(_ url: String, for purpose: OutgoingPolicy.Purpose) async throws {
        if case .refused(let e) = await outgoingPolicy.precheck(url: url, for: purpose) {
            throw APIError.targetNotAllowed(e.description)
        }
    }
}
