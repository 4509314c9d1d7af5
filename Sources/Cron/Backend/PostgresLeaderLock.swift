public import Logging
import NIOCore
import PostgresNIO

/// Who runs the scheduler when several nodes share one PostgreSQL database: the node whose
/// session holds a PostgreSQL advisory lock. The lock belongs to a connection of its own,
/// outside the pool (a session lock would otherwise travel with a pooled connection), with
/// TCP keepalives so a partitioned holder's session ends and another node takes over.
public actor PostgresLeaderLock: SchedulerLeadership {
    let target: PostgresTarget
    let key: Int
    let logger: Logger
    var connection: PostgresConnection?
    var held = false

    /// `key` names the lock (the default is the scheduler's).
    public init(url: String, key: Int = 0x6867_7363_6864, logger: Logger = Logger(label: "harborguard.leader")) throws {
        self.target = try PostgresTarget(url: url)
        self.key = key
        self.logger = logger.forPostgresDriver
    }

    deinit {
        // The session ends with the connection: PostgreSQL frees the lock.
        if let c = connection { PostgresConnectionPool.closeKeepingAlive(c) }
    }

    /// True when this node holds the lock, taking it if it is free. A lost connection loses
    /// the lock (PostgreSQL releases it when the session ends) and is reopened here.
    public func isLeader() async -> Bool {
        do {
            if let c = connection, !c.isClosed, held {
                // Still our session? A broken one fails this query.
                _ = try await c.query("SELECT 1", logger: logger).get()
                return true
            }
            if connection == nil || connection?.isClosed == true {
                held = false
                connection = try await target.connectKeepingAlive(logger: logger)
            }
            guard let c = connection else { return false }
            let rows = try await c.query(
                PostgresQuery(unsafeSQL: "SELECT pg_try_advisory_lock($1)", binds: binds(Int64(key))), logger: logger
            ).get().rows
            held = try rows.first?.decode(Bool.self) ?? false
            return held
        } catch {
            if held { logger.warning("scheduler leadership lost", metadata: ["error": "\(String(reflecting: error))"]) }
            held = false
            if let c = connection { try? await c.close() }
            connection = nil
            return false
        }
    }

    /// Gives the lock up (graceful shutdown): another node takes over at its next tick.
    public func resign() async {
        if let c = connection {
            if held {
                _ = try? await c.query(
                    PostgresQuery(unsafeSQL: "SELECT pg_advisory_unlock($1)", binds: binds(Int64(key))), logger: logger
                ).get()
            }
            try? await c.close()
        }
        connection = nil
        held = false
    }

    func binds(_ v: Int64) -> PostgresBindings {
        var b = PostgresBindings()
        b.append(v)
        return b
    }
}

/// Decides whether this node's scheduler runs its tasks this tick.
public protocol SchedulerLeadership: Sendable {
    func isLeader() async -> Bool
    func resign() async
}
