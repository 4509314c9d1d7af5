import Cron
import Foundation
import GRDB
import Synchronization
import Store

/// In-memory caches for the two hottest read paths, kept exact by invalidation rather than
/// by time. On SQLite, GRDB's `DatabaseRegionObservation` runs right after every commit that
/// touched the tables they depend on, before the writing request returns (every write to
/// those tables goes through this process). On PostgreSQL, triggers on those tables mark the
/// writing transaction (this node clears at commit, before answering) and NOTIFY the other
/// nodes, whose listeners clear within milliseconds; a listener that lost its connection
/// clears everything when it is back.
final class HotCaches: Sendable {
    /// Verified credentials by token hash: the principal and when it stops being valid.
    let principals = BoundedCache<Data, CachedPrincipal>(capacity: 4096)
    /// Serialized `GET /api/registries` pages by (organization, scope, query).
    let registryPages = BoundedCache<String, [UInt8]>(capacity: 1024)
    private let observations = Mutex<[AnyDatabaseCancellable]>([])

    struct CachedPrincipal: Sendable {
        var principal: Principal
        var expiresAt: String?
        /// When the key's use was last recorded (`last_used_at` is written at most once a minute).
        var lastUsedAt: Date
    }

    init(database: AppDatabase) {
        let principals = self.principals
        let pages = self.registryPages
        // On PostgreSQL (several nodes may write): triggers on the cached tables announce each
        // change, this node's at commit and other nodes' through LISTEN/NOTIFY.
        database.invalidations.subscribe { changed in
            if changed.contains(.auth) { principals.removeAll() }
            if changed.contains(.registries) { pages.removeAll() }
        }
        guard let writer = database.sqliteWriter else { return }
        // Keys, users (a PAT follows its user's role), sessions, organizations.
        let auth = DatabaseRegionObservation(tracking: Table("api_keys"), Table("users"), Table("sessions"), Table("organizations"))
        // Everything a registry page shows comes from the registries table.
        let registries = DatabaseRegionObservation(tracking: Table("registries"), Table("organizations"))
        var started: [AnyDatabaseCancellable] = []
        started.append(auth.start(in: writer, onError: { _ in principals.removeAll() }, onChange: { _ in principals.removeAll() }))
        started.append(registries.start(in: writer, onError: { _ in pages.removeAll() }, onChange: { _ in pages.removeAll() }))
        observations.withLock { $0 = started }
    }
}

/// A dictionary with a size bound (cleared when full) and a generation, so a value computed
/// from a read that raced with an invalidation is not stored.
final class BoundedCache<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    private struct State {
        var entries: [Key: Value] = [:]
        var generation: UInt64 = 0
    }

    private let state = Mutex(State())
    let capacity: Int

    init(capacity: Int) { self.capacity = capacity }

    var generation: UInt64 { state.withLock { $0.generation } }

    func get(_ key: Key) -> Value? { state.withLock { $0.entries[key] } }

    /// Stores `value` only if nothing was invalidated since `generation` was read.
    func put(_ key: Key, _ value: Value, ifGeneration generation: UInt64) {
        state.withLock {
            guard $0.generation == generation else { return }
            if $0.entries.count >= capacity { $0.entries.removeAll(keepingCapacity: true) }
            $0.entries[key] = value
        }
    }

    func remove(_ key: Key) { _ = state.withLock { $0.entries.removeValue(forKey: key) } }

    func removeAll() {
        state.withLock {
            $0.entries.removeAll(keepingCapacity: true)
            $0.generation &+= 1
        }
    }
}
