public import Foundation
import Synchronization

/// The scheduler's and job queue's notion of now. Production uses the system clock;
/// tests inject a `ManualClock` and advance it instead of sleeping.
public protocol JobClock: Sendable {
    func now() -> Date
}

public struct SystemJobClock: JobClock {
    public init() {}
    public func now() -> Date { Date() }
}

/// A clock that only moves when told to.
public final class ManualClock: JobClock {
    private let current: Mutex<Date>

    public init(_ start: Date = Date(timeIntervalSince1970: 1_800_000_000)) {
        current = Mutex(start)
    }

    public func now() -> Date { current.withLock { $0 } }

    public func advance(by seconds: TimeInterval) {
        current.withLock { $0 = $0.addingTimeInterval(seconds) }
    }

    public func set(_ date: Date) {
        current.withLock { $0 = date }
    }
}

/// Last time a loop reported in; `/readyz` reads it to tell a stuck scheduler.
public final class Heartbeat: Sendable {
    private let last = Mutex<Date?>(nil)
    public init() {}
    public func beat(_ at: Date = Date()) { last.withLock { $0 = at } }
    public var lastBeat: Date? { last.withLock { $0 } }
}
