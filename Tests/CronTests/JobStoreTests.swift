import Cron
import Foundation
import GRDB
import Logging
import Synchronization
import SQLTestSupport
import Testing

/// The durable queue on a real SQLite file and a real PostgreSQL server, with time advanced by hand.
@Suite struct JobStoreTests {
    static func makeStore(
        _ backend: TestBackend = .sqlite, clock: ManualClock = ManualClock(), path: String? = nil
    ) async throws -> (JobStore, String) {
        let (db, name) = try await backend.open(path)
        return (JobStore(database: db, clock: clock, backoff: JobBackoff(base: 10, cap: 100)), name)
    }

    @Test(arguments: TestBackend.available) func claimTakesALeaseAndAnExpiredLeaseIsClaimedAgain(_ backend: TestBackend) async throws {
        let clock = ManualClock()
        let (store, _) = try await Self.makeStore(backend, clock: clock)
        let job = try await store.enqueue(NewJob(type: "sync", concurrencyKey: "reg_1")).job
        let first = try await store.claim(owner: "w1", types: ["sync"], lease: 60)
        #expect(first?.id == job.id)
        #expect(first?.attempts == 1)
        // Held: nobody else gets it.
        #expect(try await store.claim(owner: "w2", types: ["sync"], lease: 60) == nil)
        // The worker dies; once the lease expires the job is claimable again.
        clock.advance(by: 61)
        let second = try await store.claim(owner: "w2", types: ["sync"], lease: 60)
        #expect(second?.id == job.id)
        #expect(second?.attempts == 2)
        // The dead worker can no longer complete it.
        #expect(try await store.complete(job.id, owner: "w1") == false)
        #expect(try await store.complete(job.id, owner: "w2") == true)
        #expect(try await store.get(job.id)?.status == .succeeded)
    }

    @Test(arguments: TestBackend.available) func failuresBackOffThenFail(_ backend: TestBackend) async throws {
        let clock = ManualClock()
        let (store, _) = try await Self.makeStore(backend, clock: clock)
        let job = try await store.enqueue(NewJob(type: "scan", maxAttempts: 3)).job
        var delays: [TimeInterval] = []
        for attempt in 1...3 {
            guard let claimed = try await store.claim(owner: "w", types: ["scan"], lease: 30) else {
                Issue.record("attempt \(attempt) not claimable")
                return
            }
            let status = try await store.fail(claimed.id, owner: "w", error: "boom \(attempt)", jitter: 0.5)
            if attempt < 3 {
                #expect(status == .queued)
                let j = try await store.get(job.id)!
                let delay = j.runAt.timeIntervalSince(clock.now())
                delays.append(delay)
                // Not due before the backoff.
                #expect(try await store.claim(owner: "w", types: ["scan"], lease: 30) == nil)
                clock.advance(by: delay + 1)
            } else {
                #expect(status == .failed)
            }
        }
        #expect(delays.count == 2)
        #expect(delays[1] > delays[0])
        let final = try await store.get(job.id)!
        #expect(final.status == .failed)
        #expect(final.error == "boom 3")
        #expect(final.attempts == 3)
    }

    @Test(arguments: TestBackend.available) func permanentErrorsDoNotRetry(_ backend: TestBackend) async throws {
        let (store, _) = try await Self.makeStore(backend)
        let job = try await store.enqueue(NewJob(type: "scan", maxAttempts: 5)).job
        _ = try await store.claim(owner: "w", types: ["scan"], lease: 30)
        #expect(try await store.fail(job.id, owner: "w", error: "bad input", permanent: true) == .failed)
    }

    @Test(arguments: TestBackend.available) func dedupeKeyReturnsTheActiveJob(_ backend: TestBackend) async throws {
        let (store, _) = try await Self.makeStore(backend)
        let a = try await store.enqueue(NewJob(type: "sync", dedupeKey: "sync:reg_1"))
        let b = try await store.enqueue(NewJob(type: "sync", dedupeKey: "sync:reg_1"))
        #expect(a.created && !b.created)
        #expect(a.job.id == b.job.id)
        _ = try await store.claim(owner: "w", types: ["sync"], lease: 30)
        #expect(try await store.enqueue(NewJob(type: "sync", dedupeKey: "sync:reg_1")).created == false)
        try await store.complete(a.job.id, owner: "w")
        // Finished: a new one may be queued.
        #expect(try await store.enqueue(NewJob(type: "sync", dedupeKey: "sync:reg_1")).created)
    }

    @Test(arguments: TestBackend.available) func theDatabaseRefusesASecondActiveJobForOneKey(_ backend: TestBackend) async throws {
        let (store, _) = try await Self.makeStore(backend)
        _ = try await store.enqueue(NewJob(type: "scan", dedupeKey: "scan:tag"))
        let refused = await #expect(throws: (any Error).self) {
            try await store.database.write { db in
                try db.execute("""
                    INSERT INTO jobs (id, type, status, payload, dedupe_key, run_at, created_at)
                    VALUES ('job_x', 'scan', 'queued', '{}', 'scan:tag', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')
                    """)
            }
        }
        if backend == .postgres { #expect((refused as? SQLDatabaseError)?.isUniqueViolation == true) }
        if backend == .sqlite { #expect(refused is DatabaseError) }
    }

    @Test(arguments: TestBackend.available) func perKeyAndGlobalLimits(_ backend: TestBackend) async throws {
        let (store, _) = try await Self.makeStore(backend)
        for _ in 0..<3 { _ = try await store.enqueue(NewJob(type: "scan", concurrencyKey: "reg_a")) }
        for _ in 0..<3 { _ = try await store.enqueue(NewJob(type: "scan", concurrencyKey: "reg_b")) }
        let limits = JobStore.ClaimLimits(global: 3, perKey: 2)
        var claimed: [Job] = []
        while let j = try await store.claim(owner: "w", types: ["scan"], lease: 60, limits: limits) { claimed.append(j) }
        #expect(claimed.count == 3)
        let byKey = Dictionary(grouping: claimed, by: { $0.concurrencyKey ?? "" }).mapValues(\.count)
        #expect(byKey.values.allSatisfy { $0 <= 2 })
    }

    @Test(arguments: TestBackend.available) func claimsTakeTheOldestAllowedJobAndExpiredLeasesFirst(_ backend: TestBackend) async throws {
        let clock = ManualClock()
        let (store, _) = try await Self.makeStore(backend, clock: clock)
        // reg_a's three jobs are older than reg_b's; reg_a may run two at once.
        var a: [String] = []
        for _ in 0..<3 { a.append(try await store.enqueue(NewJob(type: "scan", concurrencyKey: "reg_a")).job.id); clock.advance(by: 1) }
        let b = try await store.enqueue(NewJob(type: "scan", concurrencyKey: "reg_b")).job.id
        clock.advance(by: 1)
        let other = try await store.enqueue(NewJob(type: "notify")).job.id
        let later = try await store.enqueue(NewJob(type: "scan", runAt: clock.now().addingTimeInterval(600))).job.id
        let limits = JobStore.ClaimLimits(global: 8, perKey: 2)
        func claim(_ owner: String) async throws -> String? {
            try await store.claim(owner: owner, types: ["scan"], lease: 60, limits: limits)?.id
        }
        #expect(try await claim("w1") == a[0])
        #expect(try await claim("w2") == a[1])
        // reg_a is at its limit: its third job waits and reg_b's younger one goes.
        #expect(try await claim("w3") == b)
        // Not due yet, and not a claimed type: nothing.
        #expect(try await claim("w4") == nil)
        // w1 dies. Its expired lease is claimed before reg_a's queued third job.
        clock.advance(by: 30)
        #expect(try await store.renew(a[1], owner: "w2", lease: 60))
        #expect(try await store.renew(b, owner: "w3", lease: 60))
        clock.advance(by: 31)
        #expect(try await claim("w5") == a[0])
        #expect(try await claim("w6") == nil)
        #expect(try await store.complete(a[1], owner: "w2"))
        #expect(try await claim("w6") == a[2])
        for (id, owner) in [(a[0], "w5"), (a[2], "w6"), (b, "w3")] { #expect(try await store.complete(id, owner: owner)) }
        clock.advance(by: 600)
        #expect(try await claim("w7") == later)
        #expect(try await store.claim(owner: "w8", types: ["notify"], lease: 60)?.id == other)
    }

    @Test(arguments: TestBackend.available) func releaseHandsBackLeasesWithoutCountingAnAttempt(_ backend: TestBackend) async throws {
        let (store, _) = try await Self.makeStore(backend)
        let job = try await store.enqueue(NewJob(type: "sync")).job
        _ = try await store.claim(owner: "w-1", types: ["sync"], lease: 600)
        try await store.release(owner: "w-1")
        let j = try await store.get(job.id)!
        #expect(j.status == .queued)
        #expect(j.attempts == 0)
        #expect(try await store.claim(owner: "w-2", types: ["sync"], lease: 60)?.id == job.id)
    }

    @Test(arguments: TestBackend.available) func queuedJobsSurviveReopeningTheDatabase(_ backend: TestBackend) async throws {
        let (store, path) = try await Self.makeStore(backend)
        let job = try await store.enqueue(NewJob(type: "sync", payload: #"{"registryId":"reg_1"}"#)).job
        let (reopened, _) = try await Self.makeStore(backend, path: path)
        let again = try await reopened.get(job.id)
        #expect(again?.status == .queued)
        #expect(again?.payload == #"{"registryId":"reg_1"}"#)
    }

    @Test(arguments: TestBackend.available) func concurrentClaimersNeverShareAJob(_ backend: TestBackend) async throws {
        let (store, _) = try await Self.makeStore(backend)
        for _ in 0..<200 { _ = try await store.enqueue(NewJob(type: "scan")) }
        let limits = JobStore.ClaimLimits(global: 1000, perKey: 1000)
        let ids = try await withThrowingTaskGroup(of: [String].self) { group in
            for w in 0..<8 {
                group.addTask {
                    var mine: [String] = []
                    while let j = try await store.claim(owner: "w\(w)", types: ["scan"], lease: 60, limits: limits) {
                        mine.append(j.id)
                    }
                    return mine
                }
            }
            return try await group.reduce(into: [String]()) { $0 += $1 }
        }
        #expect(ids.count == 200)
        #expect(Set(ids).count == 200)
    }

    @Test func timestampsRoundTripAsRFC3339() {
        let d = Date(timeIntervalSince1970: 1_800_000_000)
        #expect(Timestamp.format(d) == "2027-01-15T08:00:00Z")
        #expect(Timestamp.parse("2027-01-15T08:00:00Z") == d)
        #expect(Timestamp.parse("2027-01-15T10:00:00+02:00") == d)
        #expect(Timestamp.parse("2027-01-15T08:00:00.5Z") == d.addingTimeInterval(0.5))
        for bad in ["", "2027-01-15", "2027-13-15T08:00:00Z", "2027-01-15T08:00:00", "x027-01-15T08:00:00Z",
            "2027-01-15T08:00:00Zjunk", "2027-1-15T08:00:00Z", "2027-01-15T10:00:00+0200", "2027-01-15T10:00:00+02"]
        {
            #expect(Timestamp.parse(bad) == nil, "\(bad)")
        }
    }

    @Test func timestampFormatAgreesWithFoundation() throws {
        // Foundation's ISO 8601 style is the oracle for the hand-written formatter (the
        // database holds its output) over 1900...9999, whole and fractional seconds.
        let style = Date.ISO8601FormatStyle(timeZone: try #require(TimeZone(secondsFromGMT: 0)))
        var t = -2_208_988_800.0
        while t < 253_402_300_799 {
            for date in [Date(timeIntervalSince1970: t), Date(timeIntervalSince1970: t + 0.999)] {
                let text = Timestamp.format(date)
                #expect(text == style.format(date), "\(t)")
                #expect(Timestamp.parse(text) == Date(timeIntervalSince1970: date.timeIntervalSince1970.rounded(.down)))
            }
            t += 86_400 * 41.3 + 3_599
        }
        #expect(Timestamp.format(Date(timeIntervalSince1970: -0.5)) == "1969-12-31T23:59:59Z")
    }
}

/// The worker pool on a real clock: cancelling a running job stops its handler.
@Suite struct WorkerPoolTests {
    actor Flag {
        var started = false
        var cancelled = false
        func start() { started = true }
        func cancel() { cancelled = true }
    }

    @Test(arguments: TestBackend.available) func cancellingARunningJobCancelsItsHandler(_ backend: TestBackend) async throws {
        let store = JobStore(database: try await backend.open().0)
        let flag = Flag()
        let workers = WorkerPool(
            store: store,
            handlers: ["scan": { _ in
                await flag.start()
                do {
                    while true { try await Task.sleep(for: .milliseconds(20)) }
                } catch {
                    await flag.cancel()
                    throw error
                }
            }],
            configuration: .init(workers: 1, lease: 3, pollInterval: .milliseconds(20)), logger: Logger(label: "test"))
        let job = try await store.enqueue(NewJob(type: "scan")).job
        let running = Task { try await workers.run() }
        defer { running.cancel() }
        var waited = 0
        while await !flag.started, waited < 250 { try await Task.sleep(for: .milliseconds(20)); waited += 1 }
        #expect(await flag.started)
        #expect(try await store.cancel(job.id))
        // The lease is renewed every second here; the next renewal finds it gone.
        waited = 0
        while await !flag.cancelled, waited < 250 { try await Task.sleep(for: .milliseconds(20)); waited += 1 }
        #expect(await flag.cancelled)
        #expect(try await store.get(job.id)?.status == .cancelled)
    }

    struct Undo: Error {}

    /// Workers take their next job in the transaction that completes the last one (the pool's
    /// own completion, or a handler's): every job runs once, and a completion whose
    /// transaction rolls back neither counts nor leaves a job claimed.
    @Test(arguments: TestBackend.available)
    func nextJobsClaimedWithACompletionRunOnceAndARolledBackOneClaimsNothing(_ backend: TestBackend) async throws {
        let pool = try await backend.open().0
        let store = JobStore(database: pool, backoff: JobBackoff(base: 0.05, cap: 0.05))
        let runs = Mutex<[String: Int]>([:])
        let failedOnce = Mutex(false)
        let workers = WorkerPool(
            store: store,
            handlers: [
                // Completes itself in its own transaction, once after a transaction that rolls back.
                "inline": { context in
                    runs.withLock { $0[context.job.id, default: 0] += 1 }
                    let undo = failedOnce.withLock { done in defer { done = true }; return !done }
                    try await store.database.write { db in
                        _ = try context.complete(result: "inline", now: Date(), in: db)
                        if undo { throw Undo() }
                    }
                    return nil
                },
                "plain": { context in
                    runs.withLock { $0[context.job.id, default: 0] += 1 }
                    return "plain"
                },
            ],
            configuration: .init(workers: 2, lease: 30, pollInterval: .milliseconds(20)), logger: Logger(label: "test"))
        var ids: [String] = []
        for i in 0..<40 { ids.append(try await store.enqueue(NewJob(type: i % 2 == 0 ? "inline" : "plain")).job.id) }
        let running = Task { try await workers.run() }
        defer { running.cancel() }
        var waited = 0
        func finished() async throws -> Int {
            try await pool.read { db in try db.int("SELECT COUNT(*) FROM jobs WHERE status = 'succeeded'") ?? 0 }
        }
        while try await finished() < ids.count, waited < 500 { try await Task.sleep(for: .milliseconds(20)); waited += 1 }
        #expect(try await finished() == ids.count)
        let counts = runs.withLock { $0 }
        // One inline job ran twice: its first completion was rolled back and retried.
        #expect(counts.values.reduce(0, +) == ids.count + 1)
        #expect(counts.values.filter { $0 == 2 }.count == 1)
        #expect(Set(counts.keys) == Set(ids))
        let running2 = try await pool.read { db in try db.int("SELECT COUNT(*) FROM jobs WHERE status = 'running'") ?? 0 }
        #expect(running2 == 0)
    }
}

/// The scheduler on a manual clock: periodic tasks run once per period however long it was
/// down, remember their last run across restarts, and retry a failure on the next tick.
@Suite struct SchedulerTests {
    final class Counter: Sendable {
        let runs = Mutex<[String]>([])
        func hit(_ name: String) { runs.withLock { $0.append(name) } }
        var all: [String] { runs.withLock { $0 } }
    }

    struct Boom: Error {}

    @Test(arguments: TestBackend.available) func dailyTasksRunOncePerDayAndCatchUpOnce(_ backend: TestBackend) async throws {
        let clock = ManualClock()
        let pool = try await backend.open().0
        let counter = Counter()
        let failNext = Mutex(true)
        func make() -> Scheduler {
            Scheduler(
                database: pool, clock: clock,
                tasks: [
                    ScheduledTask(name: "every-tick", period: 0) { _ in counter.hit("tick") },
                    ScheduledTask(name: "daily", period: 86_400) { _ in counter.hit("daily") },
                    ScheduledTask(name: "flaky", period: 86_400) { _ in
                        counter.hit("flaky")
                        if failNext.withLock({ let f = $0; $0 = false; return f }) { throw Boom() }
                    },
                ],
                logger: Logger(label: "test"))
        }
        let s = make()
        #expect(await s.tick() == ["every-tick", "daily", "flaky"])
        // Same instant and an hour later: only the per-tick task, plus the failed one's retry.
        clock.advance(by: 3600)
        #expect(await s.tick() == ["every-tick", "flaky"])
        clock.advance(by: 3600)
        #expect(await s.tick() == ["every-tick"])
        // A restart remembers the last runs.
        let restarted = make()
        #expect(await restarted.tick() == ["every-tick"])
        // Down for three days: each daily task runs once, then not again until a day later.
        clock.advance(by: 3 * 86_400)
        #expect(await restarted.tick() == ["every-tick", "daily", "flaky"])
        #expect(await restarted.tick() == ["every-tick"])
        clock.advance(by: 86_399)
        #expect(await restarted.tick() == ["every-tick"])
        clock.advance(by: 1)
        #expect(await restarted.tick() == ["every-tick", "daily", "flaky"])
        #expect(counter.all.filter { $0 == "daily" }.count == 3)
    }
}
