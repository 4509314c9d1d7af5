public import Foundation
import GRDB
public import Logging
import Synchronization
import Metrics
public import ServiceLifecycle

/// What a handler gets besides the job: progress reporting, and completing the job in the
/// same transaction as what it produced.
public struct JobContext: Sendable {
    public let job: Job
    public let store: JobStore
    public let logger: Logger
    /// How the worker running this job claims its next one.
    let next: NextClaim?
    let completion = CompletionFlag()
    /// The worker's next job, claimed in the transaction that completed this one.
    let successor = Successor()

    public init(job: Job, store: JobStore, logger: Logger) {
        self.init(job: job, store: store, logger: logger, next: nil)
    }

    init(job: Job, store: JobStore, logger: Logger, next: NextClaim?) {
        self.job = job
        self.store = store
        self.logger = logger
        self.next = next
    }

    public func progress(done: Int, total: Int) async {
        try? await store.progress(job.id, done: done, total: total)
    }

    /// Marks the job succeeded with `result` inside the handler's own write transaction (one
    /// write instead of two, and the job never looks unfinished after its results are
    /// recorded), and claims the worker's next job in the same transaction; false when the
    /// lease was lost. The pool then does not complete it again.
    public func complete(result: String?, now: Date, in db: any SQLConnection) throws -> Bool {
        guard let owner = job.leaseOwner else { return false }
        let done = try JobStore.complete(job.id, owner: owner, result: result, now: now, in: db)
        if done {
            // Only a committed completion counts: a transaction that rolls back leaves the job
            // to the pool (and any job claimed in it unclaimed).
            let completion = self.completion
            db.afterCommit { completion.set() }
            try claimSuccessor(now: now, in: db)
        }
        return done
    }

    /// Claims the worker's next job inside a transaction that is being written anyway, so a
    /// busy worker never waits on SQLite's single writer for a claim of its own. Not while the
    /// server shuts down, and not on PostgreSQL: there writers do not wait for each other, and
    /// a claim belongs in its own short read-committed transaction (see `JobStore.claim`).
    func claimSuccessor(now: Date, in db: any SQLConnection) throws {
        guard let next, !Task.isShuttingDownGracefully, let sqlite = db.grdb else { return }
        let started = ContinuousClock.now
        guard let job = try JobStore.claim(
            owner: next.owner, types: next.types, lease: next.lease, limits: next.limits, now: now, in: sqlite)
        else { return }
        WorkerPool.recordClaim(since: started)
        let successor = self.successor
        db.afterCommit { successor.set(job) }
    }
}

/// What a worker claims with: its lease owner, the types it runs, the lease and the limits.
struct NextClaim: Sendable {
    var owner: String
    var types: Set<String>
    var lease: TimeInterval
    var limits: JobStore.ClaimLimits
}

/// Set once a handler completed its job itself.
final class CompletionFlag: Sendable {
    private let done = Mutex(false)
    func set() { done.withLock { $0 = true } }
    var isSet: Bool { done.withLock { $0 } }
}

/// A job claimed for the worker while it completed the one before.
final class Successor: Sendable {
    private let job = Mutex<Job?>(nil)
    func set(_ value: Job) { job.withLock { $0 = value } }
    func take() -> Job? { job.withLock { value in defer { value = nil }; return value } }
}

struct LeaseLost: Error {}

/// A failure that will not succeed on retry (bad input, missing registry).
public struct PermanentJobError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

public typealias JobHandler = @Sendable (JobContext) async throws -> String?

/// Runs job handlers on a fixed number of workers. Each claimed job keeps its lease
/// renewed while it runs; on graceful shutdown unfinished leases are handed back.
public struct WorkerPool: Service {
    public struct Configuration: Sendable {
        public var workers: Int
        public var limits: JobStore.ClaimLimits
        public var lease: TimeInterval
        public var pollInterval: Duration

        public init(
            workers: Int = 4, limits: JobStore.ClaimLimits = .init(), lease: TimeInterval = 60,
            pollInterval: Duration = .milliseconds(500)
        ) {
            self.workers = workers
            self.limits = limits
            self.lease = lease
            self.pollInterval = pollInterval
        }
    }

    let store: JobStore
    let handlers: [String: JobHandler]
    let configuration: Configuration
    let logger: Logger
    let owner: String
    let heartbeat: Heartbeat

    public init(
        store: JobStore, handlers: [String: JobHandler], configuration: Configuration, logger: Logger,
        heartbeat: Heartbeat = Heartbeat()
    ) {
        self.heartbeat = heartbeat
        self.store = store
        self.handlers = handlers
        self.configuration = configuration
        self.logger = logger
        self.owner = "worker-\(ProcessInfo.processInfo.processIdentifier)-\(randomHex(bytes: 4))"
    }

    static let claimTimer = Metrics.Timer(label: "harborguard_job_claim_duration_seconds")

    public func run() async throws {
        heartbeat.beat()
        await withTaskGroup(of: Void.self) { group in
            for index in 0..<max(1, configuration.workers) {
                group.addTask { await self.workerLoop(index: index) }
            }
        }
        try? await store.release(owner: owner)
    }

    /// What the queue costs per job handed out: the claim's own time (a poll that finds
    /// nothing is not counted).
    static func recordClaim(since started: ContinuousClock.Instant) {
        let elapsed = (ContinuousClock.now - started).components
        claimTimer.recordNanoseconds(elapsed.seconds * 1_000_000_000 + elapsed.attoseconds / 1_000_000_000)
    }

    func workerLoop(index: Int) async {
        let next = NextClaim(
            owner: "\(owner)-\(index)", types: Set(handlers.keys), lease: configuration.lease, limits: configuration.limits)
        var successor: Job?
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            heartbeat.beat()
            let job: Job?
            if let claimed = successor {
                job = claimed
                successor = nil
            } else {
                do {
                    let started = ContinuousClock.now
                    job = try await store.claim(owner: next.owner, types: next.types, lease: next.lease, limits: next.limits)
                    if job != nil { Self.recordClaim(since: started) }
                } catch {
                    logger.warning("job claim failed", metadata: ["error": "\(error)"])
                    job = nil
                }
            }
            guard let job else {
                let interval = configuration.pollInterval
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
                continue
            }
            successor = await execute(job, next: next)
        }
        // A job claimed for this worker but not started goes back with the rest.
        try? await store.release(owner: next.owner)
    }

    /// Runs one job; returns the worker's next job when it was claimed as this one completed.
    func execute(_ job: Job, next: NextClaim) async -> Job? {
        guard let handler = handlers[job.type] else { return nil }
        let owner = next.owner
        var log = logger
        log[metadataKey: "job"] = "\(job.id)"
        log[metadataKey: "type"] = "\(job.type)"
        let context = JobContext(job: job, store: store, logger: log, next: next)
        let lease = configuration.lease
        let store = self.store
        // Renew the lease every third of its length (at most 5 s, so a cancel stops a job
        // promptly) while the handler runs; a lease lost
        // (cancelled through the API, or expired and reclaimed) cancels the handler.
        do {
            let result: String? = try await withThrowingTaskGroup(of: String?.self) { group -> String? in
                group.addTask { try await handler(context) }
                group.addTask {
                    while true {
                        try await Task.sleep(for: .seconds(max(1, min(5, lease / 3))))
                        if (try? await store.renew(job.id, owner: owner, lease: lease)) == false { throw LeaseLost() }
                    }
                }
                defer { group.cancelAll() }
                let first: String?? = try await group.next()
                return first ?? nil
            }
            if !context.completion.isSet {
                let now = store.clock.now()
                try await store.database.write { db in
                    if try JobStore.complete(job.id, owner: owner, result: result, now: now, in: db) {
                        try context.claimSuccessor(now: now, in: db)
                    }
                }
            }
            log.info("job succeeded")
        } catch is LeaseLost {
            log.info("job lease lost (cancelled or reclaimed); handler stopped")
        } catch {
            let permanent = error is PermanentJobError
            let status = try? await store.fail(job.id, owner: owner, error: "\(error)", permanent: permanent)
            log.warning("job attempt failed", metadata: ["error": "\(error)", "next": "\(status?.rawValue ?? "lost")"])
        }
        return context.successor.take()
    }
}
