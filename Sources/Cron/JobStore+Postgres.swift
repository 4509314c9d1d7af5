import Foundation

/// The queue on PostgreSQL: its tables, and the claim several nodes make at once.
extension JobStore {
    /// The queue's tables on PostgreSQL (the same as `registerMigrations` makes in SQLite).
    public static let postgresMigrations: [SQLMigration] = [
        SQLMigration("cron.v1.jobs", """
            CREATE TABLE jobs (
                id TEXT PRIMARY KEY NOT NULL,
                type TEXT NOT NULL,
                status TEXT NOT NULL,
                payload TEXT NOT NULL DEFAULT '{}',
                org_id TEXT,
                concurrency_key TEXT,
                dedupe_key TEXT,
                attempts BIGINT NOT NULL DEFAULT 0,
                max_attempts BIGINT NOT NULL DEFAULT 5,
                run_at TEXT NOT NULL,
                lease_owner TEXT,
                lease_expires_at TEXT,
                progress_done BIGINT NOT NULL DEFAULT 0,
                progress_total BIGINT NOT NULL DEFAULT 0,
                error TEXT,
                result TEXT,
                created_at TEXT NOT NULL,
                started_at TEXT,
                finished_at TEXT
            );
            CREATE INDEX jobs_lease ON jobs(status, lease_expires_at);
            CREATE INDEX jobs_key ON jobs(concurrency_key, status);
            CREATE UNIQUE INDEX jobs_dedupe_active ON jobs(dedupe_key)
                WHERE dedupe_key IS NOT NULL AND status IN ('queued', 'running');
            """),
        SQLMigration("cron.v2.claim-order", "CREATE INDEX jobs_due ON jobs(status, run_at, created_at)"),
    ]

    /// The advisory lock claims take on PostgreSQL for the rest of their transaction.
    static let claimLockKey = 0x6867_636c_6169  // "hgclai"

    /// Claims on PostgreSQL: one at a time across every node (the limits count running jobs
    /// of all of them), each statement reading what the previous claim committed (read
    /// committed), the job's row taken with `FOR UPDATE SKIP LOCKED`.
    static func postgresClaim(
        owner: String, types: Set<String>, lease: TimeInterval, limits: ClaimLimits, now: Date, in db: any SQLConnection
    ) throws -> Job? {
        let t = now.ts
        _ = try db.query("SELECT pg_advisory_xact_lock(?)", [claimLockKey])
        var running = 0
        var blocked: [String] = []
        for row in try db.query(
            """
            SELECT concurrency_key, COUNT(*) FROM jobs
            WHERE status = 'running' AND lease_expires_at > ? GROUP BY concurrency_key
            """, [t])
        {
            let count = row.int(1) ?? 0
            running += count
            if let key = row.string(0), count >= limits.perKey { blocked.append(key) }
        }
        guard running < limits.global else { return nil }
        let typeList = jsonArray(types.sorted())
        let blockedList = jsonArray(blocked)
        let filter = """
            AND type IN (SELECT jsonb_array_elements_text(?::jsonb))
            AND (concurrency_key IS NULL OR concurrency_key NOT IN (SELECT jsonb_array_elements_text(?::jsonb)))
            """
        let expired = try db.queryOne(
            """
            SELECT * FROM jobs WHERE status = 'running' AND lease_expires_at <= ? \(filter)
            ORDER BY lease_expires_at LIMIT 1 FOR UPDATE SKIP LOCKED
            """, [t, typeList, blockedList])
        let row = try expired ?? db.queryOne(
            """
            SELECT * FROM jobs WHERE status = 'queued' AND run_at <= ? \(filter)
            ORDER BY run_at, created_at LIMIT 1 FOR UPDATE SKIP LOCKED
            """, [t, typeList, blockedList])
        guard let row else { return nil }
        return try markClaimed(Self.job(from: row), owner: owner, lease: lease, now: now, in: db)
    }
}
