public import Cron
public import Foundation
import GRDB
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
    public func markOffline(now: Date, in db: any SQLConnection) throws -> Int {
        let stale = try SensorRepository.silentSensors(db, heartbeatBefore: now.addingTimeInterval(-offlineAfter))
        for id in stale {
            try SensorRepository.markOffline(db, registryId: id, now: now)
            if let outage = try SensorRepository.outage(db, registryId: id) {
                let registryName = outage.registryName
                let sensor = outage.sensor.name
                let last = Timestamp.format(outage.sensor.lastHeartbeatAt)
                try Notifications.emit(
                    .agentDisconnected, orgId: outage.orgId, severity: "high", title: "Sensor offline: \(registryName)",
                    message: "Sensor \(sensor) of registry \(registryName) has not sent a heartbeat since \(last).",
                    fields: ["registryId": id, "sensor": sensor, "hostname": outage.sensor.hostname, "lastHeartbeatAt": last],
                    now: now, in: db)
            }
        }
        return stale.count
    }
}
