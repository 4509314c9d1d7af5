public import AsyncHTTPClient
import Foundation
public import NIOCore

/// Bounded retry of 429/503 answers (and 502/504 to GET/HEAD): `Retry-After` when sent, else
/// jittered exponential backoff.
public struct RetryPolicy: Sendable, Hashable {
    /// Total attempts including the first (≥ 1).
    public var maxAttempts: Int
    /// First backoff delay; doubles per attempt, with full jitter.
    public var baseDelay: Duration
    /// Cap on one wait (also caps a large `Retry-After`).
    public var maxDelay: Duration
    /// Cap on the time spent waiting across all attempts of one request.
    public var maxTotalDelay: Duration

    /// Creates a policy.
    public init(maxAttempts: Int = 4, baseDelay: Duration = .milliseconds(500), maxDelay: Duration = .seconds(20), maxTotalDelay: Duration = .seconds(45)) {
        self.maxAttempts = max(1, maxAttempts)
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
        self.maxTotalDelay = maxTotalDelay
    }

    /// No retries.
    public static let none = RetryPolicy(maxAttempts: 1)
}

/// Endpoints of the providers' auth and listing services; tests point them at 127.0.0.1.
public struct ProviderEndpoints: Sendable, Hashable {
    /// Docker Hub API (repository listing, login), default `https://hub.docker.com`.
    public var dockerHubAPI: String
    /// AWS ECR API endpoint; nil means `https://api.ecr.<region>.amazonaws.com`.
    public var ecrAPI: String?
    /// Azure AD authority, default `https://login.microsoftonline.com`.
    public var azureAuthority: String
    /// Google OAuth token URL; nil means the key's `token_uri` (or Google's default).
    public var googleTokenURL: String?
    /// GitHub REST API (GHCR repository listing), default `https://api.github.com`.
    public var githubAPI: String

    /// The public endpoints.
    public init(
        dockerHubAPI: String = "https://hub.docker.com", ecrAPI: String? = nil, azureAuthority: String = "https://login.microsoftonline.com",
        googleTokenURL: String? = nil, githubAPI: String = "https://api.github.com"
    ) {
        self.githubAPI = githubAPI
        self.dockerHubAPI = dockerHubAPI
        self.ecrAPI = ecrAPI
        self.azureAuthority = azureAuthority
        self.googleTokenURL = googleTokenURL
    }
}

extension RegistryClient {
    /// What a client talks to and how.
    public struct Configuration: Sendable {
        /// Registry base URL, e.g. `https://ghcr.io` or `http://127.0.0.1:5000`.
        public var url: String
        /// The provider, which selects auth and listing behaviour.
        public var provider: RegistryProvider
        /// Allows `http://` URLs. (TLS verification is the `HTTPClient`'s; see `httpClientConfiguration`.)
        public var insecure: Bool
        /// Credentials; nil for anonymous access.
        public var credentials: RegistryCredentials?
        /// Retry of 429/5xx.
        public var retry: RetryPolicy
        /// Deadline of one non-streaming request (manifests, lists, tokens).
        public var requestTimeout: Duration
        /// Deadline of one blob download, body included.
        public var blobTimeout: Duration
        /// Redirects followed per request.
        public var maxRedirects: Int
        /// Pages fetched per listing before giving up.
        public var maxPages: Int
        /// Page size asked for (`n`) when listing.
        public var pageSize: Int
        /// Namespaces to list where the provider lists per namespace (Docker Hub, GHCR
        /// organizations or users, Quay); nil lists the credentials' own.
        public var dockerHubNamespaces: [String]?
        /// Provider auth/listing endpoints.
        public var endpoints: ProviderEndpoints

        /// A configuration with defaults for everything but the URL.
        public init(
            url: String,
            provider: RegistryProvider = .dockerRegistry,
            credentials: RegistryCredentials? = nil,
            insecure: Bool = false,
            retry: RetryPolicy = RetryPolicy(),
            requestTimeout: Duration = .seconds(30),
            blobTimeout: Duration = .seconds(3600),
            maxRedirects: Int = 5,
            maxPages: Int = 1000,
            pageSize: Int = 100,
            dockerHubNamespaces: [String]? = nil,
            endpoints: ProviderEndpoints = ProviderEndpoints()
        ) {
            self.url = url
            self.provider = provider
            self.credentials = credentials
            self.insecure = insecure
            self.retry = retry
            self.requestTimeout = requestTimeout
            self.blobTimeout = blobTimeout
            self.maxRedirects = maxRedirects
            self.maxPages = maxPages
            self.pageSize = pageSize
            self.dockerHubNamespaces = dockerHubNamespaces
            self.endpoints = endpoints
        }
    }

    /// The `HTTPClient` configuration this client expects: automatic redirects off (it follows
    /// them itself so `Authorization` never reaches another origin), connect/read timeouts.
    public static func httpClientConfiguration(connectTimeout: TimeAmount = .seconds(10), readTimeout: TimeAmount = .seconds(60)) -> HTTPClient.Configuration {
        var config = HTTPClient.Configuration()
        config.redirectConfiguration = .disallow
        config.timeout = .init(connect: connectTimeout, read: readTimeout)
        config.decompression = .disabled
        return config
    }
}

/// A base URL split into the parts the client compares (origins) and builds on.
struct BaseURL: Sendable, Hashable {
    let scheme: String
    let host: String
    let port: Int?
    let path: String

    init(_ string: String, insecure: Bool) throws(RegistryError) {
        guard let c = URLComponents(string: string), let scheme = c.scheme?.lowercased(), let host = c.host, !host.isEmpty else {
            throw .invalidConfiguration("registry URL must be an absolute http(s) URL with a host")
        }
        guard scheme == "https" || scheme == "http" else { throw .invalidConfiguration("registry URL scheme must be http or https") }
        guard c.user == nil, c.password == nil else { throw .invalidConfiguration("registry URL must not contain credentials") }
        if scheme == "http", !insecure { throw .invalidConfiguration("http:// registry URLs need insecure: true") }
        self.scheme = scheme
        self.host = host.lowercased()
        self.port = c.port
        var path = c.path
        while path.hasSuffix("/") { path.removeLast() }
        self.path = path
    }

    var origin: String { "\(scheme)://\(hostPort)" }
    var hostPort: String {
        let h = host.contains(":") ? "[\(host)]" : host
        return port.map { "\(h):\($0)" } ?? h
    }
    var root: String { origin + path }
}

/// Origin (scheme, host, port) of an absolute URL string, for same-origin checks.
struct Origin: Hashable {
    let scheme: String
    let host: String
    let port: Int

    init?(_ url: String) {
        guard let c = URLComponents(string: url), let scheme = c.scheme?.lowercased(), let host = c.host?.lowercased(), !host.isEmpty else { return nil }
        guard scheme == "http" || scheme == "https" else { return nil }
        self.scheme = scheme
        self.host = host
        self.port = c.port ?? (scheme == "https" ? 443 : 80)
    }

    var isLoopback: Bool { host == "127.0.0.1" || host == "localhost" || host == "::1" || host == "[::1]" }
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
func percentEncode(_ s: String) -> String {
    var out = ""
    for b in s.utf8 {
        switch b {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
            out.unicodeScalars.append(Unicode.Scalar(b))
        default:
            out += String(format: "%%%02X", b)
        }
    }
    return out
}

/// `a=1&b=2` from pairs, values percent-encoded.
func formEncode(_ pairs: [(String, String)]) -> String {
    pairs.map { "\(percentEncode($0.0))=\(percentEncode($0.1))" }.joined(separator: "&")
}
