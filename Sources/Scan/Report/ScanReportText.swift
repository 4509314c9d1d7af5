import Foundation

/// The reports `harborguard scan` writes: the console table with its "Fix first" summary,
/// JSON and SARIF. They show the findings as given (filter and sort them first).
public enum ScanReportText {
    /// The table is laid out to fit this many columns: titles shrink, then the title column
    /// goes, then long package names and versions are cut with "…".
    public static let tableWidth = 120
    /// How many fix groups the "Fix first" summary lists.
    public static let fixFirstCount = 5

    public static func table(_ r: ImageScanReport) -> String {
        var out = "\(r.reference) (\(r.digest))\n"
        out += "os: \(r.os.map { "\($0.family) \($0.version ?? "")" } ?? "unknown"), platform \(r.platform), "
        out += "\(r.layers.count) layers, \(r.packages.count) packages, \(r.findings.count) findings\n"
        let counts = Dictionary(grouping: r.findings, by: \.severity).mapValues(\.count)
        out += "CRITICAL \(counts[.critical] ?? 0)  HIGH \(counts[.high] ?? 0)  MEDIUM \(counts[.medium] ?? 0)  "
        out += "LOW \(counts[.low] ?? 0)  UNKNOWN \(counts[.unknown] ?? 0)\n"
        if !r.findings.isEmpty {
            let byPriority = Dictionary(grouping: r.findings.compactMap(\.priority), by: { $0 }).mapValues(\.count)
            out += Priority.allCases.map { "\($0.rawValue) \(byPriority[$0] ?? 0)" }.joined(separator: "  ")
            out += "  KEV \(r.findings.filter { $0.kev != nil }.count)\n"
        }
        if r.scanners.count > 1 {
            out += "scanners: " + r.scanners.map { s in
                "\(s.name) \(s.status.rawValue)" + (s.version.map { " \($0)" } ?? "") + (s.error.map { " (\($0))" } ?? "")
            }.joined(separator: ", ") + "\n"
        }
        let vex = r.vexSuppressed.map { "VEX: \($0) finding\($0 == 1 ? "" : "s") suppressed (not_affected or fixed)\n" } ?? ""
        guard !r.findings.isEmpty else { return out + vex }
        out += "\n" + findingsTable(r.findings)
        let groups = FixGroups.of(r.findings)
        if !groups.isEmpty {
            out += "\n" + fixFirst(groups)
        }
        if !vex.isEmpty { out += "\n" + vex }
        return out
    }

    /// `42.1% p96`: the EPSS score as a percentage and its percentile (floor, in percent).
    public static func epssCell(_ e: EPSSInfo?) -> String {
        guard let e else { return "-" }
        let pct = e.score * 100
        let score = pct >= 9.95 ? fixed(pct, 0) : pct >= 0.995 ? fixed(pct, 1) : fixed(pct, 2)
        return "\(score)% p\(Int((e.percentile * 100 + 1e-9).rounded(.down)))"
    }

    /// `x` (≥ 0) with `digits` (0…2) decimals, rounded half to even like `%.Nf` (a table of
    /// thousands of findings formats one per row: Foundation's `String(format:)` was a tenth
    /// of the table's time). Equal to `%.Nf` for every score with five decimals, as EPSS
    /// publishes them (tested over all of them).
    static func fixed(_ x: Double, _ digits: Int) -> String {
        let scale = digits == 0 ? 1.0 : digits == 1 ? 10.0 : 100.0
        // `%.Nf` rounds the exact value of x: the product's rounding error (exact, by a fused
        // multiply-add) decides a product that landed on a tie.
        let p = x * scale
        let error = (-p).addingProduct(x, scale)
        var rounded = p.rounded(.toNearestOrEven)
        if p - p.rounded(.down) == 0.5 && error != 0 { rounded = error > 0 ? p.rounded(.up) : p.rounded(.down) }
        let n = Int(rounded)
        guard digits > 0 else { return String(n) }
        let text = String(n)
        let padded = text.count > digits ? text : String(repeating: "0", count: digits + 1 - text.count) + text
        return padded.dropLast(digits) + "." + padded.suffix(digits)
    }

    static func findingsTable(_ findings: [Finding]) -> String {
        let header = ["VULNERABILITY", "PRIORITY", "SEVERITY", "EPSS", "KEV", "PACKAGE", "INSTALLED", "FIXED", "TITLE"]
        let rows = findings.map { f in
            [f.vulnerabilityId, f.priority?.rawValue ?? "-", f.severity.rawValue, epssCell(f.epss), f.kev == nil ? "" : "KEV",
             f.package.name, f.package.version, f.fixedVersion ?? "-", String((f.title ?? "").prefix(60))]
        }
        var widths = header.map(\.count)
        for row in rows { for (i, c) in row.enumerated() { widths[i] = max(widths[i], c.count) } }
        let title = header.count - 1
        func total(_ columns: Int) -> Int { widths.prefix(columns).reduce(0, +) + 2 * (columns - 1) }
        var columns = header.count
        // Too wide: the title shrinks to 15, then goes; then the widest of package, installed
        // and fixed is cut, one character at a time, down to 10 each.
        if total(columns) > tableWidth {
            widths[title] = max(15, widths[title] - (total(columns) - tableWidth))
            if total(columns) > tableWidth { columns -= 1 }
        }
        while total(columns) > tableWidth {
            guard let widest = [5, 6, 7].max(by: { widths[$0] < widths[$1] }), widths[widest] > 10 else { break }
            widths[widest] -= 1
        }
        func line(_ cells: [String]) -> String {
            cells.prefix(columns).enumerated().map { i, c in cut(c, widths[i]).padding(toLength: widths[i], withPad: " ", startingAt: 0) }
                .joined(separator: "  ").trimmingCharacters(in: .whitespaces) + "\n"
        }
        return line(header) + rows.map(line).joined()
    }

    static func cut(_ s: String, _ width: Int) -> String {
        s.count <= width ? s : String(s.prefix(max(0, width - 1))) + "…"
    }

    /// The "Fix first" summary: the top fix groups, one line each.
    static func fixFirst(_ groups: [FixGroup]) -> String {
        let top = groups.prefix(fixFirstCount)
        var out = "Fix first (\(top.count) of \(groups.count) upgrade\(groups.count == 1 ? "" : "s")):\n"
        for g in top {
            out += "  \(g.bestPriority?.rawValue ?? "-")  upgrade \(g.package) to \(g.fixedVersion): closes \(g.findings) finding"
            out += g.findings == 1 ? "" : "s"
            if g.kev > 0 { out += ", \(g.kev) KEV" }
            out += "\n"
        }
        return out
    }

    public static func json(_ r: ImageScanReport) throws -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try e.encode(ScanReportDocument(r)), as: UTF8.self) + "\n"
    }

    /// The CVSS score a finding's severity rests on: its rating's, else the advisory's number.
    public static func cvssScore(_ f: Finding) -> Double? { f.cvssRating?.score ?? f.cvss }

    /// SARIF 2.1.0: one rule per vulnerability, one result per (vulnerability, package). A
    /// rule's `security-severity` (what GitHub code scanning ranks by) is the highest CVSS
    /// score behind its findings' severity, left out when none has a score; a result's level
    /// follows the severity, and its properties carry priority, EPSS and KEV.
    public static func sarif(_ r: ImageScanReport, toolVersion: String) throws -> String {
        func level(_ s: Severity) -> String {
            switch s {
            case .critical, .high: "error"
            case .medium: "warning"
            case .low, .unknown: "note"
            }
        }
        var rules: [[String: Any]] = []
        var ruleIndex: [String: Int] = [:]
        for f in r.findings {
            let score = cvssScore(f)
            if let i = ruleIndex[f.vulnerabilityId] {
                var properties = rules[i]["properties"] as? [String: Any] ?? [:]
                let current = (properties["security-severity"] as? String).flatMap(Double.init)
                if let score, current.map({ score > $0 }) ?? true {
                    properties["security-severity"] = String(format: "%.1f", score)
                    rules[i]["properties"] = properties
                }
                continue
            }
            var properties: [String: Any] = ["tags": ["security", "vulnerability"]]
            if let score { properties["security-severity"] = String(format: "%.1f", score) }
            var rule: [String: Any] = [
                "id": f.vulnerabilityId, "name": f.vulnerabilityId,
                "shortDescription": ["text": f.title ?? f.vulnerabilityId], "properties": properties,
            ]
            if let url = f.references.first { rule["helpUri"] = url }
            ruleIndex[f.vulnerabilityId] = rules.count
            rules.append(rule)
        }
        let results: [[String: Any]] = r.findings.map { f in
            var properties: [String: Any] = ["purl": f.package.purl, "severity": f.severity.rawValue, "kev": f.kev != nil]
            if let s = f.severitySource { properties["severitySource"] = s.rawValue }
            if let p = f.priority { properties["priority"] = p.rawValue }
            if let c = f.cvssRating {
                properties["cvssVersion"] = c.version
                properties["cvssVector"] = c.vector
            }
            if let score = cvssScore(f) { properties["cvssScore"] = score }
            if let e = f.epss {
                properties["epssScore"] = e.score
                properties["epssPercentile"] = e.percentile
            }
            if let k = f.kev {
                properties["kevDateAdded"] = k.dateAdded
                if let d = k.dueDate { properties["kevDueDate"] = d }
                properties["kevRansomware"] = k.ransomware
            }
            return [
                "ruleId": f.vulnerabilityId, "level": level(f.severity),
                "message": ["text": "\(f.package.name) \(f.package.version) is affected by \(f.vulnerabilityId)"
                    + (f.fixedVersion.map { "; fixed in \($0)" } ?? "; no fix available")],
                "locations": [["physicalLocation": ["artifactLocation": ["uri": r.reference]],
                               "logicalLocations": [["name": f.package.purl, "kind": "package"]]]],
                "properties": properties,
            ]
        }
        let doc: [String: Any] = [
            "$schema": "https://json.schemastore.org/sarif-2.1.0.json", "version": "2.1.0",
            "runs": [["tool": ["driver": ["name": "harborguard", "informationUri": "https://github.com/harborguard/harborguard",
                                          "version": toolVersion, "rules": rules]],
                      "results": results]],
        ]
        let data = try JSONSerialization.data(withJSONObject: doc, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self) + "\n"
    }
}
