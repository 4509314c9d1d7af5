import Cron
import Foundation
import GRDB
import Store

/// The answer of `GET /api/registries/{registryId}/sensor-status`: what a registry's sensor
/// last said and its jobs. Absent values are `null`, never left out.
struct SensorStatusReply: Encodable, Sendable {
    struct Sensor: Encodable, Sendable { var name: String, version: String, hostname: String }
    struct Jobs: Encodable, Sendable { var queued: Int, running: Int }

    var registryId: String
    var scanMethod: String
    var status: String
    var name: String?
    var version: String?
    var hostname: String?
    var sensor: Sensor?
    var lastHeartbeatAt: String?
    var offlineAfterSeconds: Int
    var jobs: Jobs

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(registryId, forKey: .registryId)
        try c.encode(scanMethod, forKey: .scanMethod)
        try c.encode(status, forKey: .status)
        try c.encode(name, forKey: .name)
        try c.encode(version, forKey: .version)
        try c.encode(hostname, forKey: .hostname)
        try c.encode(sensor, forKey: .sensor)
        try c.encode(lastHeartbeatAt, forKey: .lastHeartbeatAt)
        try c.encode(offlineAfterSeconds, forKey: .offlineAfterSeconds)
        try c.encode(jobs, forKey: .jobs)
    }
    enum CodingKeys: String, CodingKey {
        case registryId, scanMethod, status, name, version, hostname, sensor, lastHeartbeatAt, offlineAfterSeconds, jobs
    }
}

extension SensorService {
    // MARK: - Status

    /// A registry's sensor: `online`, `scanning`, `offline`, `never_connected`, or
    /// `not_applicable` for a registry scanned by the server. Viewers and above, a key scoped
    /// to this registry included; another registry (or none) is 404.
    func status(_ p: Principal, registryId id: String?) async throws -> SensorStatusReply {
        try p.authorize(.viewer, reach: .registry, operation: "GET /api/registries/\(id ?? "")/sensor-status")
        guard let id, p.reaches(registry: id),
              let registry = try await s.db.read({ db in try RegistryRepository.registry(db, id: id, org: p.orgId) })
        else { throw APIError.notFound("Registry") }
        let now = s.now
        let settings = self.settings
        return try await s.db.write { db in
            let jobs = try SensorRepository.jobCounts(db, registryId: registry.id, types: SensorSettings.jobTypes.sorted(), now: now)
            var status = SensorStatusReply(
                registryId: registry.id, scanMethod: registry.scanMethod.rawValue, status: "not_applicable",
                offlineAfterSeconds: Int(settings.offlineAfter), jobs: .init(queued: jobs.queued, running: jobs.running))
            guard registry.scanMethod == .sensor else { return status }
            guard let sensor = try SensorRepository.sensor(db, registryId: registry.id) else {
                status.status = "never_connected"
                return status
            }
            let last = Timestamp.format(sensor.lastHeartbeatAt)
            status.name = sensor.name
            status.version = sensor.version
            status.hostname = sensor.hostname
            status.sensor = .init(name: sensor.name, version: sensor.version, hostname: sensor.hostname)
            status.lastHeartbeatAt = last
            // The same comparison as `markOffline` (stored text, whole seconds), so the status
            // and the health never disagree.
            if last < Timestamp.format(now.addingTimeInterval(-settings.offlineAfter)) {
                status.status = "offline"
                // The registry's health follows at once, not only at the scheduler's next tick.
                try settings.markOffline(now: now, in: db)
            } else {
                status.status = jobs.running > 0 ? "scanning" : "online"
            }
            return status
        }
    }
}
