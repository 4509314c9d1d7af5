import Cron
import Foundation
import GRDB
import Hummingbird
import Registry
import Store

/// The notification channels' domain operations for the API and the console: each takes the
/// caller's `Principal` and requires an admin, organization-wide (as the API always did).
struct NotificationService: Sendable {
    let s: AppServices

    func checkTarget(_ url: String) async throws {
        try await s.checkOutgoingTarget(url, for: .notification)
    }

    func channels(_ p: Principal, page: PageRequest) async throws -> (channels: [ChannelDTO], total: Int) {
        try p.authorize(.admin, operation: "GET /api/notification-channels")
        return try await s.db.read { db in
            let found = try NotificationRepository.channels(db, org: p.orgId, limit: page.limit, offset: page.offset)
            return (found.channels.map(ChannelDTO.init), found.total)
        }
    }

    /// Refuses (422) a target the outgoing-request policy refuses: the URL of a webhook, Slack
    /// or Teams channel, the SMTP host of an e-mail channel.
    func checkTargets(_ input: ChannelInput) async throws {
        if let url = input.url { try await checkTarget(url) }
        if let host = input.email?.host {
            do {
                _ = try await s.outgoingPolicy.resolveAndCheck(host: host, for: .notification)
            } catch let e as TargetNotAllowed {
                throw APIError.targetNotAllowed(e.description)
            } catch {
                // Not resolvable now: every delivery checks again before it connects.
            }
        }
    }

    /// Creates a channel from a request body (`name`, `type`, `url`, `events`, `secret`,
    /// `enabled`, `delivery`, `minSeverity`, `minPriority`, `email`).
    func create(_ p: Principal, _ body: ObjectReader, ip: String?) async throws -> ChannelDTO {
        try p.authorize(.admin, operation: "POST /api/notification-channels")
        var r = body
        var reading = ChannelInput.read(&r, creating: true)
        let type = reading.type ?? .webhook
        reading.check(&r, type: type, creating: true)
        let input = reading
        try r.check()
        guard let name = input.name, let events = input.events else { throw APIError.validation(r.issues) }
        try await checkTargets(input)
        let now = s.now
        let secrets = s.secrets
        return try await s.db.write { db in
            if try NotificationRepository.channelNameExists(db, org: p.orgId, name: name) {
                throw APIError.conflict("A channel named \(name) exists.")
            }
            let id = IDs.make("chn")
            var channel = NotificationChannelRecord(
                id: id, orgId: p.orgId, name: name, type: type.rawValue, url: "",
                events: String(decoding: try JSONCoding.encoder.encode(events), as: UTF8.self), enabled: input.enabled ?? true,
                hasSecret: false, now: now, delivery: (input.delivery ?? .immediate).rawValue, minSeverity: input.minSeverity ?? nil,
                minPriority: input.minPriority ?? nil)
            switch type {
            case .webhook:
                channel.url = input.url ?? ""
                if let secret = input.secret ?? nil {
                    try secrets.seal(Data(secret.utf8), owner: Notifications.secretOwner(id), in: db)
                    channel.hasSecret = true
                }
            case .slack, .teams:
                let url = input.url ?? ""
                channel.url = Notifications.urlHint(url)
                try secrets.seal(Data(url.utf8), owner: Notifications.urlOwner(id), in: db)
                channel.hasSecret = true
            case .email:
                guard let email = input.email else { throw APIError.validation("email", "Required.") }
                channel.url = "smtp://\(email.host):\(email.port)"
                channel.settings = try email.encoded()
                if let password = input.password ?? nil {
                    try secrets.seal(Data(password.utf8), owner: Notifications.passwordOwner(id), in: db)
                    channel.hasSecret = true
                }
            }
            try NotificationRepository.insertChannel(db, channel)
            try AppServices.audit(db, org: p.orgId, actor: p.actor, action: "notification_channel.create", target: id, ip: ip, now: now)
            return ChannelDTO(channel)
        }
    }

    func channel(_ p: Principal, id: String) async throws -> ChannelDTO {
        try p.authorize(.admin, operation: "GET /api/notification-channels/\(id)")
        guard let dto = try await s.db.read({ db in try NotificationRepository.channel(db, id: id, org: p.orgId).map(ChannelDTO.init) })
        else { throw APIError.notFound("Notification channel") }
        return dto
    }

    func update(_ p: Principal, id: String, _ body: ObjectReader, ip: String?) async throws -> ChannelDTO {
        try p.authorize(.admin, operation: "PUT /api/notification-channels/\(id)")
        let channelId = id
        guard let stored = try await s.db.read({ db in try NotificationRepository.channel(db, id: channelId, org: p.orgId) })
        else { throw APIError.notFound("Notification channel") }
        var r = body
        var reading = ChannelInput.read(&r, creating: false)
        let type = ChannelType(rawValue: stored.type) ?? .webhook
        if let t = reading.type, t != type { r.fail("type", "A channel's type cannot change; create a new channel.") }
        reading.check(&r, type: type, creating: false)
        let input = reading
        try r.check()
        try await checkTargets(input)
        let now = s.now
        let secrets = s.secrets
        let dto: ChannelDTO? = try await s.db.write { db in
            guard var channel = try NotificationRepository.channel(db, id: channelId, org: p.orgId) else { return nil }
            let id = channel.id
            if let name = input.name, name != channel.name,
               try NotificationRepository.channelNameExists(db, org: p.orgId, name: name) {
                throw APIError.conflict("A channel named \(name) exists.")
            }
            var dropSecret = false
            switch type {
            case .webhook:
                // The signing secret belongs to the URL it was given for: a new URL without a
                // new secret drops it, so signed bodies (which the old receiver trusts) are
                // never steered to another host.
                let urlChanged = input.url.map { !RegistryValidation.sameEndpoint($0, channel.url) } ?? false
                dropSecret = channel.hasSecret && urlChanged && input.secret == nil
                if let secret = input.secret {
                    try secrets.delete(owner: Notifications.secretOwner(id), in: db)
                    if let secret { try secrets.seal(Data(secret.utf8), owner: Notifications.secretOwner(id), in: db) }
                    channel.hasSecret = secret != nil
                } else if dropSecret {
                    try secrets.delete(owner: Notifications.secretOwner(id), in: db)
                    channel.hasSecret = false
                }
                if let url = input.url { channel.url = url }
            case .slack, .teams:
                if let url = input.url {
                    try secrets.seal(Data(url.utf8), owner: Notifications.urlOwner(id), in: db)
                    channel.url = Notifications.urlHint(url)
                }
            case .email:
                if let email = input.email {
                    // The password belongs to the host it was given for, like a signing secret.
                    let old = EmailSettings.decode(channel.settings)
                    dropSecret = channel.hasSecret && old?.host.lowercased() != email.host.lowercased() && input.password == nil
                    channel.settings = try email.encoded()
                    channel.url = "smtp://\(email.host):\(email.port)"
                }
                if let password = input.password {
                    try secrets.delete(owner: Notifications.passwordOwner(id), in: db)
                    if let password { try secrets.seal(Data(password.utf8), owner: Notifications.passwordOwner(id), in: db) }
                    channel.hasSecret = password != nil
                } else if dropSecret {
                    try secrets.delete(owner: Notifications.passwordOwner(id), in: db)
                    channel.hasSecret = false
                }
            }
            if let name = input.name { channel.name = name }
            if let events = input.events { channel.events = String(decoding: try JSONCoding.encoder.encode(events), as: UTF8.self) }
            if let enabled = input.enabled { channel.enabled = enabled }
            if let delivery = input.delivery { channel.delivery = delivery.rawValue }
            if let minSeverity = input.minSeverity { channel.minSeverity = minSeverity }
            if let minPriority = input.minPriority { channel.minPriority = minPriority }
            channel.updatedAt = now
            try NotificationRepository.updateChannel(db, channel)
            try AppServices.audit(db, org: p.orgId, actor: p.actor, action: "notification_channel.update", target: id, ip: ip, now: now)
            if dropSecret {
                try AppServices.audit(
                    db, org: p.orgId, actor: p.actor, action: "notification_channel.secret.dropped", target: id, ip: ip,
                    now: now)
            }
            var dto = ChannelDTO(channel)
            dto.secretDropped = dropSecret ? true : nil
            return dto
        }
        guard let dto else { throw APIError.notFound("Notification channel") }
        return dto
    }

    func delete(_ p: Principal, id: String, ip: String?) async throws -> String {
        try p.authorize(.admin, operation: "DELETE /api/notification-channels/\(id)")
        let now = s.now
        let channelId = id
        let secrets = s.secrets
        let id: String? = try await s.db.write { db in
            guard let id = try NotificationRepository.channel(db, id: channelId, org: p.orgId)?.id else { return nil }
            for owner in Notifications.secretOwners(id) { try secrets.delete(owner: owner, in: db) }
            try NotificationRepository.deleteChannel(db, id: id)
            try AppServices.audit(db, org: p.orgId, actor: p.actor, action: "notification_channel.delete", target: id, ip: ip, now: now)
            return id
        }
        guard let id else { throw APIError.notFound("Notification channel") }
        return id
    }

    /// The answer to a test send. Only the status class and an error category: the exact
    /// status and the transport's messages would tell a caller about the network behind the server.
    struct TestResult: Encodable, Sendable {
        var delivered: Bool, statusClass: String?, error: String?, durationMs: Int
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(delivered, forKey: .delivered); try c.encode(statusClass, forKey: .statusClass)
            try c.encode(error, forKey: .error); try c.encode(durationMs, forKey: .durationMs)
        }
        enum CodingKeys: String, CodingKey { case delivered, statusClass, error, durationMs }
    }

    /// Sends a `test` event now and answers with the outcome (delivered or not) when the channel
    /// exists and the policy allows its URL; 422 TARGET_NOT_ALLOWED when it does not.
    func test(_ p: Principal, id: String, client: OutgoingHTTPClient) async throws -> TestResult {
        try p.authorize(.admin, operation: "POST /api/notification-channels/\(id)/test")
        let secrets = s.secrets
        let channelId = id
        guard let target: ChannelTarget = try await s.db.read({ db in
            guard let channel = try NotificationRepository.channel(db, id: channelId, org: p.orgId) else { return nil }
            return try ChannelTarget.load(channel, secrets: secrets, in: db)
        }) else { throw APIError.notFound("Notification channel") }
        let now = s.now
        let fields = [
            "event": "test", "severity": "info", "title": "harborguard test notification",
            "message": "Sent by \(p.actor) to check this channel.", "timestamp": Timestamp.format(now), "organizationId": p.orgId,
        ]
        let event = try JSONCoding.encoder.encode(fields)
        let body: Data
        if target.type == .webhook {
            body = event
        } else {
            let pending = NotificationPendingRecord(
                id: "test", channelId: target.channelId, event: "test", severity: "info", body: event, createdAt: now)
            let digest = ChannelDigest.digest([pending], channelName: target.name, baseURL: s.config.baseURL, now: now)
            body = try target.render(digest, now: now)
        }
        let start = ContinuousClock.now
        let deliveryId = IDs.make("dlv")
        // Bounded below a client's usual 10 s timeout: this answers synchronously.
        let outcome = await target.deliver(
            body, event: "test", deliveryId: deliveryId, client: client, policy: s.outgoingPolicy, now: now, timeout: .seconds(5),
            smtpTimeout: .seconds(8))
        if let refused = outcome.refused { throw APIError.targetNotAllowed(refused.description) }
        let ms = (ContinuousClock.now - start).components
        return TestResult(
            delivered: outcome.error == nil, statusClass: Notifications.statusClass(outcome.code), error: outcome.error,
            durationMs: Int(ms.seconds * 1000 + ms.attoseconds / 1_000_000_000_000_000))
    }

}
