public import NIOPosix
import Synchronization

/// The one way this product runs blocking work that is not database work (getaddrinfo, bcrypt,
/// hashing a file, a synchronous library call): `try await Blocking.run { … }`.
///
/// It runs the closure on a `NIOThreadPool` (by default `NIOThreadPool.singleton`, the pool
/// SwiftNIO, AsyncHTTPClient and Hummingbird already keep for blocking I/O), never on the
/// cooperative pool, so a slow call cannot starve the tasks serving requests. Unlike
/// `DispatchQueue.global()` the pool is bounded (no thread explosion under load), and unlike
/// `Task.detached` the work does not run on a cooperative thread at all.
///
/// Cancellation: when the awaiting task is cancelled, `run` throws `CancellationError` at once
/// and abandons the call (a thread cannot be interrupted; it finishes and its result is
/// dropped). That is what makes timeouts as task-group races work on blocking calls: the
/// losing child returns promptly, so the group does not wait for the slow call.
///
/// Database work does not use this: it goes through GRDB's async `read`/`write`, which run on
/// GRDB's own queues. Waiting on a child process that may run for minutes (`ScannerProcess`)
/// uses a thread of its own so it never holds one of the pool's few threads.
public enum Blocking {
    /// A pool for name resolution: a resolver that hangs until its own timeout must not hold
    /// the threads bcrypt and file hashing need, so lookups get a pool of their own.
    public static let resolverPool: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 8)
        pool.start()
        return pool
    }()

    /// Runs `work` on `pool` and returns its result; see the type's documentation. With
    /// `abandonOnCancel: false` the caller waits for the work even when cancelled (for work
    /// that must not outlive its caller, such as a write to a database the caller closes next).
    public static func run<T: Sendable>(
        on pool: NIOThreadPool = .singleton, abandonOnCancel: Bool = true, _ work: @escaping @Sendable () throws -> T
    ) async throws -> T {
        if !abandonOnCancel { return try await pool.runIfActive(work) }
        let waiter = Waiter<T>()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
                guard waiter.wait(continuation) else { return }
                pool.submit { state in
                    guard case .active = state else {
                        waiter.finish(.failure(CancellationError()))
                        return
                    }
                    waiter.finish(Result { try work() })
                }
            }
        } onCancel: {
            waiter.finish(.failure(CancellationError()))
        }
    }

    /// The continuation of one `run`, resumed exactly once: by the work or by cancellation.
    final class Waiter<T: Sendable>: Sendable {
        enum State {
            case idle
            case waiting(CheckedContinuation<T, any Error>)
            case done
        }

        let state = Mutex(State.idle)

        /// Stores the continuation; false (and the continuation resumed) when cancelled already.
        func wait(_ continuation: CheckedContinuation<T, any Error>) -> Bool {
            let proceed = state.withLock { state -> Bool in
                if case .done = state { return false }
                state = .waiting(continuation)
                return true
            }
            if !proceed { continuation.resume(throwing: CancellationError()) }
            return proceed
        }

        func finish(_ result: Result<T, any Error>) {
            let continuation = state.withLock { state -> CheckedContinuation<T, any Error>? in
                defer { state = .done }
                if case .waiting(let c) = state { return c }
                return nil
            }
            continuation?.resume(with: result)
        }
    }
}
