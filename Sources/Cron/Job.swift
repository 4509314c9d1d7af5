public import Foundation

/// The lifecycle of a queued unit of work.
public enum JobStatus: String, Sendable, Codable, CaseIterable {
    case queued, running, succeeded, failed, cancelled

    public var isActive: Bool { self == .queued || self == .running }
}

/// A durable job as stored in the `jobs` table.
public struct Job: Sendable, Hashable, Codable {
    public var id: String
    public var type: String
    public var status: JobStatus
    /// Opaque JSON owned by the job's handler.
    public var payload: String
    /// Organization the job belongs to (API visibility).
    public var orgId: String?
    /// Jobs sharing a key obey the per-key concurrency limit (a registry id).
    public var concurrencyKey: String?
    /// At most one queued or running job per dedupe key (enforced by a unique index).
    public var dedupeKey: String?
    public var attempts: Int
    public var maxAttempts: Int
    public var runAt: Date
    public var leaseOwner: String?
    public var leaseExpiresAt: Date?
    public var progressDone: Int
    public var progressTotal: Int
    public var error: String?
    public var result: String?
    public var createdAt: Date
    public var startedAt: Date?
    public var finishedAt: Date?
}

/// What a caller asks for when enqueueing.
public struct NewJob: Sendable {
    public var type: String
    public var payload: String
    public var orgId: String?
    public var concurrencyKey: String?
    public var dedupeKey: String?
    public var maxAttempts: Int
    public var runAt: Date?

    public init(
        type: String, payload: String = "{}", orgId: String? = nil, concurrencyKey: String? = nil,
        dedupeKey: String? = nil, maxAttempts: Int = 5, runAt: Date? = nil
    ) {
        self.type = type
        self.payload = payload
        self.orgId = orgId
        self.concurrencyKey = concurrencyKey
        self.dedupeKey = dedupeKey
        self.maxAttempts = maxAttempts
        self.runAt = runAt
    }
}

/// How long a failed job waits before its next attempt: exponential backoff, half of it
/// jittered, capped. (How many attempts a job gets is its own `maxAttempts`; HTTP request
/// retries are `Registry.RetryPolicy`, a different thing.)
public struct JobBackoff: Sendable {
    public var base: TimeInterval
    public var cap: TimeInterval

    public init(base: TimeInterval = 10, cap: TimeInterval = 3600) {
        self.base = base
        self.cap = cap
    }

    /// Delay before attempt `attempt + 1`, given `attempt` attempts so far (≥ 1).
    /// `unit` in [0, 1) supplies the jitter so tests can make it deterministic.
    public func delay(afterAttempt attempt: Int, unit: Double) -> TimeInterval {
        let exp = min(cap, base * pow(2, Double(max(0, attempt - 1))))
        // Half fixed, half jitter: never zero, never above the cap.
        return exp / 2 + exp / 2 * unit
    }
}
