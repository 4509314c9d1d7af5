public import Cron
import Foundation
import GRDB
public import Scan

/// Scan job payloads, shared by sync, push events, the API and the scheduler.
public struct ScanRequest: Sendable, Codable, Hashable {
    public var registryId: String
    public var repository: String
    public var tag: String?
    public var digest: String?
    public var trigger: String
    /// The scan row this job fills in (set when the job is enqueued).
    public var scanId: String?
    public var platform: String?
    public var scanners: [String]?
    /// `cloud` or `sensor`.
    public var origin: String?

    public init(
        registryId: String, repository: String, tag: String?, digest: String?, trigger: String, scanId: String? = nil,
        platform: String? = nil, scanners: [String]? = nil, origin: String? = nil
    ) {
        self.registryId = registryId
        self.repository = repository
        self.tag = tag
        self.digest = digest
        self.trigger = trigger
        self.scanId = scanId
        self.platform = platform
        self.scanners = scanners
        self.origin = origin
    }

    public var dedupeKey: String { "scan:\(registryId):\(repository):\(tag ?? digest ?? ""):\(platform ?? "linux/amd64")" }
}

/// The lifecycle of a scan as the API shows it.
public enum ScanStatus: String, Sendable, Codable, CaseIterable {
    case queued, running, completed, failed, cancelled

    public var isActive: Bool { self == .queued || self == .running }
}

extension Severity {
    /// Ordering for storage and sorting: CRITICAL 4 … UNKNOWN 0.
    package var storedRank: Int {
        switch self {
        case .critical: 4
        case .high: 3
        case .medium: 2
        case .low: 1
        case .unknown: 0
        }
    }

    package init(rank: Int) {
        self = [.unknown, .low, .medium, .high, .critical][max(0, min(4, rank))]
    }
}

/// Finding counts by severity, and the risk score the README defines over them.
public struct SeverityCounts: Sendable, Hashable, Codable {
    public var critical = 0, high = 0, medium = 0, low = 0, unknown = 0

    public init() {}

    /// 25·critical + 10·high + 3·medium + 1·low, capped at 100.
    public var riskScore: Int { min(100, 25 * critical + 10 * high + 3 * medium + low) }

    package mutating func add(rank: Int, count: Int = 1) {
        switch rank {
        case 4: critical += count
        case 3: high += count
        case 2: medium += count
        case 1: low += count
        default: unknown += count
        }
    }
}

/// Storage of scans and what they found. Every function runs inside the caller's
/// transaction so a scan's row, findings, inventory and aggregates change together.

public struct ScannerRunRecord: Sendable, Hashable, Codable {
    public var name: String
    public var status: String
    public var version: String?
    public var durationMs: Int
    public var error: String?

    public init(name: String, status: String, version: String?, durationMs: Int, error: String?) {
        self.name = name
        self.status = status
        self.version = version
        self.durationMs = durationMs
        self.error = error
    }
}

/// The layer-analysis cache in the appliance database, keyed by (layer digest, analyser
/// version): a rescan of an image whose layers were seen downloads no layer.
public struct DatabaseLayerCache: LayerAnalysisCache {
    let database: any SQLDatabase

    public init(database: any SQLDatabase) {
        self.database = database
    }

    public func get(digest: String) async -> LayerAnalysis? {
        let data: Data? = try? await database.read { db in
            try db.data("SELECT analysis FROM layer_analyses WHERE digest = ? AND analyzer_version = ?", [digest, LayerAnalysis.analyzerVersion])
        }
        guard let data else { return nil }
        return try? JSONDecoder().decode(LayerAnalysis.self, from: data)
    }

    public func put(_ analysis: LayerAnalysis, digest: String) async {
        guard let data = try? ScanRepository.findingEncoder.encode(analysis) else { return }
        let ts = Timestamp.format(Date())
        _ = try? await database.write { db in
            try db.execute("""
                INSERT INTO layer_analyses (digest, analyzer_version, analysis, created_at) VALUES (?, ?, ?, ?)
                ON CONFLICT (digest, analyzer_version) DO UPDATE SET analysis = excluded.analysis, created_at = excluded.created_at
                """, [digest, analysis.analyzerVersion, data, ts])
        }
    }
}
