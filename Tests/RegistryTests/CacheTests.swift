import Foundation
import Testing
@testable import Registry

@Suite struct ExpiringCacheTests {
    struct Boom: Error {}

    @Test func concurrentCallersShareOneFetchAndFailuresAreNotCached() async throws {
        let clock = TestClock()
        let cache = ExpiringCache<String, Int>(now: { clock.now })
        let fetches = Counter()
        try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<50 {
                group.addTask {
                    try await cache.value(for: "k") {
                        await fetches.hit("k")
                        try await Task.sleep(for: .milliseconds(50))
                        return (42, clock.now.addingTimeInterval(60))
                    }
                }
            }
            for try await v in group { #expect(v == 42) }
        }
        #expect(await fetches.count("k") == 1)
        await #expect(throws: Boom.self) { try await cache.value(for: "bad") { throw Boom() } }
        #expect(try await cache.value(for: "bad") { (7, clock.now.addingTimeInterval(60)) } == 7)
        // Expired values are fetched again; invalidated ones too.
        clock.advance(61)
        #expect(try await cache.value(for: "k") { (43, clock.now.addingTimeInterval(60)) } == 43)
        await cache.invalidate("k")
        #expect(try await cache.value(for: "k") { (44, clock.now.addingTimeInterval(60)) } == 44)
    }

    @Test func prunesExpiredEntriesOnceLarge() async throws {
        let clock = TestClock()
        let cache = ExpiringCache<Int, Int>(now: { clock.now })
        for i in 0..<600 { _ = try await cache.value(for: i) { (i, clock.now.addingTimeInterval(10)) } }
        #expect(await cache.count == 600)
        clock.advance(20)
        _ = try await cache.value(for: 1000) { (1, clock.now.addingTimeInterval(10)) }
        #expect(await cache.count == 1)
    }
}
