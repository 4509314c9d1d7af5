public import Foundation
public import GRDB
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
    let completion = CompletionFlag()

    public init(job: Job, store: JobStore, logger: Logger) {
        self.job = job
        self.store = store
        self.logger = logger
    }

    public func progress(done: Int, total: Int) async {
        try? await store.progress(job.id, done: done, total: total)
    }

    /// Marks the job succeeded with `result` inside the handler's own write transaction (one
    /// write instead of two, and the job never looks unfinished after its results are
    /// recorded); false when the lease was lost. The pool then does not complete it again.
    public func complete(result: String?, now: Date, in db: Database) throws -> Bool {
        guard let owner = job.leaseOwner else { return false }
        let done = try JobStore.complete(job.id, owner: owner, result: result, now: now, in: db)
        if done { completion.set() }
        return done
    }
}

/// Set once a handler completed its job itself.
final class CompletionFlag: Sendable {
    private let done = Mutex(false)
    func set() { done.withLock { $0 = true } }
    var isSet: Bool { done.withLock { $0 } }
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

    func workerLoop(index: Int) async {
        let types = Set(handlers.keys)
        let workerOwner = "\(owner)-\(index)"
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            heartbeat.beat()
            let job: Job?
            do {
                let started = ContinuousClock.now
                job = try await store.claim(
                    owner: workerOwner, types: types, lease: configuration.lease, limits: configuration.limits)
                // What the queue costs per job handed out (a poll that finds nothing is not counted).
                if job != nil {
                    let elapsed = (ContinuousClock.now - started).components
                    Self.claimTimer.recordNanoseconds(elapsed.seconds * 1_000_000_000 + elapsed.attoseconds / 1_000_000_000)
                }
            } catch {
                logger.warning("job claim failed", metadata: ["error": "\(error)"])
                job = nil
            }
            guard let job else {
                let interval = configuration.pollInterval
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
                continue
            }
            await execute(job, owner: workerOwner)
        }
        try? await store.release(owner: workerOwner)
    }

    func execute(_ job: Job, owner: String) async {
        guard let handler = handlers[job.type] else { return }
        var log = logger
        log[metadataKey: "job"] = "\(job.id)"
        log[metadataKey: "type"] = "\(job.type)"
        let context = JobContext(job: job, store: store, logger: log)
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
                try await store.complete(job.id, owner: owner, result: result)
            }
            log.info("job succeeded")
        } catch is LeaseLost {
            log.info("job lease lost (cancelled or reclaimed); handler stopped")
        } catch {
            let permanent = error is PermanentJobError
            let status = try? await store.fail(job.id, owner: owner, error: "\(error)", permanent: permanent)
            log.warning("job attempt failed", metadata: ["error": "\(error)", "next": "\(status?.rawValue ?? "lost")"])
        }
    }
}
