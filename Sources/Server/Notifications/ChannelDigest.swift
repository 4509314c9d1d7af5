import Cron
import Foundation
import GRDB
import Store

/// Batching for slack, teams and email channels. `Notifications.emit` puts each event into
/// `notification_pending` and makes sure one `notify_flush` job is due for the channel's next
/// message (a dedupe key per channel and due time); the flush takes every pending event of
/// the channel (one read), renders one message and records one delivery, which the `notify`
/// job sends with the usual retries.
enum ChannelDigest {
    /// `immediate`: events emitted within this long of the first one become one message.
    static let immediateWindow: TimeInterval = 2
    /// `daily`: the hour (UTC) the digest is sent.
    static let dailyHourUTC = 8

    /// When a channel with `delivery` flushes events emitted at `now`.
    static func due(_ delivery: DeliveryMode, now: Date) -> Date {
        let t = now.timeIntervalSince1970
        switch delivery {
        case .immediate:
            return Date(timeIntervalSince1970: (t + immediateWindow).rounded(.down))
        case .hourly:
            return Date(timeIntervalSince1970: ((t / 3600).rounded(.down) + 1) * 3600)
        case .daily:
            let day = (t / 86_400).rounded(.down) * 86_400
            let today = day + Double(dailyHourUTC) * 3600
            return Date(timeIntervalSince1970: t < today ? today : today + 86_400)
        }
    }

    /// Queues the channel's flush for the due time of an event emitted `now` (once per
    /// channel and due time), in the emitting transaction.
    static func scheduleFlush(
        channelId: String, orgId: String, delivery: DeliveryMode, held: Bool = false, now: Date, in db: any SQLConnection
    ) throws {
        let due = held && delivery == .immediate
            ? Date(timeIntervalSince1970: (now.timeIntervalSince1970 + heldSafetyNet).rounded(.down)) : due(delivery, now: now)
        try enqueueFlush(channelId: channelId, orgId: orgId, due: due, now: now, in: db)
    }

    /// How long held events wait when their batch never releases them.
    static let heldSafetyNet: TimeInterval = 600

    /// The end of a batch that emitted `held` events: every enabled `immediate` channel with
    /// pending events (of one organization, or all) is flushed now, into one message each.
    static func flushHeld(orgId: String?, now: Date, in db: any SQLConnection) throws {
        let due = Date(timeIntervalSince1970: now.timeIntervalSince1970.rounded(.down))
        for channel in try NotificationRepository.channelsWithPending(db, org: orgId, delivery: DeliveryMode.immediate.rawValue) {
            try enqueueFlush(channelId: channel.id, orgId: channel.orgId, due: due, now: now, in: db)
        }
    }

    private static func enqueueFlush(channelId: String, orgId: String, due: Date, now: Date, in db: any SQLConnection) throws {
        _ = try JobStore.enqueue(
            try NewJob(
                .notifyFlush, NotifyFlushJobPayload(channelId: channelId), orgId: orgId, concurrencyKey: "notify:\(channelId)",
                dedupeKey: "notify_flush:\(channelId):\(Timestamp.format(due))", maxAttempts: 3, runAt: due),
            now: now, in: db)
    }

    /// The events of one message, summarized for the renderers.
    static func digest(
        _ pending: [NotificationPendingRecord], channelName: String, baseURL: String, now: Date
    ) -> NotificationDigest {
        var digest = NotificationDigest(channelName: channelName, baseURL: baseURL, generatedAt: now)
        var seenImages = Set<String>()
        var items: [NotificationDigest.Item] = []
        items.reserveCapacity(pending.count)
        for (index, p) in pending.enumerated() {
            let body = (try? JSONDecoder().decode([String: String].self, from: p.body)) ?? [:]
            let severity = p.severity.lowercased()
            digest.total += 1
            digest.events[p.event, default: 0] += 1
            if ChannelSeverity.rank(severity) != nil { digest.counts[severity, default: 0] += 1 }
            items.append(NotificationDigest.Item(event: p.event, severity: severity, fields: body, order: index))
        }
        items.sort { a, b in
            if a.rank != b.rank { return a.rank > b.rank }
            if a.kev != b.kev { return a.kev }
            if a.epss != b.epss { return a.epss > b.epss }
            return a.order < b.order
        }
        // Images in the order of their most severe event.
        for item in items {
            if let reference = item.fields["reference"] ?? item.fields["image"], !reference.isEmpty,
                seenImages.insert(reference).inserted
            {
                digest.images.append(reference)
            }
        }
        digest.items = items
        return digest
    }
}

/// One message's worth of events.
struct NotificationDigest: Sendable {
    struct Item: Sendable {
        var event: String
        var severity: String
        var fields: [String: String]
        var order: Int

        var rank: Int { ChannelSeverity.rank(severity) ?? -1 }
        var kev: Bool { fields["kev"] == "true" }
        var epss: Double { fields["epssPercentile"].flatMap(Double.init) ?? -1 }
        var isFinding: Bool { fields["vulnerabilityId"] != nil }

        /// One line naming what happened: `CVE-… in pkg 1.2 (fix 1.3)` for a finding event,
        /// the event's title otherwise.
        var headline: String {
            if let id = fields["vulnerabilityId"] {
                var s = id
                if let pkg = fields["package"] {
                    s += " in \(pkg)"
                    if let v = fields["version"] { s += " \(v)" }
                }
                if let fix = fields["fixVersion"] { s += " (fix \(fix))" }
                return s
            }
            return fields["title"] ?? event
        }

        /// The second line: image, what kind of change, priority signals.
        var detail: String {
            var parts: [String] = []
            switch event {
            case NotificationEvent.findingNew.rawValue: parts.append("new")
            case NotificationEvent.findingEscalated.rawValue: parts.append("escalated" + (fields["reason"].map { " (\($0))" } ?? ""))
            case NotificationEvent.findingResolved.rawValue: parts.append("resolved")
            default: break
            }
            if isFinding, let reference = fields["reference"] { parts.append(reference) }
            if !isFinding, let message = fields["message"], !message.isEmpty { parts.append(message) }
            if kev { parts.append("KEV") }
            if let p = fields["priority"] { parts.append("priority \(p)") }
            if let e = fields["epssPercentile"] { parts.append("EPSS percentile \(e)") }
            return parts.joined(separator: " · ")
        }

        /// The console page the event is about (relative path): the image's, else the
        /// registry's, else the scans list for a scan event.
        var path: String? {
            if let id = fields["imageId"], !id.isEmpty { return "/console/images/\(id)" }
            if let id = fields["registryId"], !id.isEmpty { return "/console/registries/\(id)" }
            if let id = fields["scanId"], !id.isEmpty { return "/console/scans" }
            return nil
        }
    }

    var channelName: String
    /// The server's public base URL (`serve --public-url`, else http(s)://host:port).
    var baseURL: String
    var generatedAt: Date
    var total = 0
    /// Events by finding severity (critical … unknown).
    var counts: [String: Int] = [:]
    var events: [String: Int] = [:]
    /// Image references, the one with the most severe event first.
    var images: [String] = []
    /// Every event, most severe first (KEV, then EPSS, then time breaking ties).
    var items: [Item] = []

    init(channelName: String, baseURL: String, generatedAt: Date) {
        self.channelName = channelName
        self.baseURL = baseURL
        self.generatedAt = generatedAt
    }

    var consoleURL: String { baseURL + "/console" }

    /// The console page of an event (the console's front page when it names none).
    func link(_ item: Item) -> String { item.path.map { baseURL + $0 } ?? consoleURL }

    /// The message's title.
    var title: String {
        if total == 1, let only = items.first { return only.fields["title"] ?? only.headline }
        let findings = items.filter(\.isFinding).count
        if findings == total {
            return "harborguard: \(total) finding changes in \(images.count) image\(images.count == 1 ? "" : "s")"
        }
        return "harborguard: \(total) events"
    }

    /// `critical 3 · high 5 · …` (only severities present), or "no findings".
    var countsLine: String {
        let parts = ChannelSeverity.levels.compactMap { s in counts[s].map { "\(s) \($0)" } }
        return parts.isEmpty ? "no finding severities" : parts.joined(separator: " · ")
    }

    var imagesLine: String {
        let shown = images.prefix(10).joined(separator: ", ")
        return images.count > 10 ? "\(shown) and \(images.count - 10) more" : shown
    }
}
