public import Cron
public import Foundation
public import Store

/// The kinds of job the server queues. Cron's queue stays generic (a job's `type` is a
/// string, its payload opaque JSON text); this is the server's typed layer over it. The raw
/// values are what the `jobs.type` column holds and `GET /api/jobs` answers: never change one.
public enum JobKind: String, Codable, Sendable, CaseIterable {
    case sync, scan, vulndbUpdate = "vulndb_update", rematch, notify, sensorSync = "sensor_sync", sensorScan = "sensor_scan"
    /// Renders a slack/teams/email channel's pending events into one message (a delivery).
    case notifyFlush = "notify_flush"

    /// Kinds only a registry's sensor claims (the server's worker pool has no handler for them).
    public static let sensorKinds: Set<JobKind> = [.sensorSync, .sensorScan]

    /// The `type` strings of `kinds`, as the queue's claims take them.
    public static func types(_ kinds: Set<JobKind>) -> Set<String> { Set(kinds.map(\.rawValue)) }
}

/// What a job carries in its `payload` column. Encoded with sorted keys and nil members
/// left out, so the stored text is what queued jobs of earlier versions hold.
public protocol JobPayload: Codable, Sendable {
    /// What a job whose payload does not decode runs with; nil fails it permanently
    /// ("malformed <type> payload").
    static var whenMalformed: Self? { get }
}

extension JobPayload {
    public static var whenMalformed: Self? { nil }
}

/// A job kind together with the payload type it carries, so an enqueue cannot pair a kind
/// with another kind's payload, and a handler gets its payload decoded.
public struct TypedJobKind<Payload: JobPayload>: Sendable {
    public let kind: JobKind

    init(_ kind: JobKind) { self.kind = kind }

    /// The payload as the `payload` column stores it.
    public func encode(_ payload: Payload) throws -> String {
        String(decoding: try JSONCoding.encoder.encode(payload), as: UTF8.self)
    }

    /// The payload of a job of this kind.
    public func payload(of job: Job) throws(PermanentJobError) -> Payload {
        if let decoded = try? JSONDecoder().decode(Payload.self, from: Data(job.payload.utf8)) { return decoded }
        if let fallback = Payload.whenMalformed { return fallback }
        throw PermanentJobError("malformed \(kind.rawValue) payload")
    }
}

extension TypedJobKind where Payload == SyncJobPayload {
    public static var sync: Self { .init(.sync) }
    public static var sensorSync: Self { .init(.sensorSync) }
    /// A registry's sync: its sensor's (`sensor_sync`) when the server cannot reach it.
    public static func sync(_ method: ScanMethod) -> Self { method == .sensor ? .sensorSync : .sync }
}

extension TypedJobKind where Payload == ScanRequest {
    public static var scan: Self { .init(.scan) }
    public static var sensorScan: Self { .init(.sensorScan) }
    /// An image scan: the registry's sensor's (`sensor_scan`) when the server cannot reach it.
    public static func scan(sensor: Bool) -> Self { sensor ? .sensorScan : .scan }
}

extension TypedJobKind where Payload == RematchJobPayload {
    public static var rematch: Self { .init(.rematch) }
}

extension TypedJobKind where Payload == VulnDBUpdateJobPayload {
    public static var vulndbUpdate: Self { .init(.vulndbUpdate) }
}

extension TypedJobKind where Payload == NotifyJobPayload {
    public static var notify: Self { .init(.notify) }
}

extension TypedJobKind where Payload == NotifyFlushJobPayload {
    public static var notifyFlush: Self { .init(.notifyFlush) }
}

// MARK: - Payloads

/// `sync` and `sensor_sync`: `{"registryId":…}`.
public struct SyncJobPayload: JobPayload, Hashable {
    public var registryId: String
    public init(registryId: String) { self.registryId = registryId }
}

/// `scan` and `sensor_scan` carry a ``ScanRequest``.
extension ScanRequest: JobPayload {}

/// `rematch`: `{"orgId":…,"reason":…}`; one that does not decode rematches every organization.
public struct RematchJobPayload: JobPayload, Hashable {
    public var orgId: String?
    public var reason: String?
    public init(orgId: String? = nil, reason: String? = nil) {
        self.orgId = orgId
        self.reason = reason
    }
    public static var whenMalformed: Self? { Self() }
}

/// `vulndb_update`: `{"ecosystems":[…],"sources":[…],"url":…}`; `sources` names what to
/// update (`osv`, `nvd`, `epss`, `kev`, `debian-tracker`; absent: OSV and every enrichment
/// source the server has a URL for). One that does not decode updates all of those.
public struct VulnDBUpdateJobPayload: JobPayload, Hashable {
    public var url: String?
    public var ecosystems: [String]?
    public var sources: [String]?
    public init(url: String? = nil, ecosystems: [String]? = nil, sources: [String]? = nil) {
        self.url = url
        self.ecosystems = ecosystems
        self.sources = sources
    }
    public static var whenMalformed: Self? { Self() }
}

/// `notify`: `{"deliveryId":…}`.
public struct NotifyJobPayload: JobPayload, Hashable {
    public var deliveryId: String
    public init(deliveryId: String) { self.deliveryId = deliveryId }
}

/// `notify_flush`: `{"channelId":…}`.
public struct NotifyFlushJobPayload: JobPayload, Hashable {
    public var channelId: String
    public init(channelId: String) { self.channelId = channelId }
}

// MARK: - Enqueueing and handling

extension NewJob {
    /// A job of `kind` carrying `payload`.
    public init<P: JobPayload>(
        _ kind: TypedJobKind<P>, _ payload: P, orgId: String? = nil, concurrencyKey: String? = nil, dedupeKey: String? = nil,
        maxAttempts: Int = 5, runAt: Date? = nil
    ) throws {
        self.init(
            type: kind.kind.rawValue, payload: try kind.encode(payload), orgId: orgId, concurrencyKey: concurrencyKey,
            dedupeKey: dedupeKey, maxAttempts: maxAttempts, runAt: runAt)
    }
}

extension Job {
    /// The job's kind; nil for a type this version does not know.
    public var kind: JobKind? { JobKind(rawValue: type) }
}

/// The worker pool's handler table, one typed handler per kind: each gets its payload decoded.
public struct JobHandlers: Sendable {
    public private(set) var table: [String: JobHandler] = [:]

    public init() {}

    public mutating func handle<P: JobPayload>(
        _ kind: TypedJobKind<P>, _ body: @escaping @Sendable (JobContext, P) async throws -> String?
    ) {
        table[kind.kind.rawValue] = { context in try await body(context, try kind.payload(of: context.job)) }
    }
}
