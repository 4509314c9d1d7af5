public import AsyncHTTPClient
import Crypto
public import Foundation
public import NIOCore
import NIOHTTP1
public import Registry

/// What one `VulnDBUpdater.update` run did, per ecosystem.
public struct VulnDBUpdateSummary: Sendable, Hashable, Codable {
    public enum Outcome: String, Sendable, Hashable, Codable {
        /// A new archive was downloaded and imported.
        case updated
        /// Upstream answered 304, or sent the archive imported last time.
        case unchanged
        /// Upstream has no archive for the ecosystem (404/410); nothing changed.
        case skipped
        /// Download or import failed; the ecosystem's previous data is untouched.
        case failed
    }

    public struct EcosystemResult: Sendable, Hashable, Codable {
        /// The OSV ecosystem name, e.g. `Debian`, `Rocky Linux`.
        public var ecosystem: String
        /// The database source name, `osv:<ecosystem>`.
        public var source: String
        /// Where the archive was fetched from.
        public var url: String
        public var outcome: Outcome
        /// Archive bytes downloaded (0 when unchanged by 304, skipped, or failed early).
        public var bytes: Int64
        /// Advisories the source holds after the run.
        public var records: Int
        /// The import, when an archive was imported.
        public var imported: ImportSummary?
        /// Why it was skipped or failed.
        public var message: String?
    }

    public var ecosystems: [EcosystemResult]
    public var startedAt: Date
    public var finishedAt: Date

    public var failed: [EcosystemResult] { ecosystems.filter { $0.outcome == .failed } }
    /// True when no ecosystem failed (skipped ones do not count as failures).
    public var succeeded: Bool { failed.isEmpty }
}

/// Why an archive could not be fetched.
public enum VulnDBUpdateError: Error, Sendable, Hashable, CustomStringConvertible {
    case invalidBaseURL(String)
    case httpStatus(Int, url: String)
    case tooLarge(limit: Int64, url: String)
    case truncated(received: Int64, expected: Int64, url: String)
    case transport(String, url: String)
    /// An ecosystem name that is not one of `VulnDBUpdater.defaultEcosystems`.
    case unknownEcosystem(String)

    public var description: String {
        switch self {
        case .unknownEcosystem(let e):
            "unknown ecosystem '\(e)': use one of \(VulnDBUpdater.defaultEcosystems.joined(separator: ", "))"
        case .invalidBaseURL(let u):
            "invalid vulnerability database URL '\(u)': use an http(s) URL, a file:// URL or an absolute directory path"
        case .httpStatus(let s, let u): "\(u) answered HTTP \(s)"
        case .tooLarge(let limit, let u): "\(u) is larger than the \(limit)-byte limit"
        case .truncated(let r, let e, let u): "download of \(u) was cut short: \(r) of \(e) bytes"
        case .transport(let m, let u): "download of \(u) failed: \(m)"
        }
    }
}

/// Downloads OSV ecosystem exports (`<base>/<Ecosystem>/all.zip`, the layout of the public
/// OSV bucket) and imports each as a full snapshot of the source `osv:<Ecosystem>`.
///
/// Each archive is streamed to a temporary file next to the database (never held in
/// memory) under a size cap. Requests are conditional on the ETag / Last-Modified stored
/// from the previous run; a 304, or an archive whose SHA-256 matches the last import, is
/// "unchanged" and nothing is imported. 429 and 5xx answers and connection failures are
/// retried with backoff. A 404 skips the ecosystem. Any other failure fails that ecosystem
/// only, leaving its previous data as it was; the others still update.
///
/// The base may also be a `file://` URL or an absolute directory path laid out the same way,
/// for mirrors on air-gapped hosts.
public struct VulnDBUpdater: Sendable {
    public static let defaultBaseURL = "https://osv-vulnerabilities.storage.googleapis.com"

    /// The OSV ecosystems the matcher queries for what the detectors find: distributions
    /// (dpkg, apk, rpm) and language packages (PyPI, npm, Go, Maven, RubyGems, crates.io).
    public static let defaultEcosystems = [
        "AlmaLinux", "Alpine", "Azure Linux", "CBL-Mariner", "Chainguard", "Debian", "Rocky Linux", "Ubuntu", "Wolfi",
        "openSUSE", "Go", "Maven", "PyPI", "RubyGems", "crates.io", "npm",
    ]

    public let database: VulnerabilityDatabase
    public let baseURL: String
    public let ecosystems: [String]
    public let httpClient: OutgoingHTTPClient
    public let maxArchiveBytes: Int64
    public let retry: RetryPolicy
    /// Deadline for one archive download.
    public let requestTimeout: TimeAmount

    /// An updater on a caller's `HTTPClient` (tests, embedders): every request and redirect
    /// is checked against the feed policy with private targets allowed (metadata addresses
    /// refused), but connects by name; see `OutgoingHTTPClient.init(unmanaged:)`.
    public init(
        database: VulnerabilityDatabase, baseURL: String = Self.defaultBaseURL, ecosystems: [String]? = nil,
        httpClient: HTTPClient, maxArchiveBytes: Int64 = 2 << 30, retry: RetryPolicy = RetryPolicy(),
        requestTimeout: TimeAmount = .minutes(30)
    ) {
        self.init(
            database: database, baseURL: baseURL, ecosystems: ecosystems,
            http: OutgoingHTTPClient(unmanaged: httpClient, policy: OutgoingPolicy(allowPrivateTargets: true), purpose: .feed),
            maxArchiveBytes: maxArchiveBytes, retry: retry, requestTimeout: requestTimeout)
    }

    /// An updater on an `OutgoingHTTPClient` (its policy decides which feed URLs are reached).
    public init(
        database: VulnerabilityDatabase, baseURL: String = Self.defaultBaseURL, ecosystems: [String]? = nil,
        http: OutgoingHTTPClient, maxArchiveBytes: Int64 = 2 << 30, retry: RetryPolicy = RetryPolicy(),
        requestTimeout: TimeAmount = .minutes(30)
    ) {
        self.database = database
        var base = baseURL.trimmingCharacters(in: .whitespaces)
        while base.count > 1 && base.hasSuffix("/") { base.removeLast() }
        self.baseURL = base
        var seen = Set<String>()
        self.ecosystems = (ecosystems ?? Self.defaultEcosystems).filter { !$0.isEmpty && seen.insert($0).inserted }
        self.httpClient = http
        self.maxArchiveBytes = maxArchiveBytes
        self.retry = retry
        self.requestTimeout = requestTimeout
    }

    /// Redirects followed per download (mirrors move things), each hop checked by the policy.
    public static let maxRedirects = 5

    /// The client configuration the updater expects: redirects not followed by the client
    /// (the updater follows up to `maxRedirects` itself, checking each hop), bodies left as
    /// sent, connect and idle-read timeouts.
    public static func httpClientConfiguration() -> HTTPClient.Configuration {
        var config = HTTPClient.Configuration()
        config.redirectConfiguration = .disallow
        config.timeout = .init(connect: .seconds(15), read: .seconds(120))
        config.decompression = .disabled
        return config
    }

    /// The documented ecosystem names (`defaultEcosystems`): the only ones an update accepts,
    /// so a name can never become a path outside a mirror or a URL elsewhere.
    public static let knownEcosystems = Set(defaultEcosystems)

    /// The first name in `ecosystems` that is not a documented ecosystem, with its index.
    public static func firstUnknownEcosystem(_ ecosystems: [String]) -> (index: Int, name: String)? {
        ecosystems.enumerated().first { !knownEcosystems.contains($0.element) }.map { ($0.offset, $0.element) }
    }

    /// Runs `update` with an HTTP client of its own, shut down on every path (for one-shot
    /// callers such as `harborguard db update`). `policy` decides which feed addresses are
    /// reached (the server passes its own; the CLI, run by the operator, allows private ones).
    public static func update(
        database: VulnerabilityDatabase, baseURL: String = Self.defaultBaseURL, ecosystems: [String]? = nil,
        maxArchiveBytes: Int64 = 2 << 30, policy: OutgoingPolicy = OutgoingPolicy(allowPrivateTargets: true),
        progress: (@Sendable (_ done: Int, _ total: Int, _ ecosystem: String) -> Void)? = nil
    ) async throws -> VulnDBUpdateSummary {
        let client = OutgoingHTTPClient(configuration: httpClientConfiguration(), policy: policy, purpose: .feed)
        do {
            let updater = VulnDBUpdater(
                database: database, baseURL: baseURL, ecosystems: ecosystems, http: client, maxArchiveBytes: maxArchiveBytes)
            let summary = try await updater.update(progress: progress)
            try await client.shutdown()
            return summary
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    /// The database source an ecosystem's archive is imported as.
    public static func source(for ecosystem: String) -> String { "osv:\(ecosystem)" }

    /// Where the base points: a server, or a local mirror directory.
    enum Base {
        case http(String)
        case directory(URL)
    }

    func parsedBase() throws(VulnDBUpdateError) -> Base {
        if baseURL.hasPrefix("/") { return .directory(URL(fileURLWithPath: baseURL, isDirectory: true)) }
        guard let c = URLComponents(string: baseURL), let scheme = c.scheme?.lowercased() else {
            throw .invalidBaseURL(baseURL)
        }
        switch scheme {
        case "http", "https":
            guard let host = c.host, !host.isEmpty, c.user == nil, c.password == nil, c.query == nil, c.fragment == nil else {
                throw .invalidBaseURL(baseURL)
            }
            return .http(baseURL)
        case "file":
            guard c.host == nil || c.host == "" || c.host == "localhost", !c.path.isEmpty else { throw .invalidBaseURL(baseURL) }
            return .directory(URL(fileURLWithPath: c.path, isDirectory: true))
        default:
            throw .invalidBaseURL(baseURL)
        }
    }

    /// `<base>/<Ecosystem>/all.zip`, the ecosystem percent-encoded as one path segment.
    public func archiveURL(for ecosystem: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        let segment = ecosystem.addingPercentEncoding(withAllowedCharacters: allowed) ?? ecosystem
        return "\(baseURL)/\(segment)/all.zip"
    }

    /// Updates every configured ecosystem in turn. `progress` is called after each one with
    /// the number finished, the total, and the ecosystem just finished. Throws only for an
    /// unusable base URL or cancellation; per-ecosystem failures are in the summary.
    public func update(
        progress: (@Sendable (_ done: Int, _ total: Int, _ ecosystem: String) -> Void)? = nil
    ) async throws -> VulnDBUpdateSummary {
        if let bad = Self.firstUnknownEcosystem(ecosystems) { throw VulnDBUpdateError.unknownEcosystem(bad.name) }
        let base = try parsedBase()
        let started = Date()
        var results: [VulnDBUpdateSummary.EcosystemResult] = []
        for (i, ecosystem) in ecosystems.enumerated() {
            try Task.checkCancellation()
            results.append(try await update(ecosystem, base: base))
            progress?(i + 1, ecosystems.count, ecosystem)
        }
        return VulnDBUpdateSummary(ecosystems: results, startedAt: started, finishedAt: Date())
    }

    /// A fetched archive, ready to import.
    struct Fetched {
        var file: URL
        var temporary: Bool
        var bytes: Int64
        var sha256: String
        var etag: String?
        var lastModified: String?
    }

    enum FetchResult {
        case notFound
        case notModified
        case archive(Fetched)
    }

    private func update(_ ecosystem: String, base: Base) async throws -> VulnDBUpdateSummary.EcosystemResult {
        let source = Self.source(for: ecosystem)
        let location: String
        switch base {
        case .http: location = archiveURL(for: ecosystem)
        case .directory(let dir): location = Self.mirrorFile(dir, ecosystem).path
        }
        var result = VulnDBUpdateSummary.EcosystemResult(
            ecosystem: ecosystem, source: source, url: location, outcome: .failed, bytes: 0, records: 0)
        do {
            // Validators from another location say nothing about this one.
            let stored = try database.updateState(source: source)
            let previous = stored?.url == location ? stored : nil
            let fetched: FetchResult
            switch base {
            case .http: fetched = try await download(location, previous: previous)
            case .directory(let dir): fetched = try await Self.offload { [maxArchiveBytes] in
                try Self.mirrorArchive(Self.mirrorFile(dir, ecosystem), limit: maxArchiveBytes)
            }
            }
            switch fetched {
            case .notFound:
                result.outcome = .skipped
                result.message = "no archive at \(location)"
            case .notModified:
                try database.markChecked(source: source)
                result.outcome = .unchanged
            case .archive(let archive):
                defer { if archive.temporary { try? FileManager.default.removeItem(at: archive.file) } }
                result.bytes = archive.bytes
                let state = VulnerabilityDatabase.UpdateState(
                    url: location, etag: archive.etag, lastModified: archive.lastModified, sha256: archive.sha256)
                if let previous, previous.sha256 == archive.sha256 {
                    result.outcome = .unchanged
                } else {
                    let database = database
                    do {
                        result.imported = try await Self.offload {
                            try database.importSnapshot(zip: archive.file, source: source, location: location)
                        }
                    } catch {
                        throw ArchiveUnusable(underlying: error)
                    }
                    result.outcome = .updated
                }
                try database.saveUpdateState(source: source, state)
            }
            result.records = try database.snapshotRecordCount(source: source)
        } catch {
            if Task.isCancelled { throw CancellationError() }
            result.outcome = .failed
            if let e = error as? ArchiveUnusable {
                result.message = "archive from \(location) is unusable, previous \(source) data kept: \(e.underlying)"
            } else {
                result.message = "\(error)"
            }
            result.records = (try? database.snapshotRecordCount(source: source)) ?? 0
        }
        return result
    }

    struct ArchiveUnusable: Error {
        let underlying: any Error
    }

    // MARK: HTTP

    /// One attempt's outcome that may be retried.
    private struct LocalWriteFailure: Error {
        var underlying: any Error
    }

    private struct Retryable: Error {
        var error: VulnDBUpdateError
        var retryAfter: Duration?
    }

    func download(_ url: String, previous: VulnerabilityDatabase.UpdateState?) async throws -> FetchResult {
        var attempt = 0
        var waited: Duration = .zero
        while true {
            attempt += 1
            do {
                return try await downloadOnce(url, previous: previous)
            } catch let r as Retryable {
                var delay = Self.backoff(attempt: attempt, policy: retry)
                if let after = r.retryAfter { delay = min(max(delay, after), retry.maxDelay) }
                guard attempt < retry.maxAttempts, waited + delay <= retry.maxTotalDelay else { throw r.error }
                waited += delay
                try await Task.sleep(for: delay)
            }
        }
    }

    /// Exponential backoff with full jitter, capped by the policy.
    static func backoff(attempt: Int, policy: RetryPolicy) -> Duration {
        let exponent = min(attempt - 1, 20)
        let cap = min(policy.baseDelay * (1 << exponent), policy.maxDelay)
        let ms = max(1, Int(cap.components.seconds * 1000 + cap.components.attoseconds / 1_000_000_000_000_000))
        return .milliseconds(Int.random(in: (ms / 2)...ms))
    }

    private func downloadOnce(_ url: String, previous: VulnerabilityDatabase.UpdateState?) async throws -> FetchResult {
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "User-Agent", value: "harborguard")
        if let etag = previous?.etag { request.headers.add(name: "If-None-Match", value: etag) }
        if let lastModified = previous?.lastModified { request.headers.add(name: "If-Modified-Since", value: lastModified) }
        let response: HTTPClientResponse
        do {
            response = try await httpClient.execute(request, deadline: .now() + requestTimeout, followRedirects: Self.maxRedirects)
        } catch let e as TargetNotAllowed {
            throw VulnDBUpdateError.transport(e.description, url: url)
        } catch let e as OutgoingRedirectRefused {
            throw VulnDBUpdateError.transport(e.description, url: url)
        } catch {
            if Task.isCancelled { throw CancellationError() }
            throw Retryable(error: .transport("\(error)", url: url))
        }
        let status = Int(response.status.code)
        switch status {
        case 200:
            break
        case 304:
            _ = try? await response.body.collect(upTo: 64 * 1024)
            return .notModified
        case 404, 410:
            _ = try? await response.body.collect(upTo: 64 * 1024)
            return .notFound
        case 429, 500...599:
            _ = try? await response.body.collect(upTo: 64 * 1024)
            let after = response.headers.first(name: "Retry-After").flatMap { Int($0.trimmingCharacters(in: .whitespaces)) }
            throw Retryable(error: .httpStatus(status, url: url), retryAfter: after.map { .seconds(max(0, $0)) })
        default:
            _ = try? await response.body.collect(upTo: 64 * 1024)
            throw VulnDBUpdateError.httpStatus(status, url: url)
        }
        let expected = response.headers.first(name: "Content-Length").flatMap { Int64($0) }
        if let expected, expected > maxArchiveBytes { throw VulnDBUpdateError.tooLarge(limit: maxArchiveBytes, url: url) }
        // Content-Length counts encoded bytes; compare only when the body is sent as is.
        let identity = (response.headers.first(name: "Content-Encoding") ?? "identity").lowercased() == "identity"

        let dir = database.directory ?? FileManager.default.temporaryDirectory
        let file = dir.appendingPathComponent(".osv-download-\(UUID().uuidString).zip")
        guard FileManager.default.createFile(atPath: file.path, contents: nil, attributes: [.posixPermissions: 0o600]) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: file.path])
        }
        var keep = false
        defer { if !keep { try? FileManager.default.removeItem(at: file) } }
        let handle = try FileHandle(forWritingTo: file)
        defer { try? handle.close() }
        var hasher = SHA256()
        var received: Int64 = 0
        do {
            for try await buffer in response.body {
                received += Int64(buffer.readableBytes)
                if received > maxArchiveBytes { throw VulnDBUpdateError.tooLarge(limit: maxArchiveBytes, url: url) }
                do {
                    try buffer.withUnsafeReadableBytes { bytes in
                        hasher.update(bufferPointer: bytes)
                        try handle.write(contentsOf: bytes)
                    }
                } catch {
                    throw LocalWriteFailure(underlying: error)
                }
            }
        } catch let e as VulnDBUpdateError {
            throw e
        } catch let e as LocalWriteFailure {
            // A full disk is not the server's fault: no retry.
            throw e.underlying
        } catch {
            if Task.isCancelled { throw CancellationError() }
            throw Retryable(error: .transport("connection failed after \(received) bytes: \(error)", url: url))
        }
        if identity, let expected, received != expected {
            throw Retryable(error: .truncated(received: received, expected: expected, url: url))
        }
        try handle.synchronize()
        keep = true
        return .archive(
            Fetched(
                file: file, temporary: true, bytes: received, sha256: Self.hex(hasher.finalize()),
                etag: response.headers.first(name: "ETag"), lastModified: response.headers.first(name: "Last-Modified")))
    }
}
