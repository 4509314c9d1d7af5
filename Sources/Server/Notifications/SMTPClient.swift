import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import Registry

/// A small SMTP submission client on SwiftNIO: STARTTLS or implicit TLS (always; the
/// certificate verified against the system trust store or the channel's CA file, the host
/// name checked), AUTH PLAIN or LOGIN, one message to its recipients, a deadline over the
/// whole session. The host is resolved and checked by the outgoing-request policy and the
/// connection goes to a checked address (TLS still verifies the name). Failures are
/// `SMTPFailure` categories that never carry the server's text or address.
struct SMTPClient: Sendable {
    var settings: EmailSettings
    var password: String?
    var policy: OutgoingPolicy
    var timeout: Duration = .seconds(30)
    var connectTimeout: TimeAmount = .seconds(10)
    var heloName = "harborguard"

    /// Sends `message` (CRLF line endings, not yet dot-stuffed) from `settings.from` to
    /// every `settings.to`.
    func send(_ message: Data) async throws(SMTPFailure) {
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await session(message) }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    throw SMTPFailure.timedOut
                }
                defer { group.cancelAll() }
                _ = try await group.next()
            }
        } catch {
            throw SMTPFailure.classify(error)
        }
    }

    private func tlsContext() throws -> NIOSSLContext {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.certificateVerification = .fullVerification
        if let caFile = settings.caFile { tls.trustRoots = .file(caFile) }
        do { return try NIOSSLContext(configuration: tls) } catch { throw SMTPFailure.caFile }
    }

    private func session(_ message: Data) async throws {
        let addresses = try await policy.resolveAndCheck(host: settings.host, for: .notification)
        let context = try tlsContext()
        let host = settings.host
        let implicitTLS = settings.security == .tls
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: SMTPReply.self)
        let bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(connectTimeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if implicitTLS {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: context, serverHostname: host))
                    }
                    try channel.pipeline.syncOperations.addHandler(SMTPReplyDecoder(continuation))
                }
            }
        var channel: (any Channel)?
        for address in addresses where channel == nil {
            guard let socket = try? SocketAddress(ipAddress: address.description, port: settings.port) else { continue }
            channel = try? await bootstrap.connect(to: socket).get()
        }
        guard let channel else { throw SMTPFailure.connectionFailed }
        defer { channel.close(promise: nil) }
        var replies = stream.makeAsyncIterator()

        func read(_ stage: SMTPFailure.Stage, expect: ClosedRange<Int>) async throws -> SMTPReply {
            guard let reply = try await replies.next() else { throw SMTPFailure.connectionClosed }
            guard expect.contains(reply.code) else { throw SMTPFailure.rejected(stage, reply.code) }
            return reply
        }
        func write(_ bytes: ByteBuffer) async throws {
            do {
                try await channel.writeAndFlush(bytes).get()
            } catch {
                // A failed write (a TLS handshake that failed, a connection the server
                // closed): the reply stream holds the cause.
                _ = try await replies.next()
                throw error
            }
        }
        func command(_ line: String, _ stage: SMTPFailure.Stage, expect: ClosedRange<Int> = 250...250) async throws -> SMTPReply {
            try await write(ByteBuffer(string: line + "\r\n"))
            return try await read(stage, expect: expect)
        }

        _ = try await read(.greeting, expect: 220...220)
        var ehlo = try await command("EHLO \(heloName)", .hello)
        if !implicitTLS {
            guard ehlo.extensions.contains("STARTTLS") else { throw SMTPFailure.noStartTLS }
            _ = try await command("STARTTLS", .startTLS, expect: 220...220)
            try await channel.eventLoop.submit {
                try channel.pipeline.syncOperations.addHandler(
                    NIOSSLClientHandler(context: context, serverHostname: host), position: .first)
            }.get()
            ehlo = try await command("EHLO \(heloName)", .hello)
        }
        if let username = settings.username {
            let mechanisms = ehlo.authMechanisms
            let password = self.password ?? ""
            if mechanisms.contains("PLAIN") {
                let token = Data("\u{0}\(username)\u{0}\(password)".utf8).base64EncodedString()
                _ = try await command("AUTH PLAIN \(token)", .auth, expect: 235...235)
            } else if mechanisms.contains("LOGIN") {
                _ = try await command("AUTH LOGIN", .auth, expect: 334...334)
                _ = try await command(Data(username.utf8).base64EncodedString(), .auth, expect: 334...334)
                _ = try await command(Data(password.utf8).base64EncodedString(), .auth, expect: 235...235)
            } else {
                throw SMTPFailure.noAuthMechanism
            }
        }
        _ = try await command("MAIL FROM:<\(settings.from)>", .mailFrom)
        for recipient in settings.to {
            _ = try await command("RCPT TO:<\(recipient)>", .recipient, expect: 250...251)
        }
        _ = try await command("DATA", .data, expect: 354...354)
        try await write(ByteBuffer(bytes: Self.dataPayload(message)))
        _ = try await read(.message, expect: 250...250)
        try? await channel.writeAndFlush(ByteBuffer(string: "QUIT\r\n")).get()
    }

    /// The `DATA` payload: line endings normalized to CRLF, a line beginning with "." gets
    /// another one (RFC 5321 4.5.2), then the terminating `CRLF . CRLF`.
    static func dataPayload(_ message: Data) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(message.count + 64)
        var atLineStart = true
        var previous: UInt8 = 0
        for b in message {
            if b == UInt8(ascii: "\n") {
                if previous != UInt8(ascii: "\r") { out.append(UInt8(ascii: "\r")) }
                out.append(b)
                atLineStart = true
            } else {
                if previous == UInt8(ascii: "\r") && b != UInt8(ascii: "\n") {
                    out.append(UInt8(ascii: "\n"))  // a bare CR ends a line too
                    atLineStart = true
                }
                if atLineStart && b == UInt8(ascii: ".") { out.append(b) }
                if b != UInt8(ascii: "\r") { atLineStart = false }
                out.append(b)
            }
            previous = b
        }
        if previous == UInt8(ascii: "\r") { out.append(UInt8(ascii: "\n")) }
        if !out.isEmpty && out.last != UInt8(ascii: "\n") { out += [UInt8(ascii: "\r"), UInt8(ascii: "\n")] }
        out += Array(".\r\n".utf8)
        return out
    }
}

/// One (possibly multi-line) SMTP reply.
struct SMTPReply: Sendable {
    var code: Int
    var lines: [String]

    /// EHLO keywords, upper-cased (`STARTTLS`, `AUTH`, …).
    var extensions: Set<String> {
        Set(lines.dropFirst().compactMap { $0.split(separator: " ").first.map { $0.uppercased() } })
    }

    var authMechanisms: Set<String> {
        var out = Set<String>()
        for line in lines.dropFirst() {
            let words = line.uppercased().split(whereSeparator: { $0 == " " || $0 == "=" })
            if words.first == "AUTH" { out.formUnion(words.dropFirst().map(String.init)) }
        }
        return out
    }
}

/// Collects reply lines (`250-…` continues, `250 …` ends a reply) and hands each complete
/// reply to the session. A line over 4 KiB or a reply over 100 lines ends the connection.
final class SMTPReplyDecoder: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let continuation: AsyncThrowingStream<SMTPReply, any Error>.Continuation
    var line: [UInt8] = []
    var lines: [String] = []

    init(_ continuation: AsyncThrowingStream<SMTPReply, any Error>.Continuation) { self.continuation = continuation }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        for b in buffer.readableBytesView {
            if b != UInt8(ascii: "\n") {
                line.append(b)
                if line.count > 4096 { return fail(context, SMTPFailure.protocolError) }
                continue
            }
            if line.last == UInt8(ascii: "\r") { line.removeLast() }
            let text = String(decoding: line, as: UTF8.self)
            line = []
            guard text.utf8.count >= 3, let code = Int(text.prefix(3)), (200...599).contains(code) else {
                return fail(context, SMTPFailure.protocolError)
            }
            lines.append(String(text.dropFirst(4)))
            if lines.count > 100 { return fail(context, SMTPFailure.protocolError) }
            if text.utf8.count == 3 || text.dropFirst(3).first == " " {
                continuation.yield(SMTPReply(code: code, lines: lines))
                lines = []
            }
        }
    }

    func fail(_ context: ChannelHandlerContext, _ error: any Error) {
        continuation.finish(throwing: error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        continuation.finish()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(context, error)
    }
}

/// An SMTP failure as a category: what a user may see (no server text, no address).
enum SMTPFailure: Error, Sendable, Hashable, CustomStringConvertible {
    enum Stage: String, Sendable {
        case greeting, hello, startTLS = "STARTTLS", auth, mailFrom = "sender", recipient, data, message
    }

    case timedOut
    case unresolved
    case refused(TargetNotAllowed)
    case connectionFailed
    case connectionClosed
    case tls
    case caFile
    case noStartTLS
    case noAuthMechanism
    case protocolError
    case rejected(Stage, Int)

    var description: String {
        switch self {
        case .timedOut: "timed out"
        case .unresolved: "cannot resolve the host"
        case .refused(let e): e.description
        case .connectionFailed: "connection failed"
        case .connectionClosed: "the SMTP server closed the connection"
        case .tls: "TLS handshake or certificate verification failed"
        case .caFile: "the CA file cannot be read"
        case .noStartTLS: "the SMTP server does not offer STARTTLS"
        case .noAuthMechanism: "the SMTP server offers neither AUTH PLAIN nor LOGIN"
        case .protocolError: "the SMTP server's answer is not SMTP"
        case .rejected(.auth, let code): "SMTP authentication failed (\(code / 100)xx)"
        case .rejected(let stage, let code): "SMTP \(code / 100)xx at \(stage.rawValue)"
        }
    }

    /// Whether a later attempt may succeed (4xx, the network); a 5xx refusal or a
    /// configuration problem will not change by itself.
    var transient: Bool {
        switch self {
        case .rejected(_, let code): code < 500
        case .refused, .caFile, .noStartTLS, .noAuthMechanism: false
        default: true
        }
    }

    static func classify(_ error: any Error) -> SMTPFailure {
        if let e = error as? SMTPFailure { return e }
        if let e = error as? TargetNotAllowed { return .refused(e) }
        if error is OutgoingResolutionFailed { return .unresolved }
        if error is NIOSSLError || error is BoringSSLError || error is NIOSSLExtraError { return .tls }
        if error is CancellationError { return .timedOut }
        if let e = error as? ChannelError, case .connectTimeout = e { return .timedOut }
        let text = String(reflecting: type(of: error))
        if text.contains("NIOSSL") || text.contains("BoringSSL") { return .tls }
        return .connectionFailed
    }
}
