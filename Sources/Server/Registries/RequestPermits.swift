/// Bounds the registry requests one sync keeps in flight (`--sync-concurrency`), across all of
/// its repositories: a registry with one repository of many tags resolves them as many at a
/// time as one with many repositories.
public actor RequestPermits {
    private var available: Int
    private var waiting: [CheckedContinuation<Void, Never>] = []

    public init(_ count: Int) { available = max(1, count) }

    /// Waits for a permit; give it back with `release()`.
    public func acquire() async {
        if available > 0 {
            available -= 1
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }

    /// Hands the permit to the longest waiter, or back to the pool.
    public func release() {
        if waiting.isEmpty { available += 1 } else { waiting.removeFirst().resume() }
    }
}
