import AsyncHTTPClient
public import Registry
public import Scan
public import Cron
import Crypto
public import Foundation
import GRDB
import Logging
public import NIOCore
import NIOHTTP1
import Store

/// Outgoing webhooks per organization. Events are recorded in the same transaction as the
/// change that caused them (a delivery row plus a `notify` job), so none is lost to a crash;
/// delivery retries after 30 s, 2 min, 10 min and 1 h (5 attempts) as durable jobs.
public enum NotificationEvent: String, Sendable, Codable, CaseIterable {
    case scanComplete = "scan_complete"
    case scanFailed = "scan_failed"
    case criticalCVE = "critical_cve"
    case highCVE = "high_cve"
    case newImage = "new_image"
    case agentDisconnected = "agent_disconnected"
    /// An image's policy verdict turned to fail.
    case policyFailed = "policy_failed"
    /// An image's policy verdict turned from warn or fail to pass.
    case policyPassed = "policy_passed"
    /// CVE watch: a finding a vulnerability-database update added to a tag's current image.
    case findingNew = "finding_new"
    /// CVE watch: a finding whose priority rose (it entered KEV, or EPSS or the severity moved it up).
    case findingEscalated = "finding_escalated"
    /// CVE watch: a finding a vulnerability-database update removed from a tag's current image.
    case findingResolved = "finding_resolved"
}


public enum Notifications {
    /// Delays before attempts 2…5.
    public static let retryDelays: [TimeInterval] = [30, 120, 600, 3600]
    public static let timeout: TimeAmount = .seconds(10)
    public static func secretOwner(_ channelId: String) -> String { "channel:\(channelId):secret" }

    /// Records `event` for every enabled channel of `orgId` that subscribes to it and whose
    /// minimum severity and priority it meets, inside the caller's transaction. `fields` are merged into
    /// the body next to the standard keys. A webhook gets one delivery per event; a slack,
    /// teams or email channel gets the event into its pending table and a flush job for its
    /// next message (see `ChannelDigest`).
    ///
    /// `held`: the caller is a batch that ends with ``ChannelDigest/flushHeld(orgId:now:in:)``
    /// (a rematch): an `immediate` channel's events wait for that instead of the 2 s window, so
    /// a batch longer than the window still becomes one message (a flush 10 minutes on stays
    /// queued as a safety net should the batch die first).
    public static func emit(
        _ event: NotificationEvent, orgId: String, severity: String, title: String, message: String,
        fields: [String: String] = [:], priority: Priority? = nil, held: Bool = false, now: Date, in db: any SQLConnection
    ) throws {
        let channels = try NotificationRepository.enabledChannels(db, org: orgId)
        guard !channels.isEmpty else { return }
        var body: [String: String] = fields
        body["event"] = event.rawValue
        body["severity"] = severity
        body["title"] = title
        body["message"] = message
        body["timestamp"] = Timestamp.format(now)
        body["organizationId"] = orgId
        let data = try JSONCoding.encoder.encode(body)
        for channel in channels where channel.events.contains(event.rawValue) {
            guard ChannelSeverity.passes(severity, minimum: channel.minSeverity),
                ChannelPriority.passes(priority, minimum: channel.minPriority)
            else { continue }
            if channel.type == ChannelType.webhook.rawValue {
                try enqueue(channelId: channel.id, event: event.rawValue, body: data, orgId: orgId, now: now, in: db)
            } else {
                try NotificationRepository.insertPending(
                    db, NotificationPendingRecord(
                        id: IDs.make("npe"), channelId: channel.id, event: event.rawValue, severity: severity, body: data,
                        createdAt: now))
                try ChannelDigest.scheduleFlush(
                    channelId: channel.id, orgId: orgId, delivery: DeliveryMode(rawValue: channel.delivery) ?? .immediate, held: held,
                    now: now, in: db)
            }
        }
    }

    static func enqueue(channelId: String, event: String, body: Data, orgId: String, now: Date, in db: any SQLConnection) throws {
        let id = IDs.make("dlv")
        try NotificationRepository.insertDelivery(
            db, NotificationDeliveryRecord(id: id, channelId: channelId, event: event, body: body, now: now))
        _ = try JobStore.enqueue(
            try NewJob(.notify, NotifyJobPayload(deliveryId: id), orgId: orgId, concurrencyKey: "notify:\(channelId)", maxAttempts: 1),
            now: now, in: db)
    }

    /// `sha256=<hex HMAC-SHA256 of the raw body>`.
    public static func signature(body: Data, secret: Data) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: secret))
        return "sha256=" + mac.hexString
    }

    /// What one POST came to. `error` is a category ("HTTP 5xx", "timed out", "connection
    /// failed", …), never the transport's own message, so a channel reveals nothing about the
    /// network behind the server beyond the status class.
    public struct Outcome: Sendable {
        public var code: Int?
        public var error: String?
        /// Set when the outgoing-request policy refused the URL (nothing was sent).
        public var refused: TargetNotAllowed?
        /// A 429's `Retry-After`, bounded to 1 s … 1 h: when the next attempt goes.
        public var retryAfter: TimeInterval?
        /// Set when another attempt cannot succeed (an SMTP 5xx refusal, a configuration
        /// problem): the delivery fails at once.
        public var permanent = false

        public init(code: Int?, error: String?, refused: TargetNotAllowed? = nil, retryAfter: TimeInterval? = nil, permanent: Bool = false) {
            self.code = code
            self.error = error
            self.refused = refused
            self.retryAfter = retryAfter
            self.permanent = permanent
        }
    }

    /// The bounds of a honoured `Retry-After`.
    public static let retryAfterBounds: ClosedRange<TimeInterval> = 1...3600

    /// A `Retry-After` value (delay seconds or an HTTP date) as a delay from `now`, bounded
    /// to `retryAfterBounds`; nil when it is neither.
    public static func retryAfter(_ value: String, now: Date) -> TimeInterval? {
        let v = value.trimmingCharacters(in: .whitespaces)
        var delay: TimeInterval?
        if let seconds = Int(v), seconds >= 0 {
            delay = TimeInterval(seconds)
        } else {
            for format in ["EEE, dd MMM yyyy HH:mm:ss 'GMT'", "EEEE, dd-MMM-yy HH:mm:ss 'GMT'", "EEE MMM d HH:mm:ss yyyy"] {
                let f = DateFormatter()
                f.locale = Locale(identifier: "en_US_POSIX")
                f.timeZone = TimeZone(identifier: "GMT")
                f.dateFormat = format
                if let date = f.date(from: v) {
                    delay = date.timeIntervalSince(now)
                    break
                }
            }
        }
        guard let delay else { return nil }
        return min(max(delay, retryAfterBounds.lowerBound), retryAfterBounds.upperBound)
    }

    /// `2xx`…`5xx` for a status code.
    public static func statusClass(_ code: Int?) -> String? {
        guard let code, (100...599).contains(code) else { return nil }
        return "\(code / 100)xx"
    }

    /// One POST of `body` to `url` through the notification client (policy-checked, not
    /// following redirects).
    public static func post(
        _ body: Data, event: String, deliveryId: String, to url: String, secret: Data?, client: OutgoingHTTPClient,
        timeout: TimeAmount = Notifications.timeout, webhookHeaders: Bool = true, now: Date = Date()
    ) async -> Outcome {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: "harborguard-webhook")
        if webhookHeaders {
            request.headers.add(name: "X-HarborGuard-Event", value: event)
            request.headers.add(name: "X-HarborGuard-Delivery", value: deliveryId)
        }
        if let secret { request.headers.add(name: "X-HarborGuard-Signature", value: signature(body: body, secret: secret)) }
        request.body = .bytes(ByteBuffer(bytes: body))
        do {
            let response = try await client.execute(request, deadline: .now() + timeout)
            _ = try? await response.body.collect(upTo: 64 << 10)
            let code = Int(response.status.code)
            let retryAfter = code == 429 ? response.headers["Retry-After"].first.flatMap { Notifications.retryAfter($0, now: now) } : nil
            return Outcome(
                code: code, error: (200..<300).contains(code) ? nil : "HTTP \(statusClass(code) ?? "error")", retryAfter: retryAfter)
        } catch let e as TargetNotAllowed {
            return Outcome(code: nil, error: e.description, refused: e)
        } catch {
            return Outcome(code: nil, error: category(error))
        }
    }

    /// A transport failure as a category without addresses, names or resolver text.
    static func category(_ error: any Error) -> String {
        if error is OutgoingResolutionFailed { return "cannot resolve the host" }
        if let e = error as? HTTPClientError {
            switch e {
            case .connectTimeout, .readTimeout, .writeTimeout, .deadlineExceeded, .getConnectionFromPoolTimeout, .tlsHandshakeTimeout:
                return "timed out"
            case .invalidURL, .emptyHost, .emptyScheme:
                return "unusable URL"
            default:
                break
            }
        }
        let text = String(reflecting: type(of: error)) + " " + String(describing: error)
        if text.contains("NIOSSL") || text.contains("BoringSSL") || text.contains("certificate") || text.contains("handshake") {
            return "TLS handshake or certificate verification failed"
        }
        return "connection failed"
    }
}

/// The `notify` job: one delivery attempt; a failure schedules the next attempt as a new job
/// after the fixed retry delays, and the fifth failure marks the delivery failed.
public struct NotificationSender: Sendable {
    public let services: AppServices
    public let client: OutgoingHTTPClient

    public init(services: AppServices, client: OutgoingHTTPClient) {
        self.services = services
        self.client = client
    }

    public func run(_ context: JobContext, _ p: NotifyJobPayload) async throws -> String? {
        let secrets = services.secrets
        struct Loaded: Sendable { var target: ChannelTarget, event: String, body: Data, attempts: Int }
        let loaded: Loaded? = try await services.db.read { db in
            guard let (delivery, channel) = try NotificationRepository.delivery(db, id: p.deliveryId),
                delivery.status == "pending", channel.enabled
            else { return nil }
            return Loaded(
                target: try ChannelTarget.load(channel, secrets: secrets, in: db), event: delivery.event, body: delivery.body,
                attempts: delivery.attempts)
        }
        guard let loaded else { return #"{"skipped":"delivery gone, done or channel disabled"}"# }
        let target = loaded.target
        let outcome = await target.deliver(
            loaded.body, event: loaded.event, deliveryId: p.deliveryId, client: client, policy: services.outgoingPolicy,
            now: services.now)
        let (code, error) = (outcome.code, outcome.error)
        let attempt = loaded.attempts + 1
        let now = services.now
        try await services.db.write { db in
            if error == nil {
                try NotificationRepository.recordAttempt(
                    db, id: p.deliveryId, status: "delivered", attempts: attempt, responseCode: code, error: nil, now: now,
                    nextAttemptAt: nil)
            } else if attempt <= Notifications.retryDelays.count, outcome.refused == nil, !outcome.permanent {
                // (A refused target fails at once: the policy will not change between attempts.
                // A 429's Retry-After, bounded, replaces the fixed delay.)
                // Rounded up to the whole second the job store keeps, so a Retry-After is never cut short.
                let next = Date(timeIntervalSince1970: now.addingTimeInterval(outcome.retryAfter ?? Notifications.retryDelays[attempt - 1])
                    .timeIntervalSince1970.rounded(.up))
                try NotificationRepository.recordAttempt(
                    db, id: p.deliveryId, status: "pending", attempts: attempt, responseCode: code, error: error, now: now,
                    nextAttemptAt: next)
                _ = try JobStore.enqueue(
                    try NewJob(.notify, p, orgId: target.orgId, concurrencyKey: "notify:\(target.channelId)",
                           maxAttempts: 1, runAt: next),
                    now: now, in: db)
            } else {
                try NotificationRepository.recordAttempt(
                    db, id: p.deliveryId, status: "failed", attempts: attempt, responseCode: code, error: error, now: now,
                    nextAttemptAt: nil)
            }
        }
        return String(decoding: try JSONCoding.encoder.encode(["attempt": "\(attempt)", "result": error ?? "delivered"]), as: UTF8.self)
    }
}
