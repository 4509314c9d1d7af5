import Cron
public import Foundation
public import GRDB
import Store

/// Timings of the sensor protocol. The defaults are the product's; the environment can
/// shorten them (`HARBORGUARD_SENSOR_OFFLINE_SECONDS`, `HARBORGUARD_SENSOR_POLL_SECONDS`),
/// which end-to-end tests do so as not to wait two minutes for a sensor to go offline.
public struct SensorSettings: Sendable {
    /// A sensor is offline this long after its last heartbeat.
    public var offlineAfter: TimeInterval = 120
    /// How often a sensor is asked to poll for jobs.
    public var pollInterval: Int = 10

    public init() {}

    public static let fromEnvironment: SensorSettings = {
        var s = SensorSettings()
        let env = ProcessInfo.processInfo.environment
        if let v = env["HARBORGUARD_SENSOR_OFFLINE_SECONDS"].flatMap(Double.init), v >= 1 { s.offlineAfter = v }
        if let v = env["HARBORGUARD_SENSOR_POLL_SECONDS"].flatMap(Int.init), (1...3600).contains(v) { s.pollInterval = v }
        return s
    }()

    /// Job types only a registry's sensor claims (the server's worker pool has no handler for them).
    public static let jobTypes: Set<String> = JobKind.types(JobKind.sensorKinds)

    /// Marks the registries whose sensor stopped heartbeating `unhealthy` (once per outage).
    /// Returns how many turned offline now.
    @discardableResult
    public func markOffline(now: Date, in db: Database) throws -> Int {
        let cutoff = Timestamp.format(now.addingTimeInterval(-offlineAfter))
        let stale = try String.fetchAll(
            db,
            sql: """
                SELECT s.registry_id FROM sensors s JOIN registries r ON r.id = s.registry_id
                WHERE s.last_heartbeat_at < ? AND s.offline_since IS NULL AND r.scan_method = 'sensor'
                """,
            arguments: [cutoff])
        let ts = Timestamp.format(now)
        for id in stale {
            try db.execute(sql: "UPDATE sensors SET offline_since = ? WHERE registry_id = ?", arguments: [ts, id])
            try db.execute(
                sql: """
                    UPDATE registries SET health_status = 'unhealthy',
                        health_last_error = 'Sensor offline: no heartbeat since ' ||
                            (SELECT last_heartbeat_at FROM sensors WHERE registry_id = ?1) || '.'
                    WHERE id = ?1
                    """,
                arguments: [id])
            if let row = try Row.fetchOne(
                db,
                sql: """
                    SELECT r.org_id, r.name, s.name AS sensor, s.hostname, s.last_heartbeat_at FROM registries r
                    JOIN sensors s ON s.registry_id = r.id WHERE r.id = ?
                    """,
                arguments: [id])
            {
                let registryName: String = row["name"]
                let sensor: String = row["sensor"] ?? "sensor"
                let last: String = row["last_heartbeat_at"] ?? "?"
                try Notifications.emit(
                    .agentDisconnected, orgId: row["org_id"], severity: "high", title: "Sensor offline: \(registryName)",
                    message: "Sensor \(sensor) of registry \(registryName) has not sent a heartbeat since \(last).",
                    fields: ["registryId": id, "sensor": sensor, "hostname": row["hostname"] ?? "", "lastHeartbeatAt": last],
                    now: now, in: db)
            }
        }
        return stale.count
    }
}
