import Cron
import Foundation
import GRDB
import SQLTestSupport
import Testing

/// Claims by concurrency key: what a registry's sensor takes from the queue.
@Suite struct KeyedClaimTests {
    @Test(arguments: TestBackend.available) func claimsOnlyItsKeyAndTypesUpToTheLimit(_ backend: TestBackend) async throws {
        let clock = ManualClock()
        let (store, _) = try await JobStoreTests.makeStore(backend, clock: clock)
        let mine1 = try await store.enqueue(NewJob(type: "sensor_sync", concurrencyKey: "reg_a")).job
        clock.advance(by: 1)
        let mine2 = try await store.enqueue(NewJob(type: "sensor_scan", concurrencyKey: "reg_a")).job
        clock.advance(by: 1)
        _ = try await store.enqueue(NewJob(type: "sensor_scan", concurrencyKey: "reg_a"))
        _ = try await store.enqueue(NewJob(type: "sensor_scan", concurrencyKey: "reg_b"))
        _ = try await store.enqueue(NewJob(type: "scan", concurrencyKey: "reg_a"))
        let types: Set<String> = ["sensor_sync", "sensor_scan"]

        let first = try await store.claim(owner: "sensor:reg_a", types: types, concurrencyKey: "reg_a", lease: 60, limit: 2)
        #expect(first.map(\.id) == [mine1.id, mine2.id])
        #expect(first.allSatisfy { $0.status == .running && $0.attempts == 1 && $0.leaseOwner == "sensor:reg_a" })
        // One of its key left; the other key's and the server's own types are never handed out.
        let second = try await store.claim(owner: "sensor:reg_a", types: types, concurrencyKey: "reg_a", lease: 60, limit: 10)
        #expect(second.count == 1)
        #expect(try await store.claim(owner: "sensor:reg_a", types: types, concurrencyKey: "reg_a", lease: 60, limit: 10).isEmpty)
        let limits = JobStore.ClaimLimits(global: 10, perKey: 10)
        #expect(try await store.claim(owner: "w", types: ["scan"], lease: 60, limits: limits)?.concurrencyKey == "reg_a")
        // The server's worker pool never takes sensor jobs (it claims only the types it handles).
        #expect(try await store.claim(owner: "w", types: ["sync", "scan"], lease: 60, limits: limits) == nil)

        // An expired lease is claimable again; the holder's renew, completion and release then fail.
        clock.advance(by: 61)
        let again = try await store.claim(owner: "sensor:other", types: types, concurrencyKey: "reg_a", lease: 60, limit: 1)
        #expect(again.map(\.id) == [mine1.id])
        #expect(again.first?.attempts == 2)
        let now = clock.now()
        let lost = try await store.database.write { db in
            (try JobStore.renew(mine1.id, owner: "sensor:reg_a", lease: 60, now: now, in: db),
             try JobStore.complete(mine1.id, owner: "sensor:reg_a", result: nil, now: now, in: db),
             try JobStore.release(mine1.id, owner: "sensor:reg_a", in: db))
        }
        #expect(lost.0 == nil && lost.1 == false && lost.2 == false)
    }

    @Test(arguments: TestBackend.available) func renewReleaseCompleteAndFailInsideATransaction(_ backend: TestBackend) async throws {
        let clock = ManualClock()
        let (store, _) = try await JobStoreTests.makeStore(backend, clock: clock)
        let a = try await store.enqueue(NewJob(type: "sensor_scan", concurrencyKey: "k", maxAttempts: 2)).job
        let b = try await store.enqueue(NewJob(type: "sensor_scan", concurrencyKey: "k")).job
        let claimed = try await store.claim(owner: "o", types: ["sensor_scan"], concurrencyKey: "k", lease: 30, limit: 5)
        #expect(claimed.count == 2)
        clock.advance(by: 20)
        let now = clock.now()
        let renewed = try await store.database.write { db in try JobStore.renew(a.id, owner: "o", lease: 30, now: now, in: db) }
        #expect(renewed == now.addingTimeInterval(30))
        // Renewed: not claimable after the first lease would have run out.
        clock.advance(by: 15)
        #expect(try await store.claim(owner: "x", types: ["sensor_scan"], concurrencyKey: "k", lease: 30, limit: 5).map(\.id) == [b.id])

        // Release hands it back without counting the attempt.
        let released = try await store.database.write { db in try JobStore.release(a.id, owner: "o", in: db) }
        #expect(released)
        let back = try await store.get(a.id)
        #expect(back?.status == .queued && back?.attempts == 0 && back?.leaseOwner == nil)

        // A retryable failure requeues with backoff until attempts run out.
        _ = try await store.claim(owner: "o", types: ["sensor_scan"], concurrencyKey: "k", lease: 30, limit: 1)
        let t1 = clock.now()
        let backoff = JobBackoff(base: 10, cap: 100)
        let first = try await store.database.write { db in
            try JobStore.fail(a.id, owner: "o", error: "unreachable", permanent: false, backoff: backoff, unit: 0, now: t1, in: db)
        }
        #expect(first == .queued)
        #expect(try await store.get(a.id)?.runAt == t1.addingTimeInterval(5))
        clock.advance(by: 6)
        _ = try await store.claim(owner: "o", types: ["sensor_scan"], concurrencyKey: "k", lease: 30, limit: 1)
        let t2 = clock.now()
        let second = try await store.database.write { db in
            try JobStore.fail(a.id, owner: "o", error: "unreachable", permanent: false, backoff: backoff, unit: 0, now: t2, in: db)
        }
        #expect(second == .failed)

        // Completing records the result once; a second completion changes nothing.
        let t3 = clock.now()
        let done = try await store.database.write { db in
            (try JobStore.complete(b.id, owner: "x", result: "{}", now: t3, in: db),
             try JobStore.complete(b.id, owner: "x", result: "{}", now: t3, in: db),
             try JobStore.get(b.id, in: db)?.status)
        }
        #expect(done.0 == true && done.1 == false && done.2 == .succeeded)
    }
}
