import Cron
public import Foundation
public import Scan
public import Store

/// The sensor protocol's messages, defined once for both ends: `serve` answers with them
/// (`SensorRoutes`) and `harborguard sensor` sends and reads them. Every answer comes in
/// the API's `{"data": …}` envelope; the server encodes with sorted keys and leaves nil
/// members out. The server reads request bodies field by field (`ObjectReader`), so a
/// malformed field gets its own validation message; the field names it accepts come from
/// the request types below.
public enum SensorProtocol {
    /// Decodes the server's answers (dates as the API writes them).
    public static let decoder: JSONDecoder = {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .custom { decoder in
            let c = try decoder.singleValueContainer()
            let text = try c.decode(String.self)
            guard let date = Timestamp.parse(text) else {
                throw DecodingError.dataCorruptedError(in: c, debugDescription: "not a timestamp: \(text)")
            }
            return date
        }
        return d
    }()

    /// Encodes the sensor's requests (sorted keys, so a body is the same text each time).
    public static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return e
    }()
}

/// An answer in the API's envelope.
public struct SensorReply<Value: Decodable>: Decodable {
    public var data: Value
}

/// `POST /api/sensor/heartbeat`.
public struct SensorHeartbeat: Codable, Sendable, Hashable {
    public var name: String
    public var version: String
    public var hostname: String

    public init(name: String, version: String, hostname: String) {
        self.name = name
        self.version = version
        self.hostname = hostname
    }

    public static let fields: Set<String> = ["name", "version", "hostname"]
}

/// The answer to a heartbeat: the registry the key serves and how often to poll for jobs.
public struct SensorHeartbeatReply: Codable, Sendable, Hashable {
    public var registryId: String
    public var pollIntervalSeconds: Int

    public init(registryId: String, pollIntervalSeconds: Int) {
        self.registryId = registryId
        self.pollIntervalSeconds = pollIntervalSeconds
    }
}

/// `POST /api/sensor/jobs/claim`: at most `max` jobs (1–10, default 1), leased for
/// `leaseSeconds` (10–3600, default 60).
public struct SensorClaimRequest: Codable, Sendable, Hashable {
    public var max: Int?
    public var leaseSeconds: Int?

    public init(max: Int? = nil, leaseSeconds: Int? = nil) {
        self.max = max
        self.leaseSeconds = leaseSeconds
    }

    public static let fields: Set<String> = ["max", "leaseSeconds"]
}

/// What a claimed job asks the sensor to do. Unknown values are kept, so a sensor older
/// than its server can refuse a job it does not know instead of failing the whole claim.
public struct SensorJobType: RawRepresentable, Codable, Sendable, Hashable, CustomStringConvertible {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }

    /// List the registry's tags (a `sensor_sync` job).
    public static let sync = SensorJobType(rawValue: "sync")
    /// Inventory one image (a `sensor_scan` job).
    public static let scan = SensorJobType(rawValue: "scan")

    /// The type a sensor is handed a queued job of `kind` as.
    public init?(_ kind: JobKind) {
        switch kind {
        case .sensorSync: self = .sync
        case .sensorScan: self = .scan
        default: return nil
        }
    }

    public var description: String { rawValue }
}

/// One job of a claim's answer.
public struct SensorClaimedJob: Codable, Sendable, Hashable {
    /// Where the work is; never credentials (the sensor has its own).
    public struct RegistryTarget: Codable, Sendable, Hashable {
        public var id: String
        public var url: String
        public var provider: String
        public var insecure: Bool

        public init(id: String, url: String, provider: String, insecure: Bool) {
            self.id = id
            self.url = url
            self.provider = provider
            self.insecure = insecure
        }
    }

    public struct Payload: Codable, Sendable, Hashable {
        public var registry: RegistryTarget
        // sync
        public var includeTags: String?
        public var excludeTags: String?
        // scan
        public var scanId: String?
        public var repository: String?
        public var tag: String?
        public var digest: String?
        public var platform: String?
        public var scanners: [String]?

        public init(
            registry: RegistryTarget, includeTags: String? = nil, excludeTags: String? = nil, scanId: String? = nil,
            repository: String? = nil, tag: String? = nil, digest: String? = nil, platform: String? = nil, scanners: [String]? = nil
        ) {
            self.registry = registry
            self.includeTags = includeTags
            self.excludeTags = excludeTags
            self.scanId = scanId
            self.repository = repository
            self.tag = tag
            self.digest = digest
            self.platform = platform
            self.scanners = scanners
        }
    }

    public var id: String
    public var type: SensorJobType
    /// The attempt the lease is for; a result names it, so a late result of an earlier attempt records nothing.
    public var attempt: Int
    public var payload: Payload
    public var leaseExpiresAt: Date

    public init(id: String, type: SensorJobType, attempt: Int, payload: Payload, leaseExpiresAt: Date) {
        self.id = id
        self.type = type
        self.attempt = attempt
        self.payload = payload
        self.leaseExpiresAt = leaseExpiresAt
    }
}

/// `POST /api/sensor/jobs/{id}/renew`.
public struct SensorRenewRequest: Codable, Sendable, Hashable {
    public var leaseSeconds: Int?

    public init(leaseSeconds: Int? = nil) { self.leaseSeconds = leaseSeconds }

    public static let fields: Set<String> = ["leaseSeconds"]
}

/// The answer to a renewal.
public struct SensorRenewed: Codable, Sendable, Hashable {
    public var id: String
    public var leaseExpiresAt: Date

    public init(id: String, leaseExpiresAt: Date) {
        self.id = id
        self.leaseExpiresAt = leaseExpiresAt
    }
}

/// The answer to `POST /api/sensor/jobs/{id}/release`: the job is queued again.
public struct SensorReleased: Codable, Sendable, Hashable {
    public var id: String
    public var status: String

    public init(id: String, status: String) {
        self.id = id
        self.status = status
    }
}

/// `POST /api/sensor/jobs/{id}/result`: a failure, a sync's tag inventory, or a scan's image
/// inventory. `attempt` is the attempt the result is of.
public struct SensorResult: Codable, Sendable {
    public struct TagEntry: Codable, Sendable, Hashable {
        public var repository: String
        public var tag: String
        public var digest: String

        public init(repository: String, tag: String, digest: String) {
            self.repository = repository
            self.tag = tag
            self.digest = digest
        }
    }

    /// `succeeded` or `failed`.
    public var status: String
    public var error: String?
    public var retryable: Bool?
    public var attempt: Int?
    // sync
    public var tags: [TagEntry]?
    public var failedRepositories: [String]?
    public var repositories: Int?
    // scan
    public var report: ImageScanReport?
    public var scanners: [ScannerRunRecord]?

    public init(
        status: String, error: String? = nil, retryable: Bool? = nil, attempt: Int? = nil, tags: [TagEntry]? = nil,
        failedRepositories: [String]? = nil, repositories: Int? = nil, report: ImageScanReport? = nil,
        scanners: [ScannerRunRecord]? = nil
    ) {
        self.status = status
        self.error = error
        self.retryable = retryable
        self.attempt = attempt
        self.tags = tags
        self.failedRepositories = failedRepositories
        self.repositories = repositories
        self.report = report
        self.scanners = scanners
    }

    public static func failure(_ message: String, retryable: Bool) -> SensorResult {
        SensorResult(status: "failed", error: message, retryable: retryable)
    }

    /// The members every result may have.
    public static let commonFields: Set<String> = ["status", "error", "retryable", "attempt"]
    /// The members of a sync's result.
    public static let syncFields: Set<String> = ["tags", "failedRepositories", "repositories"]
    /// The members of a scan's result.
    public static let scanFields: Set<String> = ["report", "scanners"]
    /// The members of one of a sync's `tags`.
    public static let tagFields: Set<String> = ["repository", "tag", "digest"]
}

/// The answer to a result.
public struct SensorResultReply: Codable, Sendable {
    public var jobId: String
    /// The job's status after the result: `succeeded`, `failed`, or `queued` for a retry.
    public var status: String
    /// False when the job was already finished (a retried post of a result that was recorded).
    public var recorded: Bool
    public var scanId: String?
    public var sync: SyncOutcome?
    public var findings: Int?
    /// Sync results: entries skipped because they do not fit the grammar, and the first of them.
    public var rejected: Int?
    public var issues: [ValidationIssue]?

    public init(
        jobId: String, status: String, recorded: Bool, scanId: String? = nil, sync: SyncOutcome? = nil, findings: Int? = nil,
        rejected: Int? = nil, issues: [ValidationIssue]? = nil
    ) {
        self.jobId = jobId
        self.status = status
        self.recorded = recorded
        self.scanId = scanId
        self.sync = sync
        self.findings = findings
        self.rejected = rejected
        self.issues = issues
    }
}
