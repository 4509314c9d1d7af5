import Foundation
import Mustache
import Testing

@testable import Server
@testable import Store

/// The console's pure parts: templates, grades, pager links, the trend and its SVG, form parsing.
@Suite struct ConsoleRenderTests {
    @Test func templatesParseAndEscape() throws {
        let library = try ConsoleTemplates.library()
        let html = library.render(
            ["message": "<img src=x onerror=alert(1)> & \"quoted\" 'single'"], withTemplate: "error") ?? ""
        #expect(html.contains("&lt;img src=x onerror=alert(1)&gt; &amp; &quot;quoted&quot; &#39;single&#39;"))
        #expect(!html.contains("<img"))
    }

    @Test func gradesFollowTheRiskScore() {
        #expect([0, 1, 9, 10, 24, 25, 49, 50, 74, 75, 100].map(ConsoleRoutes.grade) == ["A", "B", "B", "C", "C", "D", "D", "E", "E", "F", "F"])
    }

    @Test func pagerOmitsMissingLinks() throws {
        #expect(ConsoleRoutes.pager(page: 1, pages: 1) { "/p\($0)" } as? Bool == false)
        let first = try #require(ConsoleRoutes.pager(page: 1, pages: 3) { "/p\($0)" } as? [String: Any])
        #expect(first["prev"] == nil && first["next"] as? String == "/p2")
        let last = try #require(ConsoleRoutes.pager(page: 3, pages: 3) { "/p\($0)" } as? [String: Any])
        #expect(last["prev"] as? String == "/p2" && last["next"] == nil)
        let html = try ConsoleTemplates.library().render(["pager": first], withTemplate: "pager") ?? ""
        #expect(html.contains("href=\"/p2\" rel=\"next\""))
        #expect(!html.contains("rel=\"prev\""))
    }

    @Test func trendTakesEachImagesLatestScanPerDay() throws {
        let now = try #require(RFC3339.parse("2026-11-29T12:00:00Z"))
        // Completed scans only: the status filter is the query's (`OverviewQueryTests`).
        func scan(_ image: String, _ finished: String, _ c: Int, _ h: Int) -> OverviewRepository.CompletedScan {
            OverviewRepository.CompletedScan(imageId: image, finishedAt: finished, critical: c, high: h)
        }
        let points = ConsoleChart.trend(
            scans: [
                scan("a", "2026-11-27T08:00:00Z", 2, 5), scan("a", "2026-11-28T09:00:00Z", 1, 3),
                scan("b", "2026-11-28T10:00:00Z", 4, 0),
            ], now: now)
        #expect(points.count == 30)
        #expect(points.last?.day == "2026-11-29")
        #expect(points.suffix(4).map { [$0.critical, $0.high] } == [[0, 0], [2, 5], [5, 3], [5, 3]])
        let svg = ConsoleChart.svg(points)
        #expect(svg.hasPrefix("<svg class=\"chart\""))
        #expect(svg.contains("role=\"img\"") && svg.contains("<title id=\"chart-title\">"))
        #expect(svg.components(separatedBy: "<polyline").count == 3)
    }

    @Test func formsDecodePlusesPercentsAndRepeats() throws {
        let f = try ConsoleForm(query: "name=a+b%26c&scanners[]=trivy&scanners[]=syft&empty=&_csrf=x")
        #expect(f["name"] == "a b&c")
        #expect(f.lists["scanners"] == ["trivy", "syft"])
        #expect(f.lists["name"] == ["a b&c"])
        #expect(f.value("empty") == nil)
        // URLEncodedFormDecoder refuses what the hand-written parser guessed at: a value
        // that does not percent-decode, a plain name sent twice.
        #expect(throws: (any Error).self) { try ConsoleForm(query: "bad=%ZZ") }
        #expect(throws: (any Error).self) { try ConsoleForm(query: "scanners=trivy&scanners=syft") }
        #expect(ConsoleCSRF.isValid("x", session: "hg_ses_1") == false)
        let token = ConsoleCSRF.token(forSession: "hg_ses_1")
        #expect(ConsoleCSRF.isValid(token, session: "hg_ses_1"))
        #expect(!ConsoleCSRF.isValid(token, session: "hg_ses_2"))
        #expect(ConsoleHTTP.localPath("//evil.example/console", fallback: "/console") == "/console")
        #expect(ConsoleHTTP.localPath("https://evil.example", fallback: "/console") == "/console")
        #expect(ConsoleHTTP.localPath("/console/images?x=1", fallback: "/console") == "/console/images?x=1")
    }
}
