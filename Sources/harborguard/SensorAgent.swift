import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Registry
import Scan
import Server
import Store
import ServiceLifecycle
import Synchronization

/// The sensor's loops: heartbeat, claim, work (renewing leases), upload with retries.
final class SensorAgent: Service, Sendable {
    struct Settings: Sendable {
        var server: String
        var apiKey: String
        var name: String
        var hostname: String
        var version: String
        var forceInsecure: Bool
        var serverInsecure: Bool
        var heartbeatInterval: Duration
        var pollInterval: Int?
        var concurrency: Int
        var lease: Int
        var uploadRetry: Duration
        var syncConcurrency: Int
        /// From flags or environment; nil means ~/.docker/config.json for the registry's host.
        var credentials: RegistryCredentials?
    }

    /// The server refused the key: retrying cannot help.
    struct Fatal: Error, CustomStringConvertible {
        var description: String
    }

    let settings: Settings
    let clients: RegistryHTTPClients
    let logger: Logger
    let api: SensorAPI
    let cache = MemoryLayerCache(capacity: 512)
    /// Jobs this sensor holds a lease on, with the attempt the server last gave it.
    let held = Mutex<[String: Int]>([:])
    let serverPoll = Mutex<Int>(10)
    let fatal = Mutex<Fatal?>(nil)

    init(settings: Settings, clients: RegistryHTTPClients, logger: Logger) {
        self.settings = settings
        self.clients = clients
        self.logger = logger
        api = SensorAPI(
            base: settings.server, key: settings.apiKey, http: settings.serverInsecure ? clients.insecure : clients.secure)
    }

    var pollInterval: Duration { .seconds(settings.pollInterval ?? serverPoll.withLock { $0 }) }

    func run() async throws {
        logger.info("sensor starting", metadata: ["server": "\(settings.server)", "name": "\(settings.name)"])
        await cancelWhenGracefulShutdownOrFatal {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await self.heartbeatLoop() }
                group.addTask { await self.workLoop() }
                // Either loop ends only when cancelled or on a fatal refusal; then both stop.
                _ = await group.next()
                group.cancelAll()
            }
        }
        // Unfinished work goes back to the queue now rather than when its lease runs out.
        let unfinished = held.withLock { Array($0.keys) }
        if !unfinished.isEmpty {
            logger.info("sensor stopping: releasing leases", metadata: ["jobs": "\(unfinished.count)"])
        }
        for id in unfinished.sorted() {
            do {
                let r = try await api.post("/api/sensor/jobs/\(id)/release", body: Data("{}".utf8), timeout: .seconds(5))
                if r.status != 200 { logger.warning("release refused", metadata: ["job": "\(id)", "status": "\(r.status)"]) }
            } catch {
                logger.warning("release failed; the lease will expire", metadata: ["job": "\(id)", "error": "\(error)"])
            }
        }
        if let f = fatal.withLock({ $0 }) { throw f }
        logger.info("sensor stopped")
    }

    /// Runs `body` until it returns, the process is asked to stop, or the agent hits a fatal error.
    func cancelWhenGracefulShutdownOrFatal(_ body: @escaping @Sendable () async -> Void) async {
        await cancelWhenGracefulShutdown { await body() }
    }

    func setFatal(_ message: String) {
        logger.error("\(message)")
        fatal.withLock { $0 = $0 ?? Fatal(description: message) }
    }

    var isFatal: Bool { fatal.withLock { $0 != nil } }

    // MARK: Heartbeat

    func heartbeatLoop() async {
        var failing = false
        while !Task.isCancelled && !isFatal {
            do {
                let body = try SensorProtocol.encoder.encode(
                    SensorHeartbeat(name: settings.name, version: settings.version, hostname: settings.hostname))
                let r = try await api.post("/api/sensor/heartbeat", body: body, timeout: .seconds(15))
                switch r.status {
                case 200:
                    if let d = try? SensorProtocol.decoder.decode(SensorReply<SensorHeartbeatReply>.self, from: r.body).data {
                        serverPoll.withLock { $0 = max(1, d.pollIntervalSeconds) }
                        if failing || !didConnect.withLock({ $0 }) {
                            logger.info("connected to server", metadata: ["registry": "\(d.registryId)"])
                        }
                        didConnect.withLock { $0 = true }
                    }
                    failing = false
                case 401, 403:
                    setFatal("the server refused the sensor key (\(r.status)): is it the registry's sensorApiKey, and is the registry still there?")
                    return
                default:
                    if !failing { logger.warning("heartbeat refused", metadata: ["status": "\(r.status)", "body": "\(r.text.prefix(200))"]) }
                    failing = true
                }
            } catch {
                if Task.isCancelled { return }
                if !failing { logger.warning("heartbeat failed; retrying", metadata: ["error": "\(error)"]) }
                failing = true
            }
            try? await Task.sleep(for: settings.heartbeatInterval)
        }
    }

    let didConnect = Mutex(false)

    // MARK: Claiming

    typealias Claimed = SensorClaimedJob

    enum Event: Sendable { case jobDone, tick }

    func workLoop() async {
        await withTaskGroup(of: Event.self) { group in
            var active = 0
            var sleeping = false
            while !Task.isCancelled && !isFatal {
                if active < settings.concurrency {
                    for job in await claim(max: settings.concurrency - active) {
                        active += 1
                        group.addTask {
                            await self.process(job)
                            return .jobDone
                        }
                    }
                }
                if !sleeping {
                    let interval = pollInterval
                    group.addTask {
                        try? await Task.sleep(for: interval)
                        return .tick
                    }
                    sleeping = true
                }
                guard let event = await group.next() else { break }
                switch event {
                case .jobDone: active -= 1
                case .tick: sleeping = false
                }
            }
            group.cancelAll()
        }
    }

    /// New jobs to start; a job this sensor already works on (its lease ran out while the
    /// server was away and the claim handed it back) only gets its attempt updated.
    func claim(max: Int) async -> [Claimed] {
        do {
            let body = try SensorProtocol.encoder.encode(SensorClaimRequest(max: max, leaseSeconds: settings.lease))
            let r = try await api.post("/api/sensor/jobs/claim", body: body, timeout: .seconds(30))
            switch r.status {
            case 200:
                let jobs = try SensorProtocol.decoder.decode(SensorReply<[Claimed]>.self, from: r.body).data
                return held.withLock { held in
                    jobs.filter { job in
                        let new = held[job.id] == nil
                        held[job.id] = job.attempt
                        return new
                    }
                }
            case 401, 403:
                setFatal("the server refused the sensor key (\(r.status)) while claiming jobs")
            default:
                logger.warning("claim refused", metadata: ["status": "\(r.status)", "body": "\(r.text.prefix(200))"])
            }
        } catch {
            if !Task.isCancelled { logger.debug("claim failed", metadata: ["error": "\(error)"]) }
        }
        return []
    }
}

/// The server's sensor endpoints over HTTP.
struct SensorAPI: Sendable {
    let base: String
    let key: String
    let http: OutgoingHTTPClient

    struct Response: Sendable {
        var status: Int
        var body: Data
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    func post(_ path: String, body: Data, timeout: TimeAmount) async throws -> Response {
        var req = HTTPClientRequest(url: base + path)
        req.method = .POST
        req.headers.add(name: "X-API-Key", value: key)
        req.headers.add(name: "Content-Type", value: "application/json")
        req.headers.add(name: "User-Agent", value: "harborguard-sensor/\(ProductVersion.current)")
        req.body = .bytes(ByteBuffer(bytes: body))
        let r = try await http.execute(req, deadline: .now() + timeout)
        let buffer = try await r.body.collect(upTo: 8 << 20)
        return Response(status: Int(r.status.code), body: Data(buffer.readableBytesView))
    }
}
