public import Foundation
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import Synchronization
#if canImport(Glibc)
import Glibc
import Store
#endif

/// How long a client may take and how many may be connected at once (`serve --header-timeout`,
/// `--idle-timeout`, `--max-connections`).
public struct ConnectionLimits: Sendable {
    /// Seconds from the first byte of a request to the end of its head (request line and
    /// headers). Not reset by further bytes: a client trickling one header line at a time is
    /// closed when it runs out, however steadily it sends.
    public var headerTimeout: TimeInterval
    /// Seconds a keep-alive connection may sit with no request (and no byte of one) before it is closed.
    public var idleTimeout: TimeInterval
    /// Connections open at once; one more is accepted and closed at once.
    public var maxConnections: Int

    public init(headerTimeout: TimeInterval = 10, idleTimeout: TimeInterval = 60, maxConnections: Int = Self.defaultMaxConnections) {
        self.headerTimeout = headerTimeout
        self.idleTimeout = idleTimeout
        self.maxConnections = maxConnections
    }

    /// File descriptors kept back from the open-file limit for everything that is not a client
    /// connection: the database and its WAL, the vulnerability database, outgoing registry,
    /// feed and webhook connections, layer files and scanner processes of running jobs.
    public static let reservedDescriptors = 256
    /// The default never goes above this, however high `ulimit -n` is (each connection costs memory too).
    public static let defaultCeiling = 10_000

    /// The soft open-file limit (`ulimit -n`), nil when unknown or unlimited.
    public static var openFileLimit: Int? {
        var rl = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &rl) == 0, rl.rlim_cur != rlim_t.max else { return nil }
        return Int(clamping: rl.rlim_cur)
    }

    /// `ulimit -n` minus `reservedDescriptors`, at most `defaultCeiling`, at least 16.
    public static var defaultMaxConnections: Int {
        guard let soft = openFileLimit else { return defaultCeiling }
        return min(defaultCeiling, max(16, soft - reservedDescriptors))
    }
}

/// Counts open client connections against `ConnectionLimits.maxConnections`.
final class ConnectionGate: Sendable {
    let limit: Int
    private let open = Atomic<Int>(0)
    private let lastWarning = Mutex<ContinuousClock.Instant?>(nil)

    init(limit: Int) { self.limit = limit }

    var count: Int { open.load(ordering: .relaxed) }

    /// Takes a slot, or returns false when all are taken.
    func enter() -> Bool {
        let now = open.wrappingAdd(1, ordering: .relaxed).newValue
        if now <= limit { return true }
        open.wrappingSubtract(1, ordering: .relaxed)
        return false
    }

    func leave() { open.wrappingSubtract(1, ordering: .relaxed) }

    /// At most one warning a minute while connections are being turned away.
    func warnFull(_ logger: Logger) {
        let now = ContinuousClock.now
        let due = lastWarning.withLock { last -> Bool in
            if let last, now - last < .seconds(60) { return false }
            last = now
            return true
        }
        if due {
            logger.warning(
                "connection limit reached: closing new connections", metadata: ["max_connections": "\(limit)"])
        }
    }
}

/// Wraps the HTTP/1 child channel (plain or TLS): refuses connections over the cap and gives
/// every request head a deadline from its first byte.
struct LimitedChildChannel<Base: ServerChildChannel>: ServerChildChannel {
    typealias Value = Base.Value
    let base: Base
    let gate: ConnectionGate
    let headerTimeout: TimeAmount

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let admitted = gate.enter()
        if admitted {
            let gate = self.gate
            channel.closeFuture.whenComplete { _ in gate.leave() }
        } else {
            gate.warnFull(logger)
        }
        let timeout = headerTimeout
        // The base pipeline is set up either way (a failed setup would reach the listening
        // channel as an error); a connection over the cap is closed before it reads a byte.
        return base.setup(channel: channel, logger: logger).flatMapThrowing { value in
            if admitted {
                try RequestHeadDeadline.install(on: channel, timeout: timeout)
            } else {
                channel.close(promise: nil)
            }
            return value
        }
    }

    func handle(value: Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
}

/// Closes a connection whose request head is not complete `timeout` after its first byte.
///
/// Two handlers share this state: `Bytes`, first in the pipeline, sees every received byte
/// (TLS records included) and notes when a request begins; `Parts`, right after the HTTP/1
/// decoder, marks the head decoded and the request finished at its end. A timer is scheduled
/// only when a read batch ends with a request begun but its head still incomplete, for the
/// first byte's time plus `timeout`: most heads arrive whole in one read and never need one.
/// Bytes of a body never start the clock; the keep-alive gap before the next request is the
/// idle timeout's.
final class RequestHeadDeadline {
    let timeout: TimeAmount
    var inRequest = false
    var startedAt: NIODeadline?
    var timer: Scheduled<Void>?

    init(timeout: TimeAmount) { self.timeout = timeout }

    static func install(on channel: any Channel, timeout: TimeAmount) throws {
        let deadline = RequestHeadDeadline(timeout: timeout)
        let pipeline = channel.pipeline.syncOperations
        let decoder = try pipeline.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self)
        try pipeline.addHandler(Parts(deadline), position: .after(decoder))
        try pipeline.addHandler(Bytes(deadline), position: .first)
    }

    func byteArrived() {
        if !inRequest, startedAt == nil { startedAt = .now() }
    }

    /// After a read batch: a head begun and not yet complete gets its deadline.
    func readComplete(_ context: ChannelHandlerContext) {
        guard !inRequest, let startedAt, timer == nil else { return }
        let channel = context.channel
        timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: startedAt + timeout) {
            channel.close(promise: nil)
        }
    }

    func headDecoded() {
        inRequest = true
        startedAt = nil
        timer?.cancel()
        timer = nil
    }

    func requestEnded() { inRequest = false }

    func stop() {
        timer?.cancel()
        timer = nil
    }

    final class Bytes: ChannelInboundHandler, RemovableChannelHandler {
        typealias InboundIn = ByteBuffer
        typealias InboundOut = ByteBuffer
        let deadline: RequestHeadDeadline
        init(_ deadline: RequestHeadDeadline) { self.deadline = deadline }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            deadline.byteArrived()
            context.fireChannelRead(data)
        }

        func channelReadComplete(context: ChannelHandlerContext) {
            // Forwarded first: the decoder and the handlers after it finish this batch, then
            // the head is either decoded or still waiting for bytes.
            context.fireChannelReadComplete()
            deadline.readComplete(context)
        }

        func channelInactive(context: ChannelHandlerContext) {
            deadline.stop()
            context.fireChannelInactive()
        }

        func handlerRemoved(context: ChannelHandlerContext) { deadline.stop() }
    }

    final class Parts: ChannelInboundHandler, RemovableChannelHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias InboundOut = HTTPServerRequestPart
        let deadline: RequestHeadDeadline
        init(_ deadline: RequestHeadDeadline) { self.deadline = deadline }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head: deadline.headDecoded()
            case .body: break
            case .end: deadline.requestEnded()
            }
            context.fireChannelRead(data)
        }
    }
}

@available(*, unavailable)
extension RequestHeadDeadline: Sendable {}
@available(*, unavailable)
extension RequestHeadDeadline.Bytes: Sendable {}
@available(*, unavailable)
extension RequestHeadDeadline.Parts: Sendable {}
