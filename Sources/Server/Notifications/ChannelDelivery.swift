import Cron
import Foundation
import GRDB
import NIOCore
import Registry
import Scan
import Store

/// Where one channel's deliveries go, with its secrets opened: the webhook URL and signing
/// secret, the sealed Slack/Teams URL, or the SMTP settings and password.
struct ChannelTarget: Sendable {
    var channelId: String
    var orgId: String
    var name: String
    var type: ChannelType
    /// Webhook: the channel's URL; slack/teams: the sealed URL.
    var url: String?
    /// Webhook: the signing secret.
    var secret: Data?
    var email: EmailSettings?
    var password: String?

    static func load(_ channel: NotificationChannelRecord, secrets: SecretStore, in db: any SQLConnection) throws -> ChannelTarget {
        let type = ChannelType(rawValue: channel.type) ?? .webhook
        var t = ChannelTarget(channelId: channel.id, orgId: channel.orgId, name: channel.name, type: type)
        switch type {
        case .webhook:
            t.url = channel.url
            t.secret = channel.hasSecret ? try secrets.open(owner: Notifications.secretOwner(channel.id), in: db) : nil
        case .slack, .teams:
            t.url = try secrets.open(owner: Notifications.urlOwner(channel.id), in: db).map { String(decoding: $0, as: UTF8.self) }
        case .email:
            t.email = EmailSettings.decode(channel.settings)
            t.password = channel.hasSecret
                ? try secrets.open(owner: Notifications.passwordOwner(channel.id), in: db).map { String(decoding: $0, as: UTF8.self) } : nil
        }
        return t
    }

    init(channelId: String, orgId: String, name: String, type: ChannelType) {
        self.channelId = channelId
        self.orgId = orgId
        self.name = name
        self.type = type
    }

    /// One message for `digest` in this channel's format (a webhook has none: its bodies are
    /// the events themselves).
    func render(_ digest: NotificationDigest, now: Date) throws -> Data {
        switch type {
        case .webhook, .slack:
            return try JSONCoding.encoder.encode(SlackRenderer.render(digest))
        case .teams:
            return try JSONCoding.encoder.encode(TeamsRenderer.render(digest))
        case .email:
            let e = email ?? EmailSettings(host: "", port: 0, security: .tls, username: nil, from: "", to: [], caFile: nil)
            return EmailRenderer.render(digest, EmailRenderer.envelope(from: e.from, to: e.to, date: now))
        }
    }

    /// One attempt at sending `body`.
    func deliver(
        _ body: Data, event: String, deliveryId: String, client: OutgoingHTTPClient, policy: OutgoingPolicy, now: Date,
        timeout: TimeAmount = Notifications.timeout, smtpTimeout: Duration = .seconds(30)
    ) async -> Notifications.Outcome {
        switch type {
        case .webhook:
            guard let url else { return .init(code: nil, error: "unusable URL", permanent: true) }
            return await Notifications.post(
                body, event: event, deliveryId: deliveryId, to: url, secret: secret, client: client, timeout: timeout, now: now)
        case .slack, .teams:
            guard let url else { return .init(code: nil, error: "the channel's URL is missing", permanent: true) }
            return await Notifications.post(
                body, event: event, deliveryId: deliveryId, to: url, secret: nil, client: client, timeout: timeout,
                webhookHeaders: false, now: now)
        case .email:
            guard let email else { return .init(code: nil, error: "the channel's settings are missing", permanent: true) }
            do {
                try await SMTPClient(settings: email, password: password, policy: policy, timeout: smtpTimeout).send(body)
                return .init(code: nil, error: nil)
            } catch {
                if case .refused(let e) = error { return .init(code: nil, error: e.description, refused: e) }
                return .init(code: nil, error: error.description, permanent: !error.transient)
            }
        }
    }
}

extension NotificationSender {
    /// The `notify_flush` job: every pending event of the channel becomes one message and one
    /// delivery (sent by a `notify` job with the usual retries), all in one write transaction.
    func flush(_ context: JobContext, _ p: NotifyFlushJobPayload) async throws -> String? {
        let secrets = services.secrets
        let now = services.now
        let baseURL = services.config.baseURL
        let result: String = try await services.db.write { db in
            guard let channel = try NotificationRepository.channel(db, id: p.channelId) else { return "channel gone" }
            let pending = try NotificationRepository.takePending(db, channelId: channel.id)
            guard !pending.isEmpty else { return "nothing pending" }
            guard channel.enabled, channel.type != ChannelType.webhook.rawValue else { return "dropped \(pending.count): channel disabled" }
            let target = try ChannelTarget.load(channel, secrets: secrets, in: db)
            let digest = ChannelDigest.digest(pending, channelName: channel.name, baseURL: baseURL, now: now)
            let body = try target.render(digest, now: now)
            let event = pending.count == 1 ? pending[0].event : "digest"
            try Notifications.enqueue(channelId: channel.id, event: event, body: body, orgId: channel.orgId, now: now, in: db)
            return "\(pending.count) events in one message"
        }
        return String(decoding: try JSONCoding.encoder.encode(["result": result]), as: UTF8.self)
    }
}
