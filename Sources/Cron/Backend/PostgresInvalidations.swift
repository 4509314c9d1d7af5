public import Logging
import NIOCore
import PostgresNIO

/// Cache invalidations between nodes that share one PostgreSQL database. A change that other
/// nodes cache (a revoked key, a session, a role, a registry's settings) sends a notification
/// from inside its own transaction, so PostgreSQL delivers it at commit and never for a
/// transaction that rolled back; every node listens on a connection of its own.
public enum Invalidations {
    /// The one channel harborguard's notifications use.
    public static let channel = "harborguard_invalidate"
}

extension SQLConnection {
    /// Tells the other nodes, when this transaction commits, that `payload` (e.g.
    /// `key:key_…`) changed. Nothing to tell on SQLite: one node owns the database.
    public func notifyInvalidation(_ payload: String) throws {
        guard dialect == .postgres else { return }
        _ = try query("SELECT pg_notify(?, ?)", [Invalidations.channel, payload])
    }
}

/// Listens for invalidations. `run` hands each payload to the handler, and `nil` after it
/// (re)connects: notifications sent while it was not listening are lost, so the caller drops
/// everything it caches then.
public struct PostgresInvalidationListener: Sendable {
    let target: PostgresTarget
    let logger: Logger
    /// Waits between reconnection attempts.
    let retry: Duration

    public init(url: String, retry: Duration = .seconds(1), logger: Logger = Logger(label: "harborguard.invalidations")) throws {
        self.target = try PostgresTarget(url: url)
        self.retry = retry
        self.logger = logger.forPostgresDriver
    }

    /// Runs until the task is cancelled.
    public func run(_ handler: @escaping @Sendable (String?) async -> Void) async {
        while !Task.isCancelled {
            do {
                // Keepalives: a listener cut off from the server finds out and reconnects,
                // rather than waiting forever for notifications that no longer come.
                let connection = try await target.connectKeepingAlive(logger: logger)
                do {
                    try await connection.listen(on: Invalidations.channel) { notifications in
                        // Listening: whatever changed before now is unknown.
                        await handler(nil)
                        for try await n in notifications { await handler(n.payload) }
                    }
                } catch {
                    if !Task.isCancelled { logger.warning("invalidation listener lost its connection", metadata: ["error": "\(String(reflecting: error))"]) }
                }
                try? await connection.close()
            } catch {
                if !Task.isCancelled { logger.warning("invalidation listener cannot connect", metadata: ["error": "\(String(reflecting: error))"]) }
            }
            try? await Task.sleep(for: retry)
        }
    }
}
