import Cron
import Foundation
import GRDB
import HTTPTypes
import HummingbirdTesting
import Synchronization
import Store
import Testing

@testable import Server

/// The console overview reads its totals with SQL aggregates: at most six statements for the
/// whole page's data, counted with a `Database.trace` on the test's database, and the numbers
/// the page shows match the rows.
@Suite struct OverviewQueryTests {
    /// The statements SQLite ran while counting was on.
    final class StatementLog: Sendable {
        private let statements = Mutex<[String]>([])
        private let on = Atomic<Bool>(false)
        func start() { statements.withLock { $0 = [] }; on.store(true, ordering: .relaxed) }
        func stop() -> [String] { on.store(false, ordering: .relaxed); return statements.withLock { $0 } }
        func record(_ sql: String) { if on.load(ordering: .relaxed) { statements.withLock { $0.append(sql) } } }
        /// The queries (transaction statements and pragmas left out).
        static func queries(_ all: [String]) -> [String] {
            all.filter { $0.uppercased().hasPrefix("SELECT") || $0.uppercased().hasPrefix("WITH") }
        }
    }

    static func seed(_ f: Fixture, now: Date) async throws -> (r1: String, r2: String) {
        @Sendable func ts(_ secondsAgo: Double) -> String { Timestamp.format(now.addingTimeInterval(-secondsAgo)) }
        let orgA = f.orgA, orgB = f.orgB
        return try await f.services.db.writer.write { db in
            let day = 86_400.0
            func registry(_ id: String, _ org: String, _ name: String, health: String, images: Int, age: Double) throws {
                try db.execute(
                    sql: """
                        INSERT INTO registries (id, org_id, name, provider, url, scan_method, schedule, scanners,
                            image_count, health_status, created_at, updated_at)
                        VALUES (?, ?, ?, 'DOCKER_REGISTRY', 'https://r.example.test', 'cloud', 'daily', '[]', ?, ?, ?, ?)
                        """, arguments: [id, org, name, images, health, ts(age), ts(age)])
            }
            func image(_ id: String, _ org: String, _ reg: String, risk: Int, _ c: [Int]) throws {
                try db.execute(
                    sql: """
                        INSERT INTO images (id, org_id, registry_id, name, full_name, risk_score, critical, high, medium, low, unknown,
                            created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [id, org, reg, id, "r.example.test/\(id)", risk, c[0], c[1], c[2], c[3], c[4], ts(day), ts(day)])
            }
            func scan(_ id: String, _ org: String, _ reg: String, _ img: String, _ status: String, queued: Double, finished: Double?, _ c: Int, _ h: Int) throws {
                try db.execute(
                    sql: """
                        INSERT INTO scans (id, org_id, registry_id, image_id, repository, reference, status, trigger, queued_at,
                            finished_at, critical, high) VALUES (?, ?, ?, ?, 'x', 'x:latest', ?, 'manual', ?, ?, ?, ?)
                        """, arguments: [id, org, reg, img, status, ts(queued), finished.map(ts), c, h])
            }
            try registry("reg_ov1", orgA, "first", health: "healthy", images: 2, age: 10 * day)
            try registry("reg_ov2", orgA, "second", health: "degraded", images: 1, age: 5 * day)
            try registry("reg_ovb", orgB, "other org", health: "healthy", images: 1, age: day)
            try image("img_ov1", orgA, "reg_ov1", risk: 80, [3, 2, 1, 0, 1])
            try image("img_ov2", orgA, "reg_ov1", risk: 10, [0, 1, 4, 2, 0])
            try image("img_ov3", orgA, "reg_ov2", risk: 30, [1, 0, 0, 5, 0])
            try image("img_ovb", orgB, "reg_ovb", risk: 99, [50, 50, 50, 50, 50])
            // img_ov1: a completed scan 40 days ago (the trend's baseline) and one 2 days ago.
            try scan("scn_1", orgA, "reg_ov1", "img_ov1", "completed", queued: 40 * day + 60, finished: 40 * day, 5, 5)
            try scan("scn_2", orgA, "reg_ov1", "img_ov1", "completed", queued: 2 * day + 60, finished: 2 * day, 3, 2)
            // img_ov3: completed, failed and queued within the last 24 hours.
            try scan("scn_3", orgA, "reg_ov2", "img_ov3", "completed", queued: 7_200, finished: 3_600, 1, 0)
            try scan("scn_4", orgA, "reg_ov2", "img_ov3", "failed", queued: 10_800, finished: 3_600, 9, 9)
            try scan("scn_5", orgA, "reg_ov2", "img_ov3", "queued", queued: 600, finished: nil, 0, 0)
            try scan("scn_b", orgB, "reg_ovb", "img_ovb", "completed", queued: 600, finished: 300, 50, 50)
            return ("reg_ov1", "reg_ov2")
        }
    }

    @Test func overviewIsSixQueriesAndMatchesTheData() async throws {
        let f = try await Fixture.make()
        let now = f.services.now
        let ids = try await Self.seed(f, now: now)
        let log = StatementLog()
        try await f.services.db.writer.writeWithoutTransaction { db in
            db.trace { event in log.record("\(event)") }
        }
        let viewer = Principal(kind: .session, id: "usr_x", orgId: f.orgA, role: .viewer, actor: "user:x", userId: "usr_x")

        log.start()
        let o = try await ImageService(s: f.services).overview(viewer)
        let statements = log.stop()
        let queries = StatementLog.queries(statements)
        // Five for the totals, one for the "Fix first" groups.
        #expect(queries.count == 6, "\(statements)")
        #expect(queries.count <= 6)

        #expect(o.severities.critical == 4 && o.severities.high == 3 && o.severities.medium == 5)
        #expect(o.severities.low == 7 && o.severities.unknown == 1)
        #expect(o.registries.map(\.id) == [ids.r1, ids.r2])
        #expect(o.registries.map(\.maxRisk) == [80, 30])
        #expect(o.registries.map(\.critical) == [3, 1] && o.registries.map(\.high) == [3, 0])
        #expect(o.registries.map(\.imageCount) == [2, 1] && o.registries.map(\.health) == ["healthy", "degraded"])
        #expect(o.recentByStatus == ["completed": 1, "failed": 1, "queued": 1])
        #expect(o.topImages.map(\.id) == ["img_ov1", "img_ov3", "img_ov2"])
        #expect(o.trend.count == 30)
        // The first day counts img_ov1's scan from 40 days ago; today both images' latest.
        #expect(o.trend.first.map { [$0.critical, $0.high] } == [5, 5])
        #expect(o.trend.last.map { [$0.critical, $0.high] } == [4, 2])

        // A key scoped to the second registry sees that registry only.
        var scoped = viewer
        scoped.kind = .apiKey
        scoped.registryScope = ids.r2
        let s = try await ImageService(s: f.services).overview(scoped)
        #expect(s.severities.critical == 1 && s.severities.low == 5)
        #expect(s.registries.map(\.id) == [ids.r2])
        #expect(s.topImages.map(\.id) == ["img_ov3"])
        #expect(s.recentByStatus == ["completed": 1, "failed": 1, "queued": 1])
        #expect(s.trend.last.map { [$0.critical, $0.high] } == [1, 0])
        // A sensor key is refused, as by the API.
        var sensor = scoped
        sensor.kind = .sensorKey
        await #expect(throws: APIError.self) { try await ImageService(s: f.services).overview(sensor) }
    }

    /// The whole page through the router: the session's lookup plus the overview's six queries,
    /// and the page shows the numbers.
    @Test func overviewPageShowsTheTotals() async throws {
        let f = try await Fixture.make()
        _ = try await Self.seed(f, now: f.services.now)
        let log = StatementLog()
        try await f.services.db.writer.writeWithoutTransaction { db in
            db.trace { event in log.record("\(event)") }
        }
        try await f.test { c in
            _ = try await c.json(.post, "/api/members", key: f.keys[.owner]!, body: [
                "username": "olive", "password": "olive-password-1", "role": "viewer",
            ])
            let cookie = try await ConsoleTests.signIn(c, "olive", "olive-password-1", tryWrong: false)
            log.start()
            let page = try await ConsoleTests.page(c, .get, "/console", cookie: cookie)
            let statements = log.stop()
            #expect(page.status == .ok)
            let overviewQueries = StatementLog.queries(statements).filter {
                $0.contains("FROM images") || $0.contains("FROM registries") || $0.contains("FROM scans") || $0.contains("fix_version")
            }
            #expect(overviewQueries.count == 6, "\(statements)")
            // The whole request: the session's lookup and the six (no other query).
            #expect(StatementLog.queries(statements).count == 7, "\(statements)")
            #expect(page.text.contains(#"<li class="tile sev-critical"><span class="n">4</span> Critical</li>"#))
            #expect(page.text.contains(#"<li class="tile sev-low"><span class="n">7</span> Low</li>"#))
            #expect(page.text.contains(#"<li class="tile"><span class="n">1</span> failed</li>"#))
            #expect(page.text.contains(#"<li class="tile"><span class="n">0</span> running</li>"#))
            #expect(page.text.contains(#"<a href="/console/registries/reg_ov1">first</a>"#))
            #expect(page.text.contains(#"<a href="/console/images/img_ov1">r.example.test/img_ov1</a>"#))
            #expect(page.text.contains("Today: 4 critical and 2 high open in the latest scan of each image (6 in all)."))
            #expect(!page.text.contains("other org"))
        }
    }
}
