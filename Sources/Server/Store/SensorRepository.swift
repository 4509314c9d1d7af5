package import Cron
package import Foundation
import GRDB

/// `sensors`: what a registry's sensor last said about itself (one row per registry, written
/// by its heartbeats; `offline_since` set once per outage).
package struct SensorRecord: StoredRecord, Hashable {
    package static let databaseTableName = "sensors"
    package static let primaryKeyColumns = ["registry_id"]

    package var registryId: String
    /// The sensor key that sent the last heartbeat.
    package var keyId: String
    package var name: String
    package var version: String
    package var hostname: String
    package var firstSeenAt: Date
    package var lastHeartbeatAt: Date
    package var offlineSince: Date?

    package init(
        registryId: String, keyId: String, name: String, version: String, hostname: String, firstSeenAt: Date,
        lastHeartbeatAt: Date, offlineSince: Date? = nil
    ) {
        self.registryId = registryId
        self.keyId = keyId
        self.name = name
        self.version = version
        self.hostname = hostname
        self.firstSeenAt = firstSeenAt
        self.lastHeartbeatAt = lastHeartbeatAt
        self.offlineSince = offlineSince
    }
}

/// The sensor-state aggregate: each sensor registry's heartbeats and outages, the registry
/// health an outage changes, and the counts of its sensor's jobs. Functions run inside the
/// caller's transaction.
package enum SensorRepository {
    // MARK: Heartbeats

    package static func sensor(_ db: any SQLConnection, registryId: String) throws -> SensorRecord? {
        try db.fetchOne(SensorRecord.self, "SELECT * FROM sensors WHERE registry_id = ?", [registryId])
    }

    /// Whether the registry's sensor is marked offline (false when it never sent a heartbeat).
    package static func isOffline(_ db: any SQLConnection, registryId: String) throws -> Bool {
        try db.bool("SELECT offline_since IS NOT NULL FROM sensors WHERE registry_id = ?", [registryId]) ?? false
    }

    /// Records a heartbeat: the first one creates the row, later ones replace what the sensor
    /// says about itself (its first-seen time stays) and end an outage.
    package static func recordHeartbeat(
        _ db: any SQLConnection, registryId: String, keyId: String, name: String, version: String, hostname: String, now: Date
    ) throws {
        let ts = Timestamp.format(now)
        try db.execute("""
                INSERT INTO sensors (registry_id, key_id, name, version, hostname, first_seen_at, last_heartbeat_at)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT(registry_id) DO UPDATE SET key_id = excluded.key_id, name = excluded.name,
                    version = excluded.version, hostname = excluded.hostname,
                    last_heartbeat_at = excluded.last_heartbeat_at, offline_since = NULL
                """, [registryId, keyId, name, version, hostname, ts, ts])
    }

    /// A sensor back online: its registry gets the health the last sync earned, without the
    /// outage's error (only when the outage is what made it unhealthy).
    package static func restoreHealthAfterOutage(_ db: any SQLConnection, registryId: String) throws {
        try db.execute("""
                UPDATE registries SET health_status = CASE WHEN last_sync_ok_at IS NULL THEN 'unknown'
                        WHEN health_score >= 100 THEN 'healthy' WHEN health_score >= 50 THEN 'degraded' ELSE 'unhealthy' END,
                    health_last_error = NULL
                WHERE id = ? AND health_status = 'unhealthy' AND health_last_error LIKE 'Sensor offline%'
                """, [registryId])
    }

    // MARK: Outages

    /// Registries (scanned by a sensor) whose sensor's last heartbeat is before `cutoff` and
    /// that are not marked offline yet. Compared as stored text, whole seconds.
    package static func silentSensors(_ db: any SQLConnection, heartbeatBefore cutoff: Date) throws -> [String] {
        try db.strings("""
                SELECT s.registry_id FROM sensors s JOIN registries r ON r.id = s.registry_id
                WHERE s.last_heartbeat_at < ? AND s.offline_since IS NULL AND r.scan_method = 'sensor'
                """, [Timestamp.format(cutoff)])
    }

    /// Marks the registry's sensor offline and the registry `unhealthy`, naming the last heartbeat.
    package static func markOffline(_ db: any SQLConnection, registryId: String, now: Date) throws {
        try db.execute("UPDATE sensors SET offline_since = ? WHERE registry_id = ?", [Timestamp.format(now), registryId])
        try db.execute("""
                UPDATE registries SET health_status = 'unhealthy',
                    health_last_error = 'Sensor offline: no heartbeat since ' ||
                        (SELECT last_heartbeat_at FROM sensors WHERE registry_id = ?) || '.'
                WHERE id = ?
                """, [registryId, registryId])
    }

    /// What the notification of an outage names.
    package struct Outage: Sendable, Hashable {
        package var orgId: String
        package var registryName: String
        package var sensor: SensorRecord
    }

    package static func outage(_ db: any SQLConnection, registryId: String) throws -> Outage? {
        guard let row = try db.queryOne("SELECT org_id, name FROM registries WHERE id = ?", [registryId]),
            let sensor = try sensor(db, registryId: registryId)
        else { return nil }
        return Outage(orgId: row["org_id"], registryName: row["name"], sensor: sensor)
    }

    // MARK: The sensor's jobs

    /// How many of the registry's jobs of `types` are queued, and how many run under a live lease.
    package static func jobCounts(
        _ db: any SQLConnection, registryId: String, types: [String], now: Date
    ) throws -> (queued: Int, running: Int) {
        guard !types.isEmpty else { return (0, 0) }
        let marks = Array(repeating: "?", count: types.count).joined(separator: ", ")
        let queued = try db.int("SELECT COUNT(*) FROM jobs WHERE concurrency_key = ? AND status = 'queued' AND type IN (\(marks))", [registryId] + types) ?? 0
        let running = try db.int("SELECT COUNT(*) FROM jobs WHERE concurrency_key = ? AND status = 'running' AND lease_expires_at > ? AND type IN (\(marks))", [registryId, Timestamp.format(now)] + types) ?? 0
        return (queued, running)
    }

    // MARK: Scans handed back

    /// A released sensor scan waits again: `running` → `queued`, its start forgotten.
    /// (Writes `scans`; belongs in the scans repository once there is one.)
    package static func requeueRunningScan(_ db: any SQLConnection, scanId: String) throws {
        try db.execute("UPDATE scans SET status = 'queued', started_at = NULL WHERE id = ? AND status = 'running'", [scanId])
    }
}
