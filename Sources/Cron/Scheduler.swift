public import Foundation
public import GRDB
public import Logging
public import ServiceLifecycle

/// A recurring piece of work the scheduler runs: every tick (`period` 0) or at most once
/// per `period`, however long the appliance was down (a scheduler that was off for three
/// days runs a daily task once, not three times).
public struct ScheduledTask: Sendable {
    public var name: String
    public var period: TimeInterval
    public var run: @Sendable (Date) async throws -> Void

    public init(name: String, period: TimeInterval, run: @escaping @Sendable (Date) async throws -> Void) {
        self.name = name
        self.period = period
        self.run = run
    }
}

/// The embedded scheduler: a Service that ticks on an injectable clock. When each task
/// last ran is kept in SQLite, so a restart neither repeats nor skips a periodic task.
/// Tests call `tick()` with a `ManualClock` and never sleep.
///
/// With several nodes on one PostgreSQL database, `leadership` decides which node's scheduler
/// runs the tasks: the others tick without running anything until the holder goes away.
public struct Scheduler: Service {
    public let database: any SQLDatabase
    public let clock: any JobClock
    public let interval: Duration
    public let tasks: [ScheduledTask]
    public let logger: Logger
    public let heartbeat: Heartbeat
    public let leadership: (any SchedulerLeadership)?

    public init(
        database: any SQLDatabase, clock: any JobClock = SystemJobClock(), interval: Duration = .seconds(60),
        tasks: [ScheduledTask], logger: Logger, heartbeat: Heartbeat = Heartbeat(),
        leadership: (any SchedulerLeadership)? = nil
    ) {
        self.database = database
        self.clock = clock
        self.interval = interval
        self.tasks = tasks
        self.logger = logger
        self.heartbeat = heartbeat
        self.leadership = leadership
    }

    public init(
        writer: any DatabaseWriter, clock: any JobClock = SystemJobClock(), interval: Duration = .seconds(60),
        tasks: [ScheduledTask], logger: Logger, heartbeat: Heartbeat = Heartbeat()
    ) {
        self.init(
            database: SQLiteDatabase(writer: writer), clock: clock, interval: interval, tasks: tasks, logger: logger,
            heartbeat: heartbeat)
    }

    public static let postgresMigrations: [SQLMigration] = [
        SQLMigration("cron.v2.scheduler", """
            CREATE TABLE scheduler_runs (
                task TEXT PRIMARY KEY NOT NULL,
                last_run_at TEXT NOT NULL,
                last_error TEXT
            )
            """),
    ]

    public static func registerMigrations(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("cron.v2.scheduler") { db in
            try db.execute(sql: """
                CREATE TABLE scheduler_runs (
                    task TEXT PRIMARY KEY NOT NULL,
                    last_run_at TEXT NOT NULL,
                    last_error TEXT
                );
                """)
        }
    }

    /// Runs every task that is due now; returns the names of those that ran (successfully or not).
    @discardableResult
    public func tick() async -> [String] {
        let now = clock.now()
        heartbeat.beat()
        if let leadership, await !leadership.isLeader() { return [] }
        var ran: [String] = []
        let last: [String: Date] = (try? await database.read { db in
            var out: [String: Date] = [:]
            for row in try db.query("SELECT task, last_run_at FROM scheduler_runs", []) {
                if let task = row.string(0), let d = row.string(1).flatMap(Timestamp.parse) { out[task] = d }
            }
            return out
        }) ?? [:]
        for task in tasks {
            if task.period > 0, let previous = last[task.name], now.timeIntervalSince(previous) < task.period,
               previous <= now  // a clock set back does not stall a task forever
            {
                continue
            }
            ran.append(task.name)
            var failure: String?
            do {
                try await task.run(now)
            } catch {
                failure = "\(error)"
                logger.warning("scheduled task failed", metadata: ["task": "\(task.name)", "error": "\(error)"])
            }
            // A failed periodic task is retried on the next tick, not a period later.
            guard failure == nil || task.period == 0 else { continue }
            let name = task.name
            let error = failure
            _ = try? await database.write { db in
                try db.execute(
                    """
                    INSERT INTO scheduler_runs (task, last_run_at, last_error) VALUES (?, ?, ?)
                    ON CONFLICT(task) DO UPDATE SET last_run_at = excluded.last_run_at, last_error = excluded.last_error
                    """,
                    [name, Timestamp.format(now), error])
            }
        }
        return ran
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            await tick()
            let interval = self.interval
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
        await leadership?.resign()
    }
}
