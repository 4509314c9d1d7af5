import Cron
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Scan
import Store

/// The sensor protocol's routes: each resolves the caller (`SensorService.sensor` for a
/// sensor key), decodes the body, calls `SensorService` and encodes its answer.
struct SensorRoutes {
    let service: SensorService

    init(s: AppServices, crawler: Crawler) {
        service = SensorService(s: s, crawler: crawler)
    }

    /// A scan report of an image with tens of thousands of packages is larger than the
    /// API's 1 MiB bodies.
    static let resultLimit = 32 << 20
    static let defaultLease: TimeInterval = 60

    func register(_ api: RouteTable) {
        api.post("/api/sensor/heartbeat", heartbeat)
        api.post("/api/sensor/jobs/claim", claim)
        api.post("/api/sensor/jobs/{jobId}/renew", renew)
        api.post("/api/sensor/jobs/{jobId}/release", release)
        api.post("/api/sensor/jobs/{jobId}/result", result)
        api.get("/api/registries/{registryId}/sensor-status", status)
    }

    /// The calling sensor (403 for anything else).
    func sensor(_ req: Request) async throws -> SensorService.Sensor {
        try await service.sensor(try await service.s.authenticate(req))
    }

    /// The job in the path, of the calling sensor's registry (404 otherwise).
    func job(_ ctx: AppRequestContext, of sensor: SensorService.Sensor) async throws -> Job {
        try await service.job(ctx.parameters.get("jobId"), of: sensor)
    }

    /// A JSON object body of at most `limit` bytes; an empty body is `{}`.
    static func body(_ req: Request, limit: Int) async throws -> [String: JSONValue] {
        if let ct = req.headers[.contentType], !ct.lowercased().hasPrefix("application/json") {
            throw APIError.badRequest("Content-Type must be application/json.")
        }
        let tooLarge = APIError(
            .contentTooLarge, code: "PAYLOAD_TOO_LARGE", message: "The request body is larger than \(limit >> 20) MiB.")
        if let declared = req.headers[.contentLength].flatMap({ Int($0) }), declared > limit { throw tooLarge }
        let buffer: ByteBuffer
        do {
            buffer = try await req.body.collect(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw tooLarge
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw APIError.badRequest("The request body could not be read: \(error).")
        }
        if buffer.readableBytes == 0 { return [:] }
        if let problem = StrictJSON.problem(in: buffer.readableBytesView) { throw APIError.badRequest(problem) }
        let value: JSONValue
        do {
            value = try JSONDecoder().decode(JSONValue.self, from: Data(buffer.readableBytesView))
        } catch {
            throw APIError.badRequest("The request body is not valid JSON.")
        }
        guard case .object(let o) = value else { throw APIError.badRequest("The request body must be a JSON object.") }
        return o
    }

    // MARK: - Heartbeat

    @Sendable func heartbeat(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let sensor = try await sensor(req)
        var r = ObjectReader(try await Self.body(req, limit: 1 << 20))
        r.rejectUnknown(allowed: SensorHeartbeat.fields)
        let name = r.string("name", required: true, minLength: 1, maxLength: 100)
        let version = r.string("version", required: true, minLength: 1, maxLength: 100)
        let hostname = r.string("hostname", required: true, minLength: 1, maxLength: 255)
        try r.check()
        guard let name, let version, let hostname else { throw APIError.validation("name", "Required.") }
        return try Reply.data(try await service.heartbeat(sensor, SensorHeartbeat(name: name, version: version, hostname: hostname)))
    }

    // MARK: - Claim, renew, release

    static func lease(_ r: inout ObjectReader) -> TimeInterval {
        guard let v = r.object["leaseSeconds"] else { return defaultLease }
        guard case .number(let n) = v, n == n.rounded(), (10...3600).contains(n) else {
            r.fail("leaseSeconds", "Must be an integer from 10 to 3600.")
            return defaultLease
        }
        return n
    }

    @Sendable func claim(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let sensor = try await sensor(req)
        var r = ObjectReader(try await Self.body(req, limit: 1 << 20))
        r.rejectUnknown(allowed: SensorClaimRequest.fields)
        var max = 1
        if let v = r.object["max"] {
            if case .number(let n) = v, n == n.rounded(), (1...10).contains(n) { max = Int(n) } else {
                r.fail("max", "Must be an integer from 1 to 10.")
            }
        }
        let lease = Self.lease(&r)
        try r.check()
        return try Reply.data(try await service.claim(sensor, max: max, lease: lease))
    }

    @Sendable func renew(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let sensor = try await sensor(req)
        let job = try await job(ctx, of: sensor)
        var r = ObjectReader(try await Self.body(req, limit: 1 << 20))
        r.rejectUnknown(allowed: SensorRenewRequest.fields)
        let lease = Self.lease(&r)
        try r.check()
        return try Reply.data(try await service.renew(sensor, job, lease: lease))
    }

    /// Hands an unfinished job back (a sensor shutting down): queued again, the attempt not counted.
    @Sendable func release(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let sensor = try await sensor(req)
        let job = try await job(ctx, of: sensor)
        _ = try await Self.body(req, limit: 1 << 20)
        return try Reply.data(try await service.release(sensor, job))
    }

    // MARK: - Results

    @Sendable func result(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let sensor = try await sensor(req)
        let job = try await job(ctx, of: sensor)
        var r = ObjectReader(try await Self.body(req, limit: Self.resultLimit))
        let status = r.string("status", required: true)
        if let status, status != "succeeded" && status != "failed" { r.fail("status", "Must be one of: succeeded, failed.") }
        let error = r.string("error", maxLength: 4000)
        let retryable = r.bool("retryable")
        var attempt: Int?
        if let v = r.object["attempt"] {
            if case .number(let n) = v, n == n.rounded(), n >= 1, n < 1_000_000 { attempt = Int(n) } else {
                r.fail("attempt", "Must be a positive integer.")
            }
        }
        let common = SensorResult.commonFields
        if status == "failed" {
            r.rejectUnknown(allowed: common.union(job.kind == .sensorSync ? SensorResult.syncFields : SensorResult.scanFields))
            try r.check()
            return try Reply.data(try await service.recordFailure(
                sensor, job, attempt: attempt, error: error ?? "the sensor reported a failure",
                retryable: retryable ?? (job.kind == .sensorSync)))
        }
        if job.kind == .sensorSync {
            r.rejectUnknown(allowed: common.union(SensorResult.syncFields))
            let input = Self.syncInput(&r)
            try r.check()
            return try Reply.data(try await service.recordSync(sensor, job, attempt: attempt, input: input))
        }
        r.rejectUnknown(allowed: common.union(SensorResult.scanFields))
        let input = Self.scanInput(&r)
        try r.check()
        guard let input else { throw APIError.validation("report", "Required.") }
        return try Reply.data(try await service.recordScan(sensor, job, attempt: attempt, input: input))
    }

    // MARK: - Status

    @Sendable func status(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await service.s.authenticate(req)
        return try Reply.data(try await service.status(p, registryId: ctx.parameters.get("registryId")))
    }
}
