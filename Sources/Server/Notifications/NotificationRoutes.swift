import AsyncHTTPClient
import Registry
import Cron
import Foundation
import GRDB
import Hummingbird
import Store

struct ChannelDTO: Encodable, Sendable {
    var id: String
    var name: String
    var type: String
    var url: String
    var events: [String]
    var enabled: Bool
    var hasSecret: Bool
    /// Only in an update's answer, true when the update dropped the signing secret (or the
    /// SMTP password, when the host changed).
    var secretDropped: Bool?
    var delivery: String
    var minSeverity: String?
    var minPriority: String?
    /// E-mail channels: the SMTP settings without the password.
    var email: EmailSettings?
    var createdAt: String
    var updatedAt: String

    init(_ c: NotificationChannelRecord) {
        id = c.id
        name = c.name
        type = c.type
        url = c.url
        events = c.eventNames
        enabled = c.enabled
        hasSecret = c.hasSecret
        delivery = c.delivery
        minSeverity = c.minSeverity
        minPriority = c.minPriority
        email = c.type == ChannelType.email.rawValue ? EmailSettings.decode(c.settings) : nil
        createdAt = Timestamp.format(c.createdAt)
        updatedAt = Timestamp.format(c.updatedAt)
    }
}

struct DeliveryDTO: Encodable, Sendable {
    var id: String
    var event: String
    var status: String
    var attempts: Int
    /// `2xx`…`5xx`; the exact code is not shown (see `Notifications.Outcome`).
    var statusClass: String?
    var error: String?
    var createdAt: String
    var updatedAt: String
    var nextAttemptAt: String?

    enum CodingKeys: String, CodingKey { case id, event, status, attempts, statusClass, error, createdAt, updatedAt, nextAttemptAt }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id); try c.encode(event, forKey: .event); try c.encode(status, forKey: .status)
        try c.encode(attempts, forKey: .attempts); try c.encode(statusClass, forKey: .statusClass); try c.encode(error, forKey: .error)
        try c.encode(createdAt, forKey: .createdAt); try c.encode(updatedAt, forKey: .updatedAt)
        try c.encode(nextAttemptAt, forKey: .nextAttemptAt)
    }
}

/// `/api/notification-channels`: outgoing webhooks of the organization (admin).
struct NotificationRoutes {
    let s: AppServices
    let client: OutgoingHTTPClient

    func checkTarget(_ url: String) async throws {
        try await s.checkOutgoingTarget(url, for: .notification)
    }

    func register(_ api: RouteTable) {
        api.get("/api/notification-channels", list)
        api.post("/api/notification-channels", create)
        api.get("/api/notification-channels/{channelId}", get)
        api.put("/api/notification-channels/{channelId}", update)
        api.delete("/api/notification-channels/{channelId}", delete)
        api.post("/api/notification-channels/{channelId}/test", test)
        api.get("/api/notification-channels/{channelId}/deliveries", deliveries)
    }

    func channel(_ ctx: AppRequestContext, orgId: String, in db: any SQLConnection) throws -> NotificationChannelRecord? {
        try NotificationRepository.channel(db, id: ctx.parameters.get("channelId") ?? "", org: orgId)
    }

    var notifications: NotificationService { NotificationService(s: s) }

    @Sendable func list(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await s.authorize(req, .admin)
        let page = try PageRequest(req.uri, sortable: [])
        let (rows, total) = try await notifications.channels(p, page: page)
        return try Reply.json(ListEnvelope(data: rows, page: page, total: total, uri: req.uri))
    }

    @Sendable func create(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await s.authorize(req, .admin)
        let dto = try await notifications.create(p, try await req.jsonObject(), ip: ctx.remoteIP)
        return try Reply.data(dto, status: .created, headers: [.location: "/api/notification-channels/\(dto.id)"])
    }

    @Sendable func get(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await s.authorize(req, .admin)
        return try Reply.data(try await notifications.channel(p, id: ctx.parameters.get("channelId") ?? ""))
    }

    @Sendable func update(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await s.authorize(req, .admin)
        let id = ctx.parameters.get("channelId") ?? ""
        return try Reply.data(try await notifications.update(p, id: id, try await req.jsonObject(), ip: ctx.remoteIP))
    }

    @Sendable func delete(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await s.authorize(req, .admin)
        let id = try await notifications.delete(p, id: ctx.parameters.get("channelId") ?? "", ip: ctx.remoteIP)
        return try Reply.data(Deleted(id: id))
    }

    /// Sends a `test` event now and answers with the outcome: 200 when the channel exists and
    /// the policy allows its URL (delivered or not), 422 TARGET_NOT_ALLOWED when it does not.
    @Sendable func test(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await s.authorize(req, .admin)
        return try Reply.data(try await notifications.test(p, id: ctx.parameters.get("channelId") ?? "", client: client))
    }

    @Sendable func deliveries(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let p = try await s.authorize(req, .admin)
        let page = try PageRequest(req.uri, sortable: [])
        let result: ([DeliveryDTO], Int)? = try await s.db.read { db in
            guard let id = try channel(ctx, orgId: p.orgId, in: db)?.id else { return nil }
            let found = try NotificationRepository.deliveries(db, channelId: id, limit: page.limit, offset: page.offset)
            let rows = found.deliveries.map {
                DeliveryDTO(
                    id: $0.id, event: $0.event, status: $0.status, attempts: $0.attempts,
                    statusClass: Notifications.statusClass($0.responseCode), error: $0.error,
                    createdAt: Timestamp.format($0.createdAt), updatedAt: Timestamp.format($0.updatedAt),
                    nextAttemptAt: $0.nextAttemptAt.map(Timestamp.format))
            }
            return (rows, found.total)
        }
        guard let (rows, total) = result else { throw APIError.notFound("Notification channel") }
        return try Reply.json(ListEnvelope(data: rows, page: page, total: total, uri: req.uri))
    }
}
