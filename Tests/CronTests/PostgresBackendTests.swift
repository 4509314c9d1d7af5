import Cron
import Foundation
import Logging
import Synchronization
import SQLTestSupport
import Testing

/// The SQL layer's pieces that need no server: placeholders, statement splitting, URLs.
@Suite struct SQLLayerTests {
    @Test func placeholdersBecomeNumberedOutsideLiteralsAndComments() {
        #expect(postgresPlaceholders("SELECT ? , ?") == "SELECT $1 , $2")
        #expect(postgresPlaceholders("SELECT '?', \"a?\", ? -- what?\n, ?") == "SELECT '?', \"a?\", $1 -- what?\n, $2")
        #expect(postgresPlaceholders("SELECT 'it''s ?', ?") == "SELECT 'it''s ?', $1")
        #expect(postgresPlaceholders("SELECT ?::jsonb") == "SELECT $1::jsonb")
    }

    @Test func urlsParseLikeLibpq() throws {
        let t = try PostgresTarget(url: "postgres://hg:p%40ss@db.internal:6543/harbor?sslmode=verify-full&sslrootcert=/etc/ca.pem")
        #expect(t.user == "hg" && t.password == "p@ss" && t.host == "db.internal" && t.port == 6543)
        #expect(t.database == "harbor" && t.sslMode == .verifyFull && t.rootCertificate == "/etc/ca.pem")
        // The password never shows in what is logged.
        #expect(!t.description.contains("p@ss") && !t.description.contains("p%40ss"))
        let d = try PostgresTarget(url: "postgresql://hg@localhost/db")
        #expect(d.port == 5432 && d.sslMode == .prefer && d.password == nil)
        for bad in [
            "mysql://u@h/db", "postgres://h/db", "postgres://u@/db", "postgres://u@h", "postgres://u@h/db?sslmode=maybe",
            "postgres://u@h/db?sslmod=require", "postgres://u@h:0/db", "postgres://u@h/db?connect_timeout=x",
        ] {
            #expect(throws: SQLDatabaseError.self, "\(bad)") { try PostgresTarget(url: bad) }
        }
    }
}

/// What only several nodes on one PostgreSQL database can show, on a real server.
@Suite(.enabled(if: TestBackend.postgresURL != nil, "needs HARBORGUARD_TEST_POSTGRES_URL (make test starts a server)"))
struct PostgresBackendTests {
    /// Two nodes (two pools) claim from one queue at once: no job is taken twice, and the
    /// global limit counts both nodes' running jobs.
    @Test func twoNodesShareTheLimitsAndNeverShareAJob() async throws {
        let (first, name) = try await TestBackend.postgres.open()
        let (second, _) = try await TestBackend.postgres.open(name)
        let a = JobStore(database: first)
        let b = JobStore(database: second)
        for i in 0..<60 { _ = try await a.enqueue(NewJob(type: "scan", concurrencyKey: "reg_\(i % 3)")) }
        let limits = JobStore.ClaimLimits(global: 5, perKey: 2)
        let claimed = try await withThrowingTaskGroup(of: [Job].self) { group in
            for w in 0..<8 {
                let store = w % 2 == 0 ? a : b
                group.addTask {
                    var mine: [Job] = []
                    while let j = try await store.claim(owner: "n\(w % 2)-w\(w)", types: ["scan"], lease: 60, limits: limits) {
                        mine.append(j)
                    }
                    return mine
                }
            }
            return try await group.reduce(into: [Job]()) { $0 += $1 }
        }
        // Nothing completes, so the limits cap the claims at exactly the global limit.
        #expect(claimed.count == 5)
        #expect(Set(claimed.map(\.id)).count == claimed.count)
        #expect(Dictionary(grouping: claimed, by: { $0.concurrencyKey ?? "" }).values.allSatisfy { $0.count <= 2 })
        // Complete them all, from the other node than the claimer, then drain the queue.
        for j in claimed {
            let store = j.leaseOwner?.hasPrefix("n0") == true ? b : a
            #expect(try await store.complete(j.id, owner: j.leaseOwner ?? ""))
        }
        var done = claimed.count
        let drained = try await withThrowingTaskGroup(of: Int.self) { group in
            for w in 0..<8 {
                let store = w % 2 == 0 ? a : b
                group.addTask {
                    var n = 0
                    while let j = try await store.claim(owner: "d\(w)", types: ["scan"], lease: 60, limits: limits) {
                        #expect(try await store.complete(j.id, owner: "d\(w)"))
                        n += 1
                    }
                    return n
                }
            }
            return try await group.reduce(0, +)
        }
        done += drained
        #expect(done == 60)
        let succeeded = try await first.read { c in try c.int("SELECT COUNT(*) FROM jobs WHERE status = 'succeeded'") }
        #expect(succeeded == 60)
    }

    /// Serializable writes that collide are rerun, not lost: 8 concurrent read-modify-write
    /// increments of one row from two nodes add up.
    @Test func conflictingSerializableWritesAreRerun() async throws {
        let (first, name) = try await TestBackend.postgres.open()
        let (second, _) = try await TestBackend.postgres.open(name)
        try await first.write { c in
            try c.execute("CREATE TABLE counter (id BIGINT PRIMARY KEY, n BIGINT NOT NULL)")
            try c.execute("INSERT INTO counter VALUES (1, 0)")
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for w in 0..<8 {
                let db = w % 2 == 0 ? first : second
                group.addTask {
                    for _ in 0..<10 {
                        try await db.write { c in
                            let n = try c.int("SELECT n FROM counter WHERE id = 1") ?? 0
                            try c.execute("UPDATE counter SET n = ? WHERE id = 1", [n + 1])
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(try await first.read { c in try c.int("SELECT n FROM counter WHERE id = 1") } == 80)
    }

    /// One scheduler at a time: the second node waits while the first holds the lock, takes
    /// over when the first resigns, and again when the holder's session is killed.
    @Test func exactlyOneLeaderAndTakeoverWhenTheHolderGoes() async throws {
        let url = try #require(TestBackend.postgresURL)
        let key = Int.random(in: 1...1_000_000_000)
        let a = try PostgresLeaderLock(url: url, key: key)
        let b = try PostgresLeaderLock(url: url, key: key)
        // A check that fails (a slow connect under load) is "not the leader this tick"; a
        // scheduler checks again at its next tick, as these loops do.
        func becomesLeader(_ node: PostgresLeaderLock) async -> Bool {
            for _ in 0..<60 {
                if await node.isLeader() { return true }
                try? await Task.sleep(for: .milliseconds(500))
            }
            return false
        }
        #expect(await becomesLeader(a))
        #expect(await !b.isLeader())
        #expect(await a.isLeader())
        await a.resign()
        #expect(await becomesLeader(b))
        #expect(await !a.isLeader())
        // The holder's session dies (a crashed node, a cut connection): PostgreSQL frees the
        // lock and the other node takes it at its next check.
        let admin = try PostgreSQLDatabase(url: url, connections: 1)
        let killed = try await admin.withConnection { c in
            try c.int(
                "SELECT COUNT(pg_terminate_backend(pid, 5000)) FROM pg_locks WHERE locktype = 'advisory' AND objid = ? AND granted",
                [key & 0xffff_ffff])
        }
        #expect(killed == 1)
        #expect(await becomesLeader(a))
        // The old holder finds its session gone and the lock taken.
        #expect(await !b.isLeader())
        await a.resign()
        await b.resign()
        await admin.close()
    }

    /// A scheduler that is not the leader ticks without running anything.
    @Test func onlyTheLeadersSchedulerRunsTasks() async throws {
        let url = try #require(TestBackend.postgresURL)
        let (db, _) = try await TestBackend.postgres.open()
        let key = Int.random(in: 1...1_000_000_000)
        let runs = Mutex(0)
        func node() throws -> Scheduler {
            Scheduler(
                database: db, clock: ManualClock(),
                tasks: [ScheduledTask(name: "tick", period: 0) { _ in runs.withLock { $0 += 1 } }],
                logger: Logger(label: "test"), leadership: try PostgresLeaderLock(url: url, key: key))
        }
        let one = try node()
        let two = try node()
        // The first tick that gets the lock runs the task (a connect that fails under load
        // leaves that tick without a leader, as it would in a scheduler).
        var first = await one.tick()
        for _ in 0..<60 where first.isEmpty {
            try await Task.sleep(for: .milliseconds(500))
            first = await one.tick()
        }
        #expect(first == ["tick"])
        #expect(await two.tick() == [])
        #expect(await one.tick() == ["tick"])
        await one.leadership?.resign()
        #expect(await two.tick() == ["tick"])
        #expect(runs.withLock { $0 } == 3)
        await two.leadership?.resign()
    }

    /// A server that is not there is `unavailable` (the API's 503), not an unexpected error.
    @Test func anUnreachableServerIsUnavailable() async throws {
        let db = try PostgreSQLDatabase(url: "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=2")
        let error = await #expect(throws: SQLDatabaseError.self) { try await db.read { c in try c.int("SELECT 1") } }
        if case .unavailable = error {} else { Issue.record("expected unavailable, got \(String(describing: error))") }
        await db.close()
    }
}

/// Invalidations between nodes over LISTEN/NOTIFY, on a real server.
@Suite(.enabled(if: TestBackend.postgresURL != nil, "needs HARBORGUARD_TEST_POSTGRES_URL (make test starts a server)"))
struct PostgresInvalidationTests {
    actor Inbox {
        var payloads: [String?] = []
        var received: [String: ContinuousClock.Instant] = [:]
        func add(_ p: String?) {
            payloads.append(p)
            if let p { received[p] = ContinuousClock.now }
        }
        func wait(for p: String?, count: Int = 1, seconds: Double) async -> Bool {
            let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
            while ContinuousClock.now < deadline {
                if payloads.filter({ $0 == p }).count >= count { return true }
                try? await Task.sleep(for: .milliseconds(10))
            }
            return false
        }
    }

    /// A key revoked on node A reaches node B's listener within a second of the commit; a
    /// rolled-back change notifies nobody; a listener whose connection dies reconnects and says
    /// so (nil: drop every cached entry), then hears later changes.
    @Test func aCommittedChangeReachesTheOtherNodeWithinASecond() async throws {
        let url = try #require(TestBackend.postgresURL)
        let nodeA = try PostgreSQLDatabase(url: url)
        let inbox = Inbox()
        let listener = try PostgresInvalidationListener(url: url, retry: .milliseconds(100))
        let running = Task { await listener.run { await inbox.add($0) } }
        defer { running.cancel() }
        // Connected and listening (generous: the whole test suite runs beside this on 2 cores).
        #expect(await inbox.wait(for: nil, seconds: 60))

        struct Undo: Error {}
        await #expect(throws: Undo.self) {
            try await nodeA.write { c in
                try c.notifyInvalidation("key:key_rolled_back")
                throw Undo()
            }
        }
        let sent = ContinuousClock.now
        try await nodeA.write { c in try c.notifyInvalidation("key:key_revoked") }
        #expect(await inbox.wait(for: "key:key_revoked", seconds: 10))
        let arrived = try #require(await inbox.received["key:key_revoked"])
        #expect(arrived - sent < .seconds(1), "delivered \(arrived - sent) after the commit")
        #expect(await inbox.payloads.contains("key:key_rolled_back") == false)

        // The listener's backend is killed: it reconnects (a second nil) and hears the next change.
        _ = try await nodeA.withConnection { c in
            try c.int(
                "SELECT COUNT(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity WHERE query LIKE 'LISTEN%' AND pid <> pg_backend_pid()")
        }
        #expect(await inbox.wait(for: nil, count: 2, seconds: 30))
        try await nodeA.write { c in try c.notifyInvalidation("session:abc") }
        #expect(await inbox.wait(for: "session:abc", seconds: 10))
        await nodeA.close()
    }
}
