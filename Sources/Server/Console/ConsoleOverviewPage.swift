import Cron
import Foundation
import HTTPTypes
import Hummingbird
import Scan
import Store

/// The overview page: totals from `ImageService.overview` (SQL aggregates, five statements).
extension ConsoleRoutes {
    // MARK: Overview

    /// The overview's view model: tiles, the registries' risk rows and the top images.
    struct OverviewView {
        struct Tile {
            var key: String?
            var label: String
            var count: Int
        }
        struct RegistryRow {
            var id: String
            var name: String
            var health: String
            var images: Int
            var critical: Int
            var high: Int
            var maxRisk: Int
        }
        /// "Upgrade `package` to `fixedVersion`: closes N findings (K KEV) in M images", best priority first.
        struct FixRow {
            var package: String
            var type: String
            var fixedVersion: String
            var findings: Int
            /// The KEV count, nil when none (the template shows the badge only then).
            var kev: Int?
            var images: Int
            var priority: String
            var vulnerabilities: String
        }
        var fixFirst: [FixRow]
        var severities: [Tile]
        var registries: [RegistryRow]
        var recent: [Tile]
        var images: [ConsoleView]
        var chart: String
        var trendSummary: String
    }

    @Sendable func overview(_ req: Request, _ ctx: AppRequestContext, _ v: Viewer) async throws -> Response {
        let o = try await ImageService(s: s).overview(v.principal)
        let t = o.severities
        let severities = [("critical", t.critical), ("high", t.high), ("medium", t.medium), ("low", t.low), ("unknown", t.unknown)]
            .map { OverviewView.Tile(key: $0.0, label: $0.0.capitalized, count: $0.1) }
        let trend = o.trend
        let last = trend.last.map { $0.critical + $0.high } ?? 0
        let view = OverviewView(
            fixFirst: o.fixFirst.map(Self.fixRow),
            severities: severities,
            registries: o.registries.map {
                .init(id: $0.id, name: $0.name, health: $0.health, images: $0.imageCount, critical: $0.critical, high: $0.high, maxRisk: $0.maxRisk)
            },
            recent: ["completed", "failed", "running", "queued"].map { .init(key: nil, label: $0, count: o.recentByStatus[$0] ?? 0) },
            images: o.topImages.map(Self.imageRow), chart: ConsoleChart.svg(trend),
            trendSummary: "Today: \(trend.last?.critical ?? 0) critical and \(trend.last?.high ?? 0) high open in the latest scan of each image (\(last) in all).")
        return show(req, "overview", title: "Overview", viewer: v, current: "overview", data: view)
    }

    /// A "Fix first" row: the group, its KEV count when there is one, the first vulnerability ids.
    static func fixRow(_ g: FixGroup) -> OverviewView.FixRow {
        let ids = g.vulnerabilityIds
        let shown = ids.prefix(3).joined(separator: ", ") + (ids.count > 3 ? ", …" : "")
        return OverviewView.FixRow(
            package: g.package, type: g.packageType.rawValue, fixedVersion: g.fixedVersion, findings: g.findings,
            kev: g.kev > 0 ? g.kev : nil, images: g.images, priority: g.bestPriority?.rawValue ?? "", vulnerabilities: shown)
    }

    /// A letter for the risk score: A 0, B under 10, C under 25, D under 50, E under 75, F from 75.
    static func grade(_ risk: Int) -> String {
        switch risk {
        case ...0: "A"
        case ..<10: "B"
        case ..<25: "C"
        case ..<50: "D"
        case ..<75: "E"
        default: "F"
        }
    }

    /// An image row of the image tables: the image's fields and its grade.
    static func imageRow(_ img: ImageDTO) -> ConsoleView {
        ConsoleView(img, ["grade": grade(img.riskScore)])
    }
}
