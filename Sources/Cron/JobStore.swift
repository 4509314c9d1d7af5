public import Foundation
public import GRDB

/// The durable job queue, in SQLite or PostgreSQL. Claims take a lease; a job whose lease
/// expired (its worker died) is claimable again, so a crash or `kill -9` never loses work.
/// On PostgreSQL several nodes share the queue: claims are serialized by a transaction-level
/// advisory lock (so the global and per-key limits hold across nodes) and take the job's row
/// with `FOR UPDATE SKIP LOCKED`.
public struct JobStore: Sendable {
    public let database: any SQLDatabase
    public let clock: any JobClock
    public let backoff: JobBackoff

    public init(database: any SQLDatabase, clock: any JobClock = SystemJobClock(), backoff: JobBackoff = JobBackoff()) {
        self.database = database
        self.clock = clock
        self.backoff = backoff
    }

    /// The queue in an embedded SQLite database.
    public init(writer: any DatabaseWriter, clock: any JobClock = SystemJobClock(), backoff: JobBackoff = JobBackoff()) {
        self.init(database: SQLiteDatabase(writer: writer), clock: clock, backoff: backoff)
    }


    /// Registers the queue's tables in a migrator owned by the executable.
    public static func registerMigrations(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("cron.v1.jobs") { db in
            try db.execute(sql: """
                CREATE TABLE jobs (
                    id TEXT PRIMARY KEY NOT NULL,
                    type TEXT NOT NULL,
                    status TEXT NOT NULL,
                    payload TEXT NOT NULL DEFAULT '{}',
                    org_id TEXT,
                    concurrency_key TEXT,
                    dedupe_key TEXT,
                    attempts INTEGER NOT NULL DEFAULT 0,
                    max_attempts INTEGER NOT NULL DEFAULT 5,
                    run_at TEXT NOT NULL,
                    lease_owner TEXT,
                    lease_expires_at TEXT,
                    progress_done INTEGER NOT NULL DEFAULT 0,
                    progress_total INTEGER NOT NULL DEFAULT 0,
                    error TEXT,
                    result TEXT,
                    created_at TEXT NOT NULL,
                    started_at TEXT,
                    finished_at TEXT
                );
                CREATE INDEX jobs_claim ON jobs(status, run_at);
                CREATE INDEX jobs_lease ON jobs(status, lease_expires_at);
                CREATE INDEX jobs_key ON jobs(concurrency_key, status);
                CREATE UNIQUE INDEX jobs_dedupe_active ON jobs(dedupe_key)
                    WHERE dedupe_key IS NOT NULL AND status IN ('queued', 'running');
                """)
        }
        // Claims walk due jobs in (run_at, created_at) order straight off this index and stop at
        // the first one allowed, instead of testing and sorting every queued row.
        migrator.registerMigration("cron.v2.claim-order") { db in
            try db.execute(sql: """
                CREATE INDEX jobs_due ON jobs(status, run_at, created_at);
                DROP INDEX jobs_claim;
                """)
        }
    }

    public static func newID() -> String {
        "job_" + randomHex(bytes: 12)
    }

    /// Enqueues a job; when a queued or running job with the same dedupe key exists,
    /// returns that one instead (`created` false).
    @discardableResult
    public func enqueue(_ new: NewJob) async throws -> (job: Job, created: Bool) {
        let now = clock.now()
        return try await database.write { db in
            try Self.enqueue(new, now: now, in: db)
        }
    }

    /// The same, inside a caller's transaction.
    public static func enqueue(_ new: NewJob, now: Date, in db: any SQLConnection) throws -> (job: Job, created: Bool) {
        if let key = new.dedupeKey,
           let existing = try db.queryOne(
               "SELECT * FROM jobs WHERE dedupe_key = ? AND status IN ('queued','running')", [key])
        {
            return (Self.job(from: existing), false)
        }
        let job = Job(
            id: newID(), type: new.type, status: .queued, payload: new.payload, orgId: new.orgId,
            concurrencyKey: new.concurrencyKey, dedupeKey: new.dedupeKey, attempts: 0,
            maxAttempts: max(1, new.maxAttempts), runAt: new.runAt ?? now, leaseOwner: nil, leaseExpiresAt: nil,
            progressDone: 0, progressTotal: 0, error: nil, result: nil, createdAt: now, startedAt: nil, finishedAt: nil)
        try db.execute(
            """
            INSERT INTO jobs (id, type, status, payload, org_id, concurrency_key, dedupe_key, attempts,
                max_attempts, run_at, created_at)
            VALUES (?, ?, 'queued', ?, ?, ?, ?, 0, ?, ?, ?)
            """,
            [
                job.id, job.type, job.payload, job.orgId, job.concurrencyKey, job.dedupeKey, job.maxAttempts,
                job.runAt.ts, now.ts,
            ])
        return (job, true)
    }

    public func get(_ id: String) async throws -> Job? {
        try await database.read { db in try Self.get(id, in: db) }
    }

    /// Limits applied when claiming.
    public struct ClaimLimits: Sendable {
        /// Running jobs in total, across every worker sharing this database.
        public var global: Int
        /// Running jobs per concurrency key (per registry).
        public var perKey: Int

        public init(global: Int = 8, perKey: Int = 2) {
            self.global = global
            self.perKey = perKey
        }
    }

    /// Claims the next due job of one of `types` for `owner`, with a lease of `lease` seconds.
    /// Expired leases count as claimable; limits count only live leases.
    public func claim(
        owner: String, types: Set<String>, lease: TimeInterval, limits: ClaimLimits = ClaimLimits()
    ) async throws -> Job? {
        let now = clock.now()
        return try await database.write(isolation: .readCommitted) { db in
            try Self.claim(owner: owner, types: types, lease: lease, limits: limits, now: now, in: db)
        }
    }

    static func claim(
        owner: String, types: Set<String>, lease: TimeInterval, limits: ClaimLimits, now: Date, in db: any SQLConnection
    ) throws -> Job? {
        guard !types.isEmpty else { return nil }
        if let sqlite = db.grdb {
            return try sqliteClaim(owner: owner, types: types, lease: lease, limits: limits, now: now, in: sqlite)
        }
        return try postgresClaim(owner: owner, types: types, lease: lease, limits: limits, now: now, in: db)
    }

    /// The SQLite claim (one writer at a time, so no lock is needed).
    static func sqliteClaim(
        owner: String, types: Set<String>, lease: TimeInterval, limits: ClaimLimits, now: Date, in db: Database
    ) throws -> Job? {
        guard !types.isEmpty else { return nil }
        let t = now.ts
        // Cached statements: claims are the queue's hot path, and preparing (with GRDB's
        // authorizer pass) costs more than running these queries. Each query reads an index
        // range and stops early: live leases (a handful of rows), then the oldest expired
        // lease, then the oldest due queued job, skipping keys already at `perKey`.
        var running = 0
        var blocked: [String] = []
        let live = try Row.fetchCursor(
            db.cachedStatement(sql: """
                SELECT concurrency_key, COUNT(*) FROM jobs INDEXED BY jobs_lease
                WHERE status = 'running' AND lease_expires_at > ? GROUP BY concurrency_key
                """),
            arguments: [t])
        while let row = try live.next() {
            let count: Int = row[1]
            running += count
            if let key: String = row[0], count >= limits.perKey { blocked.append(key) }
        }
        guard running < limits.global else { return nil }
        let typeList = jsonArray(types.sorted())
        let blockedList = jsonArray(blocked)
        let expired = try Row.fetchOne(
            db.cachedStatement(sql: """
                SELECT * FROM jobs INDEXED BY jobs_lease
                WHERE status = 'running' AND lease_expires_at <= ?
                  AND type IN (SELECT value FROM json_each(?))
                  AND (concurrency_key IS NULL OR concurrency_key NOT IN (SELECT value FROM json_each(?)))
                ORDER BY status, lease_expires_at LIMIT 1
                """),
            arguments: [t, typeList, blockedList])
        let row = try expired ?? Row.fetchOne(
            db.cachedStatement(sql: """
                SELECT * FROM jobs INDEXED BY jobs_due
                WHERE status = 'queued' AND run_at <= ?
                  AND type IN (SELECT value FROM json_each(?))
                  AND (concurrency_key IS NULL OR concurrency_key NOT IN (SELECT value FROM json_each(?)))
                ORDER BY status, run_at, created_at LIMIT 1
                """),
            arguments: [t, typeList, blockedList])
        guard let row else { return nil }
        return try markClaimed(Self.job(from: row), owner: owner, lease: lease, now: now, in: db.sql)
    }

    /// A JSON array of strings, for `json_each` (one cached statement whatever the list's length).
    static func jsonArray(_ values: [String]) -> String {
        String(decoding: (try? JSONEncoder().encode(values)) ?? Data("[]".utf8), as: UTF8.self)
    }

    /// Takes the lease on a claimable job row: running, one more attempt, `owner` until now + `lease`.
    static func markClaimed(_ claimed: Job, owner: String, lease: TimeInterval, now: Date, in db: any SQLConnection) throws -> Job {
        var job = claimed
        let expires = now.addingTimeInterval(lease)
        job.status = .running
        job.attempts += 1
        job.leaseOwner = owner
        job.leaseExpiresAt = expires
        job.startedAt = job.startedAt ?? now
        try db.execute(
            """
            UPDATE jobs SET status = 'running', attempts = ?, lease_owner = ?, lease_expires_at = ?,
                started_at = COALESCE(started_at, ?) WHERE id = ?
            """, [job.attempts, owner, expires.ts, now.ts, job.id])
        return job
    }

    /// Extends a lease still held by `owner`; false when the lease was lost (expired and reclaimed, or cancelled).
    public func renew(_ id: String, owner: String, lease: TimeInterval) async throws -> Bool {
        let now = clock.now()
        return try await database.write { db in try Self.renew(id, owner: owner, lease: lease, now: now, in: db) != nil }
    }

    public func progress(_ id: String, done: Int, total: Int) async throws {
        try await database.write { db in
            try db.execute("UPDATE jobs SET progress_done = ?, progress_total = ? WHERE id = ?", [done, total, id])
        }
    }

    /// Marks a job succeeded if `owner` still holds it.
    @discardableResult
    public func complete(_ id: String, owner: String, result: String? = nil) async throws -> Bool {
        let now = clock.now()
        return try await database.write { db in try Self.complete(id, owner: owner, result: result, now: now, in: db) }
    }

    /// Records a failed attempt: requeues with backoff while attempts remain, else `failed`.
    /// `permanent` skips the retries (bad input that will never succeed).
    @discardableResult
    public func fail(_ id: String, owner: String, error: String, permanent: Bool = false, jitter: Double? = nil)
        async throws -> JobStatus?
    {
        let now = clock.now()
        let unit = jitter ?? Double.random(in: 0..<1)
        let backoff = self.backoff
        return try await database.write { db in
            try Self.fail(id, owner: owner, error: error, permanent: permanent, backoff: backoff, unit: unit, now: now, in: db)
        }
    }

    /// Cancels a queued or running job; a running job's worker notices at its next renew.
    @discardableResult
    public func cancel(_ id: String) async throws -> Bool {
        let now = clock.now()
        return try await database.write { db in try Self.cancel(id, now: now, in: db) }
    }

    /// The same, inside a caller's transaction (a running job's worker sees the lost lease
    /// within seconds and stops). Returns whether a queued or running job was cancelled.
    @discardableResult
    public static func cancel(_ id: String, now: Date, in db: any SQLConnection) throws -> Bool {
        try db.execute(
            """
            UPDATE jobs SET status = 'cancelled', finished_at = ?, lease_owner = NULL, lease_expires_at = NULL
            WHERE id = ? AND status IN ('queued', 'running')
            """,
            [now.ts, id]) == 1
    }

    public static func setPayload(_ payload: String, jobId: String, in db: any SQLConnection) throws {
        try db.execute("UPDATE jobs SET payload = ? WHERE id = ? AND payload <> ?", [payload, jobId, payload])
    }

    @discardableResult
    public static func cancel(concurrencyKey: String, error: String, now: Date, in db: any SQLConnection) throws -> Int {
        try db.execute(
            """
            UPDATE jobs SET status = 'cancelled', finished_at = ?, lease_owner = NULL, lease_expires_at = NULL,
                error = ? WHERE concurrency_key = ? AND status IN ('queued', 'running')
            """,
            [now.ts, error, concurrencyKey])
    }

    /// Returns unfinished leases held by `owner` to the queue (graceful shutdown).
    public func release(owner: String) async throws {
        try await database.write { db in
            try db.execute(
                """
                UPDATE jobs SET status = 'queued', lease_owner = NULL, lease_expires_at = NULL,
                    attempts = \(Self.greatest(db))(attempts - 1, 0)
                WHERE lease_owner = ? AND status = 'running'
                """,
                [owner])
        }
    }

    public func counts(concurrencyKey: String) async throws -> (queued: Int, running: Int) {
        try await database.read { db in
            let q = try db.int(
                "SELECT COUNT(*) FROM jobs WHERE concurrency_key = ? AND status = 'queued'", [concurrencyKey]) ?? 0
            let r = try db.int(
                "SELECT COUNT(*) FROM jobs WHERE concurrency_key = ? AND status = 'running'", [concurrencyKey]) ?? 0
            return (q, r)
        }
    }

    /// The two-argument maximum: SQLite's scalar `MAX`, PostgreSQL's `GREATEST`.
    static func greatest(_ db: any SQLConnection) -> String {
        db.dialect == .postgres ? "GREATEST" : "MAX"
    }

    static func job(from row: Row) -> Job {
        job(from: SQLRow(row))
    }

    static func job(from row: SQLRow) -> Job {
        func date(_ c: String) -> Date? {
            row.string(c).flatMap(Timestamp.parse)
        }
        return Job(
            id: row.string("id") ?? "", type: row.string("type") ?? "",
            status: JobStatus(rawValue: row.string("status") ?? "") ?? .failed,
            payload: row.string("payload") ?? "{}", orgId: row.string("org_id"), concurrencyKey: row.string("concurrency_key"),
            dedupeKey: row.string("dedupe_key"), attempts: row.int("attempts") ?? 0, maxAttempts: row.int("max_attempts") ?? 1,
            runAt: date("run_at") ?? Date(timeIntervalSince1970: 0), leaseOwner: row.string("lease_owner"),
            leaseExpiresAt: date("lease_expires_at"), progressDone: row.int("progress_done") ?? 0,
            progressTotal: row.int("progress_total") ?? 0, error: row.string("error"), result: row.string("result"),
            createdAt: date("created_at") ?? Date(timeIntervalSince1970: 0), startedAt: date("started_at"),
            finishedAt: date("finished_at"))
    }
}

/// Random lowercase hex from the system CSPRNG.
public func randomHex(bytes: Int) -> String {
    var g = SystemRandomNumberGenerator()
    var s = ""
    s.reserveCapacity(bytes * 2)
    for _ in 0..<bytes {
        let b = UInt8.random(in: 0...255, using: &g)
        s += String(b >> 4, radix: 16) + String(b & 0xf, radix: 16)
    }
    return s
}

extension Date {
    /// The stored form of a date (RFC 3339 UTC, whole seconds).
    var ts: String { Timestamp.format(self) }
}

// MARK: - Claims by concurrency key (a remote worker that serves one key, e.g. a registry's sensor)

extension JobStore {
    /// Claims up to `limit` due jobs of `types` whose concurrency key is `concurrencyKey`, for
    /// `owner`, with a lease of `lease` seconds. Due means queued and `run_at` passed, or
    /// running with an expired lease. The global and per-key limits do not apply: the caller
    /// runs the work on its own machine and asks for as much as it can take.
    public func claim(
        owner: String, types: Set<String>, concurrencyKey: String, lease: TimeInterval, limit: Int
    ) async throws -> [Job] {
        let now = clock.now()
        return try await database.write(isolation: .readCommitted) { db in
            try Self.claim(owner: owner, types: types, concurrencyKey: concurrencyKey, lease: lease, limit: limit, now: now, in: db)
        }
    }

    /// The same, inside a caller's transaction.
    public static func claim(
        owner: String, types: Set<String>, concurrencyKey: String, lease: TimeInterval, limit: Int, now: Date,
        in db: any SQLConnection
    ) throws -> [Job] {
        guard !types.isEmpty, limit > 0 else { return [] }
        let t = now.ts
        let placeholders = Array(repeating: "?", count: types.count).joined(separator: ",")
        var args: [any SQLBindable] = [concurrencyKey, t, t]
        args.append(contentsOf: types.sorted())
        args.append(limit)
        // Another node's claim in progress holds its rows: skip them rather than wait.
        let lock = db.dialect == .postgres ? "FOR UPDATE SKIP LOCKED" : ""
        let rows = try db.query(
            """
            SELECT * FROM jobs
            WHERE concurrency_key = ?
              AND ((status = 'queued' AND run_at <= ?) OR (status = 'running' AND lease_expires_at <= ?))
              AND type IN (\(placeholders))
            ORDER BY run_at, created_at
            LIMIT ? \(lock)
            """,
            args)
        return try rows.map { row in try markClaimed(job(from: row), owner: owner, lease: lease, now: now, in: db) }
    }

    /// Extends a lease still held by `owner`, inside a caller's transaction; the new expiry,
    /// or nil when the lease was lost (cancelled, finished, or expired and reclaimed by another owner).
    public static func renew(_ id: String, owner: String, lease: TimeInterval, now: Date, in db: any SQLConnection) throws -> Date? {
        let expires = now.addingTimeInterval(lease)
        let changed = try db.execute(
            "UPDATE jobs SET lease_expires_at = ? WHERE id = ? AND lease_owner = ? AND status = 'running'",
            [expires.ts, id, owner])
        return changed == 1 ? expires : nil
    }

    /// Returns one unfinished lease held by `owner` to the queue, not counting the attempt
    /// (a worker shutting down); false when `owner` did not hold it.
    public static func release(_ id: String, owner: String, in db: any SQLConnection) throws -> Bool {
        try db.execute(
            """
            UPDATE jobs SET status = 'queued', lease_owner = NULL, lease_expires_at = NULL,
                attempts = \(greatest(db))(attempts - 1, 0)
            WHERE id = ? AND lease_owner = ? AND status = 'running'
            """,
            [id, owner]) == 1
    }

    /// Marks a job succeeded if `owner` still holds it, inside a caller's transaction (so the
    /// job's outcome and what it produced are recorded together).
    public static func complete(_ id: String, owner: String, result: String?, now: Date, in db: any SQLConnection) throws -> Bool {
        try db.execute(
            """
            UPDATE jobs SET status = 'succeeded', finished_at = ?, lease_owner = NULL, lease_expires_at = NULL,
                error = NULL, result = ? WHERE id = ? AND lease_owner = ? AND status = 'running'
            """,
            [now.ts, result, id, owner]) == 1
    }

    /// Records a failed attempt inside a caller's transaction: requeued with `backoff`
    /// while attempts remain (and the failure is not `permanent`), else `failed`. Nil when
    /// `owner` did not hold the job.
    public static func fail(
        _ id: String, owner: String, error: String, permanent: Bool, backoff: JobBackoff, unit: Double, now: Date,
        in db: any SQLConnection
    ) throws -> JobStatus? {
        guard
            let row = try db.queryOne(
                "SELECT * FROM jobs WHERE id = ? AND lease_owner = ? AND status = 'running'", [id, owner])
        else { return nil }
        let job = Self.job(from: row)
        if permanent || job.attempts >= job.maxAttempts {
            try db.execute(
                """
                UPDATE jobs SET status = 'failed', error = ?, finished_at = ?, lease_owner = NULL,
                    lease_expires_at = NULL WHERE id = ?
                """,
                [error, now.ts, id])
            return .failed
        }
        let next = now.addingTimeInterval(backoff.delay(afterAttempt: job.attempts, unit: unit))
        try db.execute(
            """
            UPDATE jobs SET status = 'queued', error = ?, run_at = ?, lease_owner = NULL,
                lease_expires_at = NULL WHERE id = ?
            """,
            [error, next.ts, id])
        return .queued
    }

    /// A job by id inside a caller's transaction.
    public static func get(_ id: String, in db: any SQLConnection) throws -> Job? {
        try db.queryOne("SELECT * FROM jobs WHERE id = ?", [id]).map(Self.job(from:))
    }
}
