public import Foundation
import Synchronization
import Store

/// Fixed-window counters per key (principal, or address and username), in memory.
public final class RateLimiter: Sendable {
    struct Window {
        var start: Date
        var count: Int
    }

    let limit: Int
    let window: TimeInterval
    private let windows = Mutex<[String: Window]>([:])

    public init(limit: Int, window: TimeInterval = 60) {
        self.limit = limit
        self.window = window
    }

    /// Counts one request for `key`; throws RATE_LIMITED when the window is full.
    public func hit(_ key: String, now: Date = Date()) throws {
        let outcome: (allowed: Bool, retryAfter: Int, reset: Int) = windows.withLock { map in
            if map.count > 100_000 {
                map = map.filter { now.timeIntervalSince($0.value.start) < window }
            }
            var w = map[key] ?? Window(start: now, count: 0)
            if now.timeIntervalSince(w.start) >= window {
                w = Window(start: now, count: 0)
            }
            let resetAt = w.start.addingTimeInterval(window)
            if w.count >= limit {
                return (false, max(1, Int(resetAt.timeIntervalSince(now).rounded(.up))), Int(resetAt.timeIntervalSince1970))
            }
            w.count += 1
            map[key] = w
            return (true, 0, Int(resetAt.timeIntervalSince1970))
        }
        if !outcome.allowed {
            throw APIError.rateLimited(retryAfter: outcome.retryAfter, limit: limit, reset: outcome.reset)
        }
    }

    /// Takes back one counted event of `key` (an attempt counted up front that succeeded).
    public func release(_ key: String) {
        windows.withLock { map in
            if var w = map[key], w.count > 0 {
                w.count -= 1
                map[key] = w
            }
        }
    }

    /// Forgets `key` (a successful sign-in clears that account's failures from that address).
    public func reset(_ key: String) {
        _ = windows.withLock { $0.removeValue(forKey: key) }
    }
}
