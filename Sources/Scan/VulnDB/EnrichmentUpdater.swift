import Foundation

/// The feeds that rank findings beside the OSV advisories.
public enum EnrichmentSource: String, Sendable, Hashable, Codable, CaseIterable {
    case nvd
    case epss
    case kev
    case debianTracker = "debian-tracker"

    /// Where upstream publishes it. NVD's is the directory of its yearly and `modified`
    /// feeds; the others are files.
    public var defaultLocation: String {
        switch self {
        case .nvd: "https://nvd.nist.gov/feeds/json/cve/2.0"
        case .epss: "https://epss.empiricalsecurity.com/epss_scores-current.csv.gz"
        case .kev: "https://www.cisa.gov/sites/default/files/feeds/known_exploited_vulnerabilities.json"
        case .debianTracker: "https://security-tracker.debian.org/tracker/data/json"
        }
    }

    /// The upstream file name, looked for in a mirror directory (NVD's names carry the year).
    public var mirrorFileName: String? {
        switch self {
        case .nvd: nil
        case .epss: "epss_scores-current.csv.gz"
        case .kev: "known_exploited_vulnerabilities.json"
        case .debianTracker: "json"
        }
    }
}

/// What one enrichment source's update did.
public struct EnrichmentUpdateResult: Sendable, Hashable, Codable {
    public var source: String
    public var url: String
    public var outcome: VulnDBUpdateSummary.Outcome
    public var bytes: Int64 = 0
    /// Rows the source holds after the run.
    public var records = 0
    /// NVD: feed files imported (yearly feeds and `modified`).
    public var filesImported = 0
    public var message: String?
}

/// Updates the enrichment feeds with the OSV updater's download rules (conditional
/// requests, retries with backoff on 429/5xx, size cap, redirects checked by the outgoing
/// policy, streamed to a temporary file). Each source fails alone and keeps its previous
/// data; NVD's yearly feeds are fetched only when their `.meta` hash changed, and each feed
/// is checked against that hash before it replaces anything.
public struct EnrichmentUpdater: Sendable {
    let downloader: VulnDBUpdater
    public let locations: [EnrichmentSource: String]
    public let sources: [EnrichmentSource]
    /// The first and last NVD feed years (NVD's yearly feeds start in 2002).
    public let nvdYears: ClosedRange<Int>

    public init(
        downloader: VulnDBUpdater, locations: [EnrichmentSource: String] = [:], sources: [EnrichmentSource] = EnrichmentSource.allCases,
        nvdYears: ClosedRange<Int>? = nil
    ) {
        self.downloader = downloader
        self.locations = locations
        self.sources = sources
        self.nvdYears = nvdYears ?? 2002...Calendar(identifier: .gregorian).component(.year, from: Date())
    }

    var database: VulnerabilityDatabase { downloader.database }

    public func location(of source: EnrichmentSource) -> String { locations[source] ?? source.defaultLocation }

    public func update() async throws -> [EnrichmentUpdateResult] {
        var results: [EnrichmentUpdateResult] = []
        for source in sources {
            try Task.checkCancellation()
            switch source {
            case .nvd: results.append(try await updateNVD())
            default: results.append(try await updateFile(source))
            }
        }
        return results
    }

    // MARK: Locations

    enum Where {
        case http(String)
        case file(URL)
    }

    /// An http(s) URL, a `file://` URL or an absolute path; for a directory, `name` inside it.
    static func resolve(_ location: String, name: String?) throws -> Where {
        var path: String?
        if location.hasPrefix("/") {
            path = location
        } else if let c = URLComponents(string: location), let scheme = c.scheme?.lowercased() {
            switch scheme {
            case "http", "https":
                guard c.host?.isEmpty == false, c.user == nil, c.password == nil else { throw VulnDBUpdateError.invalidBaseURL(location) }
                var url = location
                if let name {
                    while url.hasSuffix("/") { url.removeLast() }
                    url += "/" + name
                }
                return .http(url)
            case "file":
                guard c.host == nil || c.host == "" || c.host == "localhost", !c.path.isEmpty else {
                    throw VulnDBUpdateError.invalidBaseURL(location)
                }
                path = c.path
            default:
                throw VulnDBUpdateError.invalidBaseURL(location)
            }
        }
        guard let path else { throw VulnDBUpdateError.invalidBaseURL(location) }
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue, let name {
            return .file(URL(fileURLWithPath: path).appendingPathComponent(name))
        }
        if let name, name.hasPrefix("nvdcve-") { return .file(URL(fileURLWithPath: path).appendingPathComponent(name)) }
        return .file(URL(fileURLWithPath: path))
    }

    /// Fetches `location` under the stored validators of `stateKey`.
    func fetch(_ location: Where, stateKey: String) async throws -> VulnDBUpdater.FetchResult {
        switch location {
        case .http(let url):
            let previous = try await database.read { try VulnerabilityDatabase.updateState($0, source: stateKey) }
            return try await downloader.download(url, previous: previous?.url == url ? previous : nil)
        case .file(let file):
            return try await VulnDBUpdater.offload { try VulnDBUpdater.mirrorArchive(file, limit: downloader.maxArchiveBytes) }
        }
    }

    static func describe(_ w: Where) -> String {
        switch w {
        case .http(let u): u
        case .file(let f): f.path
        }
    }

    // MARK: EPSS, KEV, Debian

    func updateFile(_ source: EnrichmentSource) async throws -> EnrichmentUpdateResult {
        let key = source.rawValue
        var result = EnrichmentUpdateResult(source: key, url: location(of: source), outcome: .failed)
        do {
            let place = try Self.resolve(location(of: source), name: source.mirrorFileName.flatMap { name in
                // A URL names the file itself; only a directory takes the upstream name.
                location(of: source).hasPrefix("http") ? nil : name
            })
            result.url = Self.describe(place)
            switch try await fetch(place, stateKey: key) {
            case .notFound:
                result.outcome = .skipped
                result.message = "nothing at \(result.url)"
            case .notModified:
                try await database.write { try VulnerabilityDatabase.markChecked($0, source: key) }
                result.outcome = .unchanged
            case .archive(let fetched):
                defer { if fetched.temporary { try? FileManager.default.removeItem(at: fetched.file) } }
                result.bytes = fetched.bytes
                let previous = try await database.read { try VulnerabilityDatabase.updateState($0, source: key) }
                if previous?.sha256 == fetched.sha256 {
                    try await database.write { try VulnerabilityDatabase.markChecked($0, source: key) }
                    result.outcome = .unchanged
                } else {
                    let db = database
                    let location = result.url
                    _ = try await VulnDBUpdater.offload { () throws -> EnrichmentImport in
                        switch source {
                        case .epss: try db.importEPSS(file: fetched.file, location: location)
                        case .kev: try db.importKEV(file: fetched.file, location: location)
                        default: try db.importDebianTracker(file: fetched.file, location: location)
                        }
                    }
                    let state = VulnerabilityDatabase.UpdateState(
                        url: result.url, etag: fetched.etag, lastModified: fetched.lastModified, sha256: fetched.sha256)
                    try await database.write { try VulnerabilityDatabase.saveUpdateState($0, source: key, state) }
                    result.outcome = .updated
                }
            }
        } catch {
            if Task.isCancelled { throw CancellationError() }
            result.outcome = .failed
            result.message = "\(key): \(error); previous data kept"
        }
        result.records = (try? await database.read { try VulnerabilityDatabase.sourceRecords($0, name: key) }) ?? 0
        return result
    }

    // MARK: NVD

    func updateNVD() async throws -> EnrichmentUpdateResult {
        let base = location(of: .nvd)
        var result = EnrichmentUpdateResult(source: "nvd", url: base, outcome: .unchanged)
        var failures: [String] = []
        var missing: [String] = []
        for name in nvdYears.map(String.init) + ["modified"] {
            try Task.checkCancellation()
            let key = "nvd:\(name)"
            do {
                let metaPlace = try Self.resolve(base, name: "nvdcve-2.0-\(name).meta")
                let feedPlace = try Self.resolve(base, name: "nvdcve-2.0-\(name).json.gz")
                guard case .archive(let metaFile) = try await fetch(metaPlace, stateKey: key + ":meta") else {
                    missing.append(name)
                    continue
                }
                defer { if metaFile.temporary { try? FileManager.default.removeItem(at: metaFile.file) } }
                let meta = try NVDFeed.Meta.parse(try String(contentsOf: metaFile.file, encoding: .utf8))
                let previous = try await database.read { try VulnerabilityDatabase.updateState($0, source: key) }
                if previous?.sha256 == meta.sha256 {
                    try await database.write { try VulnerabilityDatabase.markChecked($0, source: key) }
                    continue
                }
                guard case .archive(let feed) = try await fetch(feedPlace, stateKey: key) else {
                    throw NVDFeed.FeedError(description: "the .meta is there but not \(Self.describe(feedPlace))")
                }
                defer { if feed.temporary { try? FileManager.default.removeItem(at: feed.file) } }
                result.bytes += feed.bytes
                let db = database
                let location = Self.describe(feedPlace)
                _ = try await VulnDBUpdater.offload {
                    try db.importNVD(file: feed.file, expectedSHA256: meta.sha256, source: key, location: location)
                }
                let state = VulnerabilityDatabase.UpdateState(
                    url: Self.describe(feedPlace), etag: feed.etag, lastModified: feed.lastModified, sha256: meta.sha256)
                try await database.write { try VulnerabilityDatabase.saveUpdateState($0, source: key, state) }
                result.filesImported += 1
                result.outcome = .updated
            } catch {
                if Task.isCancelled { throw CancellationError() }
                failures.append("nvdcve-2.0-\(name): \(error)")
            }
        }
        if !failures.isEmpty {
            result.outcome = .failed
            result.message = failures.joined(separator: "; ") + "; previous data of those feeds kept"
        } else if result.filesImported == 0 && missing.count == nvdYears.count + 1 {
            result.outcome = .skipped
            result.message = "no NVD feed found at \(base)"
        }
        result.records = (try? await database.read { try VulnerabilityDatabase.sourceRecords($0, name: "nvd") }) ?? 0
        return result
    }
}
