package import Cron
package import Foundation

/// The notifications aggregate: channels and their deliveries. Functions run inside the
/// caller's transaction, so an event is recorded with the change that caused it.
package enum NotificationRepository {
    // MARK: Channels

    package static func insertChannel(_ db: any SQLConnection, _ channel: NotificationChannelRecord) throws {
        try channel.insert(into: db)
    }

    /// Stores every field of `channel` (found by its id).
    package static func updateChannel(_ db: any SQLConnection, _ channel: NotificationChannelRecord) throws {
        try channel.update(in: db)
    }

    package static func deleteChannel(_ db: any SQLConnection, id: String) throws {
        try db.execute("DELETE FROM notification_channels WHERE id = ?", [id])
    }

    package static func channel(_ db: any SQLConnection, id: String) throws -> NotificationChannelRecord? {
        try db.fetchOne(NotificationChannelRecord.self, "SELECT * FROM notification_channels WHERE id = ?", [id])
    }

    package static func channel(_ db: any SQLConnection, id: String, org: String) throws -> NotificationChannelRecord? {
        try db.fetchOne(NotificationChannelRecord.self, "SELECT * FROM notification_channels WHERE id = ? AND org_id = ?", [id, org])
    }

    package static func channelNameExists(_ db: any SQLConnection, org: String, name: String) throws -> Bool {
        try db.bool("SELECT EXISTS (SELECT 1 FROM notification_channels WHERE org_id = ? AND name = ?)", [org, name]) ?? false
    }

    /// An organization's channels, oldest first.
    package static func channels(_ db: any SQLConnection, org: String, limit: Int, offset: Int) throws
        -> (channels: [NotificationChannelRecord], total: Int)
    {
        let total = try db.int("SELECT COUNT(*) FROM notification_channels WHERE org_id = ?", [org]) ?? 0
        let channels = try db.fetchAll(NotificationChannelRecord.self, "SELECT * FROM notification_channels WHERE org_id = ? ORDER BY created_at, id LIMIT ? OFFSET ?", [org, limit, offset])
        return (channels, total)
    }

    /// What `Notifications.emit` needs of an enabled channel.
    package struct EnabledChannel: Sendable, Hashable {
        package var id: String
        package var type: String
        package var events: [String]
        package var delivery: String
        package var minSeverity: String?
        package var minPriority: String?
    }

    /// The enabled channels of an organization (ids, types, subscribed events, delivery mode
    /// and minimum severity and priority).
    package static func enabledChannels(_ db: any SQLConnection, org: String) throws -> [EnabledChannel] {
        try db.query("SELECT id, type, events, delivery, min_severity, min_priority FROM notification_channels WHERE org_id = ? AND enabled = ?", [org, true]
        ).map { row in
            let events = (try? JSONDecoder().decode([String].self, from: Data((row["events"] as String).utf8))) ?? []
            return EnabledChannel(
                id: row["id"], type: row["type"], events: events, delivery: row["delivery"], minSeverity: row["min_severity"],
                minPriority: row["min_priority"])
        }
    }

    // MARK: Pending events (slack, teams, email)

    package static func insertPending(_ db: any SQLConnection, _ pending: NotificationPendingRecord) throws {
        try db.execute("INSERT INTO notification_pending (id, channel_id, event, severity, body, created_at) VALUES (?, ?, ?, ?, ?, ?)", [
                pending.id, pending.channelId, pending.event, pending.severity, pending.body, Timestamp.format(pending.createdAt),
            ])
    }

    /// Takes every pending event of a channel, oldest first: one read, then one delete, in the
    /// caller's write transaction (the flush renders them into one message in the same one).
    package static func takePending(_ db: any SQLConnection, channelId: String) throws -> [NotificationPendingRecord] {
        let rows = try db.fetchAll(NotificationPendingRecord.self, "SELECT * FROM notification_pending WHERE channel_id = ? ORDER BY created_at, id", [channelId])
        if !rows.isEmpty {
            try db.execute("DELETE FROM notification_pending WHERE channel_id = ?", [channelId])
        }
        return rows
    }

    /// Enabled channels with the given delivery mode that have pending events (of one
    /// organization, or all).
    package static func channelsWithPending(_ db: any SQLConnection, org: String?, delivery: String) throws -> [(id: String, orgId: String)] {
        try db.query("""
                SELECT c.id, c.org_id FROM notification_channels c
                WHERE c.enabled = 1 AND c.delivery = ?2 AND (CAST(?1 AS TEXT) IS NULL OR c.org_id = ?1)
                    AND EXISTS (SELECT 1 FROM notification_pending p WHERE p.channel_id = c.id)
                ORDER BY c.id
                """, [org, delivery]
        ).map { ($0[0], $0[1]) }
    }

    package static func pendingCount(_ db: any SQLConnection, channelId: String) throws -> Int {
        try db.int("SELECT COUNT(*) FROM notification_pending WHERE channel_id = ?", [channelId]) ?? 0
    }

    // MARK: Deliveries

    package static func insertDelivery(_ db: any SQLConnection, _ delivery: NotificationDeliveryRecord) throws {
        try delivery.insert(into: db)
    }

    /// A channel's deliveries, newest first.
    package static func deliveries(_ db: any SQLConnection, channelId: String, limit: Int, offset: Int) throws
        -> (deliveries: [NotificationDeliveryRecord], total: Int)
    {
        let total = try db.int("SELECT COUNT(*) FROM notification_deliveries WHERE channel_id = ?", [channelId]) ?? 0
        let deliveries = try db.fetchAll(NotificationDeliveryRecord.self, "SELECT * FROM notification_deliveries WHERE channel_id = ? ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?", [channelId, limit, offset])
        return (deliveries, total)
    }

    /// A delivery with its channel.
    package static func delivery(_ db: any SQLConnection, id: String) throws
        -> (delivery: NotificationDeliveryRecord, channel: NotificationChannelRecord)?
    {
        guard let delivery = try db.fetchOne(NotificationDeliveryRecord.self, "SELECT * FROM notification_deliveries WHERE id = ?", [id]),
            let channel = try channel(db, id: delivery.channelId)
        else { return nil }
        return (delivery, channel)
    }

    /// Records an attempt: `status` stays `pending` with a `nextAttemptAt`, or becomes
    /// `delivered` or `failed` (no next attempt).
    package static func recordAttempt(
        _ db: any SQLConnection, id: String, status: String, attempts: Int, responseCode: Int?, error: String?, now: Date,
        nextAttemptAt: Date?
    ) throws {
        try db.execute("""
                UPDATE notification_deliveries SET status = ?, attempts = ?, response_code = ?, error = ?, updated_at = ?,
                    next_attempt_at = ? WHERE id = ?
                """, [status, attempts, responseCode, error, Timestamp.format(now), nextAttemptAt.map(Timestamp.format), id])
    }
}
