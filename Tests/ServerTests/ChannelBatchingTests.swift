import Cron
import Foundation
import GRDB
import Logging
@testable import Server
import Store
import Testing

/// Batching on a real app database: 1,000 events emitted in one transaction wait in
/// `notification_pending` behind one `notify_flush` job; the flush turns those that meet the
/// channel's minimum severity into ONE delivery; a second flush finds nothing.
@Suite struct ChannelBatchingTests {
    @Test func thousandEventsBecomeOneMessage() async throws {
        let f = try await Fixture.make()
        let s = f.services
        let org = f.orgA
        let now = s.now
        let channelId = IDs.make("chn")
        try await s.db.write { db in
            try NotificationRepository.insertChannel(db, NotificationChannelRecord(
                id: channelId, orgId: org, name: "slack", type: "slack", url: "https://hooks.slack.example/…",
                events: #"["finding_new"]"#, enabled: true, hasSecret: true, now: now, delivery: "immediate", minSeverity: "medium"))
            try s.secrets.seal(Data("https://hooks.slack.example/services/T/B/x".utf8), owner: Notifications.urlOwner(channelId), in: db)
        }
        let levels = ["critical", "high", "medium", "low", "unknown"]
        let clock = ContinuousClock()
        let emitted = try await clock.measure {
            try await s.db.write { db in
                for i in 0..<1000 {
                    try Notifications.emit(
                        .findingNew, orgId: org, severity: levels[i % 5], title: "New finding",
                        message: "CVE-2099-\(i)", fields: [
                            "imageId": "img_\(i % 100)", "reference": "reg.example/apps/svc\(i % 100):1.0",
                            "vulnerabilityId": "CVE-2099-\(i)", "package": "pkg\(i)", "version": "1.0",
                        ], now: now, in: db)
                }
            }
        }
        let (pending, jobs) = try await s.db.writer.read { db in
            (try NotificationRepository.pendingCount(db, channelId: channelId),
             try String.fetchAll(db, sql: "SELECT id FROM jobs WHERE type = 'notify_flush' AND status = 'queued'"))
        }
        #expect(pending == 600)  // low and unknown are below the channel's minimum
        #expect(jobs.count == 1)
        let sender = NotificationSender(services: s, client: sharedClients.notifications)
        let job = try #require(try await s.jobs.get(jobs[0]))
        let context = JobContext(job: job, store: s.jobs, logger: Logger(label: "test"))
        var result: String?
        let flushed = try await clock.measure {
            result = try await sender.flush(context, NotifyFlushJobPayload(channelId: channelId))
        }
        #expect(result?.contains("600 events in one message") == true)
        let deliveries = try await s.db.read { db in
            try NotificationRepository.deliveries(db, channelId: channelId, limit: 10, offset: 0).deliveries
        }
        #expect(deliveries.count == 1 && deliveries[0].event == "digest")
        let text = String(decoding: deliveries[0].body, as: UTF8.self)
        #expect(text.contains("600 finding changes in 60 images") && text.contains("and 590 more"), "\(text.prefix(600))")
        #expect(text.contains("<http://127.0.0.1:8080/console/images/img_") && !text.contains("/console/console"))
        #expect(text.contains("critical 200") && !text.contains("low 200"))
        #expect(try await sender.flush(context, NotifyFlushJobPayload(channelId: channelId))?.contains("nothing pending") == true)
        print("1,000 emits: \(emitted); flush of 600: \(flushed)")
    }
}
