import Cron
import Foundation
import GRDB
import Hummingbird
import Store

/// `GET /api/registries/{registryId}/sensor-status`: what a registry's sensor last said and its jobs.
extension SensorRoutes {
    // MARK: - Status

    @Sendable func status(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await s.authorize(req, .viewer, reach: .registry)
        guard let id = ctx.parameters.get("registryId"), p.reaches(registry: id),
              let registry = try await s.db.writer.read({ db in try RegistryRecord.fetch(db, id: id, org: p.orgId) })
        else { throw APIError.notFound("Registry") }
        let now = s.now
        let settings = self.settings
        struct Sensor: Encodable { var name: String, version: String, hostname: String }
        struct Jobs: Encodable { var queued: Int, running: Int }
        struct Status: Encodable {
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
        let out: Status = try await s.db.writer.write { db in
            let ts = Timestamp.format(now)
            let types = SensorSettings.jobTypes.sorted()
            let queued = try Int.fetchOne(
                db, sql: "SELECT COUNT(*) FROM jobs WHERE concurrency_key = ? AND status = 'queued' AND type IN (?, ?)",
                arguments: [registry.id, types[0], types[1]]) ?? 0
            let running = try Int.fetchOne(
                db,
                sql: "SELECT COUNT(*) FROM jobs WHERE concurrency_key = ? AND status = 'running' AND lease_expires_at > ? AND type IN (?, ?)",
                arguments: [registry.id, ts, types[0], types[1]]) ?? 0
            var status = Status(
                registryId: registry.id, scanMethod: registry.scanMethod.rawValue, status: "not_applicable",
                offlineAfterSeconds: Int(settings.offlineAfter), jobs: Jobs(queued: queued, running: running))
            guard registry.scanMethod == .sensor else { return status }
            guard let row = try Row.fetchOne(
                db, sql: "SELECT name, version, hostname, last_heartbeat_at FROM sensors WHERE registry_id = ?", arguments: [registry.id])
            else {
                status.status = "never_connected"
                return status
            }
            let last: String = row["last_heartbeat_at"]
            status.name = row["name"]
            status.version = row["version"]
            status.hostname = row["hostname"]
            status.sensor = Sensor(name: row["name"], version: row["version"], hostname: row["hostname"])
            status.lastHeartbeatAt = last
            // The same comparison as `markOffline`, so the status and the health never disagree.
            if last < Timestamp.format(now.addingTimeInterval(-settings.offlineAfter)) {
                status.status = "offline"
                // The registry's health follows at once, not only at the scheduler's next tick.
                try settings.markOffline(now: now, in: db)
            } else {
                status.status = running > 0 ? "scanning" : "online"
            }
            return status
        }
        return try Reply.data(out)
    }
}
