import Foundation
public import Registry

/// The sources `db update` and the `vulndb_update` job refresh: the OSV archives and the
/// four enrichment feeds, by the names the CLI (`--source`) and the API (`sources`) take.
public struct VulnDBSourceSelection: Sendable, Hashable {
    public var osv: Bool
    /// In the order of `EnrichmentSource.allCases`.
    public var enrichment: [EnrichmentSource]

    public init(osv: Bool, enrichment: [EnrichmentSource]) {
        self.osv = osv
        self.enrichment = EnrichmentSource.allCases.filter(enrichment.contains)
    }

    /// Every source.
    public static let all = VulnDBSourceSelection(osv: true, enrichment: EnrichmentSource.allCases)

    /// The names accepted, in documentation order.
    public static let names = ["osv"] + EnrichmentSource.allCases.map(\.rawValue)

    public struct UnknownSource: Error, CustomStringConvertible, Equatable {
        public var name: String
        public var description: String { "unknown source '\(name)': use one of \(VulnDBSourceSelection.names.joined(separator: ", "))" }
    }

    /// The selection named by `words` (each may be a comma list, as `--source a,b` and
    /// repeated `--source` both give); empty: every source.
    public static func parse(_ words: [String]) throws(UnknownSource) -> VulnDBSourceSelection {
        var osv = false
        var enrichment: [EnrichmentSource] = []
        var any = false
        for word in words {
            for part in word.split(separator: ",", omittingEmptySubsequences: false) {
                let name = part.trimmingCharacters(in: .whitespaces).lowercased()
                if name.isEmpty { continue }
                any = true
                if name == "osv" {
                    osv = true
                } else if let s = EnrichmentSource(rawValue: name) {
                    if !enrichment.contains(s) { enrichment.append(s) }
                } else {
                    throw UnknownSource(name: String(part.prefix(64)))
                }
            }
        }
        return any ? VulnDBSourceSelection(osv: osv, enrichment: enrichment) : .all
    }

    /// The names of the selected sources.
    public var names: [String] { (osv ? ["osv"] : []) + enrichment.map(\.rawValue) }
}

extension EnrichmentSource {
    /// The flag that sets this source's location (`--nvd-url`, …) on `db update` and `serve`.
    public var flag: String { "--\(rawValue)-url" }
}

extension EnrichmentUpdater {
    /// Checks that `location` is an http(s) URL, a `file://` URL or an absolute path, as
    /// an update resolves it (for up-front validation of flags).
    public static func validate(location: String) throws {
        _ = try resolve(location, name: nil)
    }
}

/// One run over the selected sources with one HTTP client, each source failing alone.
public struct VulnDBRefresh: Sendable {
    public var osv: VulnDBUpdateSummary?
    public var enrichment: [EnrichmentUpdateResult]

    /// True when any OSV ecosystem or enrichment source imported something new.
    public var changed: Bool {
        (osv?.ecosystems.contains { $0.outcome == .updated } ?? false) || enrichment.contains { $0.outcome == .updated }
    }

    /// The names of what changed (`Debian`, `epss`, …).
    public var changedNames: [String] {
        (osv?.ecosystems.filter { $0.outcome == .updated }.map(\.ecosystem) ?? [])
            + enrichment.filter { $0.outcome == .updated }.map(\.source)
    }

    /// The failed OSV ecosystems (as `osv:<Ecosystem>`) and enrichment sources, with why.
    public var failures: [(name: String, message: String)] {
        (osv?.failed.map { ($0.source, $0.message ?? "failed") } ?? [])
            + enrichment.filter { $0.outcome == .failed }.map { ($0.source, $0.message ?? "failed") }
    }

    public var succeeded: Bool { failures.isEmpty }

    /// Updates the OSV ecosystems (when `selection.osv`) from `osvBaseURL`, then each selected
    /// enrichment source from `locations` (its upstream default where none is given). Throws
    /// only for an unusable OSV base URL, an unknown ecosystem, or cancellation.
    public static func run(
        database: VulnerabilityDatabase, selection: VulnDBSourceSelection, osvBaseURL: String = VulnDBUpdater.defaultBaseURL,
        ecosystems: [String]? = nil, locations: [EnrichmentSource: String] = [:],
        policy: OutgoingPolicy = OutgoingPolicy(allowPrivateTargets: true), nvdYears: ClosedRange<Int>? = nil,
        progress: (@Sendable (_ done: Int, _ total: Int, _ name: String) -> Void)? = nil
    ) async throws -> VulnDBRefresh {
        let client = OutgoingHTTPClient(configuration: VulnDBUpdater.httpClientConfiguration(), policy: policy, purpose: .feed)
        do {
            let updater = VulnDBUpdater(database: database, baseURL: osvBaseURL, ecosystems: ecosystems, http: client)
            let total = (selection.osv ? updater.ecosystems.count : 0) + selection.enrichment.count
            var out = VulnDBRefresh(osv: nil, enrichment: [])
            if selection.osv {
                let summary = try await updater.update { done, _, name in progress?(done, total, name) }
                out.osv = summary
                for r in summary.ecosystems {
                    try? await database.recordAttempt(source: r.source, outcome: r.outcome, message: r.message)
                }
            }
            let done = selection.osv ? updater.ecosystems.count : 0
            for (i, source) in selection.enrichment.enumerated() {
                let one = EnrichmentUpdater(downloader: updater, locations: locations, sources: [source], nvdYears: nvdYears)
                let results = try await one.update()
                for r in results {
                    try? await database.recordAttempt(source: r.source, outcome: r.outcome, message: r.message)
                }
                out.enrichment += results
                progress?(done + i + 1, total, source.rawValue)
            }
            try await client.shutdown()
            return out
        } catch {
            try? await client.shutdown()
            throw error
        }
    }
}
