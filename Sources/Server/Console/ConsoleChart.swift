import Cron
import Foundation
import Store

/// The overview's trend: open critical and high findings per day over 30 days, drawn as an
/// inline SVG on the server (numbers and dates only, no user data, no script).
enum ConsoleChart {
    struct Point: Equatable, Sendable {
        var day: String
        var critical: Int
        var high: Int
    }

    /// For each day, the sum over images of the counts of each image's latest scan that
    /// completed by the end of that day (`scans`: completed scans, `OverviewRepository`).
    static func trend(scans: [OverviewRepository.CompletedScan], now: Date, days: Int = 30) -> [Point] {
        struct Done { var finished: String, critical: Int, high: Int }
        var byImage: [String: [Done]] = [:]
        for s in scans {
            byImage[s.imageId, default: []].append(Done(finished: s.finishedAt, critical: s.critical, high: s.high))
        }
        for k in byImage.keys { byImage[k]?.sort { $0.finished < $1.finished } }
        let today = Calendar(identifier: .gregorian).startOfDay(for: now)
        return (0..<days).reversed().map { back in
            let start = today.addingTimeInterval(-Double(back) * 86_400)
            let end = Timestamp.format(start.addingTimeInterval(86_400))
            var p = Point(day: String(Timestamp.format(start).prefix(10)), critical: 0, high: 0)
            for scans in byImage.values {
                if let last = scans.last(where: { $0.finished < end }) {
                    p.critical += last.critical
                    p.high += last.high
                }
            }
            return p
        }
    }

    static func svg(_ points: [Point]) -> String {
        let w = 640.0, h = 220.0, left = 40.0, right = 12.0, top = 14.0, bottom = 30.0
        let maxY = max(4, points.map { max($0.critical, $0.high) }.max() ?? 0)
        let step = points.count > 1 ? (w - left - right) / Double(points.count - 1) : 0
        func x(_ i: Int) -> Double { left + Double(i) * step }
        func y(_ v: Int) -> Double { top + (h - top - bottom) * (1 - Double(v) / Double(maxY)) }
        func f(_ d: Double) -> String { String(format: "%.1f", d) }
        func line(_ value: (Point) -> Int) -> String {
            points.enumerated().map { "\(f(x($0.offset))),\(f(y(value($0.element))))" }.joined(separator: " ")
        }
        var out = """
            <svg class="chart" viewBox="0 0 \(Int(w)) \(Int(h))" role="img" aria-labelledby="chart-title chart-desc" xmlns="http://www.w3.org/2000/svg">
            <title id="chart-title">Open critical and high findings per day</title>
            <desc id="chart-desc">\(points.first?.day ?? "") to \(points.last?.day ?? ""): critical \(points.last?.critical ?? 0), high \(points.last?.high ?? 0) today.</desc>

            """
        for t in 0...4 {
            let v = maxY * t / 4
            out += "<line class=\"grid\" x1=\"\(f(left))\" x2=\"\(f(w - right))\" y1=\"\(f(y(v)))\" y2=\"\(f(y(v)))\"/>"
            out += "<text x=\"\(f(left - 6))\" y=\"\(f(y(v) + 4))\" text-anchor=\"end\">\(v)</text>\n"
        }
        out += "<line class=\"axis\" x1=\"\(f(left))\" x2=\"\(f(left))\" y1=\"\(f(top))\" y2=\"\(f(h - bottom))\"/>"
        out += "<line class=\"axis\" x1=\"\(f(left))\" x2=\"\(f(w - right))\" y1=\"\(f(h - bottom))\" y2=\"\(f(h - bottom))\"/>\n"
        for i in stride(from: 0, to: points.count, by: 7) {
            out += "<text x=\"\(f(x(i)))\" y=\"\(f(h - bottom + 16))\" text-anchor=\"middle\">\(points[i].day.suffix(5))</text>\n"
        }
        out += "<polyline fill=\"none\" stroke=\"#bc4c00\" stroke-width=\"2\" points=\"\(line { $0.high })\"/>\n"
        out += "<polyline fill=\"none\" stroke=\"#a40e26\" stroke-width=\"2.5\" stroke-dasharray=\"6 3\" points=\"\(line { $0.critical })\"/>\n"
        out += "<g><line x1=\"\(f(w - 190))\" x2=\"\(f(w - 170))\" y1=\"\(f(top))\" y2=\"\(f(top))\" stroke=\"#a40e26\" stroke-width=\"2.5\" stroke-dasharray=\"6 3\"/>"
        out += "<text x=\"\(f(w - 165))\" y=\"\(f(top + 4))\">critical</text>"
        out += "<line x1=\"\(f(w - 100))\" x2=\"\(f(w - 80))\" y1=\"\(f(top))\" y2=\"\(f(top))\" stroke=\"#bc4c00\" stroke-width=\"2\"/>"
        out += "<text x=\"\(f(w - 75))\" y=\"\(f(top + 4))\">high</text></g>\n</svg>"
        return out
    }
}
