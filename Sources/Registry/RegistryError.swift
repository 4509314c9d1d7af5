/// Every failure the registry client reports. Descriptions are readable and never contain
/// credentials, tokens or Authorization headers.
public enum RegistryError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A reference, repository or tag that does not fit the distribution grammar.
    case invalidReference(String)
    /// A digest that is not `sha256:<64 hex>` / `sha512:<128 hex>`.
    case invalidDigest(String)
    /// The registry (or its token service) refused the credentials.
    case authFailed(String)
    /// The host could not be reached (DNS, connection refused, reset).
    case unreachable(String)
    /// The TLS handshake or certificate check failed.
    case tlsError(String)
    /// The server answered, but not like an OCI distribution registry.
    case notARegistry(String)
    /// The request or the whole operation ran past its deadline.
    case timeout(String)
    /// The repository, manifest, tag or blob does not exist (or is not visible to these credentials).
    case notFound(String)
    /// The registry kept answering 429 (or 503) past the retry budget.
    case rateLimited(String)
    /// Content whose bytes do not hash to the expected digest.
    case digestMismatch(expected: String, actual: String)
    /// A body shorter or longer than announced (Content-Length or descriptor size).
    case sizeMismatch(expected: Int64, actual: Int64)
    /// A manifest or JSON body over its size cap.
    case tooLarge(String)
    /// A manifest media type the client does not handle (schema 1, unknown types).
    case unsupportedMediaType(String)
    /// An index with no manifest for the wanted platform.
    case platformNotFound(String)
    /// Too many redirects, a redirect loop, or a redirect to a refused location.
    case badRedirect(String)
    /// A response that could not be understood (malformed JSON, missing fields).
    case invalidResponse(String)
    /// Configuration that cannot work (bad URL, realm over plain http on another host, bad key).
    case invalidConfiguration(String)
    /// Any other HTTP status, with the registry's error code when it sent one.
    case httpStatus(Int, String)
    /// The outgoing-request policy refused the address (see `OutgoingPolicy`); the message
    /// names no address.
    case targetNotAllowed(String)

    public var description: String {
        switch self {
        case let .invalidReference(m): "invalid reference: \(m)"
        case let .invalidDigest(m): "invalid digest: \(m)"
        case let .authFailed(m): "authentication failed: \(m)"
        case let .unreachable(m): "registry unreachable: \(m)"
        case let .tlsError(m): "TLS error: \(m)"
        case let .notARegistry(m): "not an OCI registry: \(m)"
        case let .timeout(m): "timed out: \(m)"
        case let .notFound(m): "not found: \(m)"
        case let .rateLimited(m): "rate limited: \(m)"
        case let .digestMismatch(e, a): "digest mismatch: expected \(e), got \(a)"
        case let .sizeMismatch(e, a): "size mismatch: expected \(e) bytes, got \(a)"
        case let .tooLarge(m): "response too large: \(m)"
        case let .unsupportedMediaType(m): "unsupported media type: \(m)"
        case let .platformNotFound(m): "no manifest for platform \(m)"
        case let .badRedirect(m): "bad redirect: \(m)"
        case let .invalidResponse(m): "invalid registry response: \(m)"
        case let .invalidConfiguration(m): "invalid configuration: \(m)"
        case let .httpStatus(s, m): "registry answered HTTP \(s)\(m.isEmpty ? "" : ": \(m)")"
        case let .targetNotAllowed(m): m
        }
    }
}
