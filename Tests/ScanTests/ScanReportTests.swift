import Foundation
import Testing

@testable import Scan

/// The `harborguard scan` reports, filters and orders over findings the real matcher produced
/// from the OSV fixtures plus NVD, EPSS and KEV files in their upstream formats.
@Suite struct ScanReportTests {
    /// Findings of a Debian 12 image: glibc (libc6 and libc-bin) in KEV with EPSS 0.7/p99,
    /// requests with EPSS 0.4/p96, zope.interface rated by NVD beside its LOW advisory,
    /// ncurses with no fix.
    static func enrichedReport() throws -> ImageScanReport {
        let feeds = try EnrichmentFeedTests()
        let db = try fixtureDatabase()
        let nvd = try feeds.write("nvd.json", try EnrichmentFeedTests.json(["vulnerabilities": [
            ["cve": ["id": "CVE-2099-0001", "lastModified": "2024-01-01T00:00:00.000", "metrics": ["cvssMetricV31": [
                EnrichmentFeedTests.metric("3.1", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8, "Primary")]]]],
        ]]))
        _ = try db.importNVD(file: nvd, expectedSHA256: nil, source: "nvd:2099", location: "nvd")
        let epss = try feeds.write("epss.csv", Data(
            "#model_version:v2025.03.14,score_date:2026-12-01T00:00:00+0000\ncve,epss,percentile\nCVE-2023-32681,0.4,0.96\nCVE-2023-4911,0.7,0.99\n".utf8))
        _ = try db.importEPSS(file: epss, location: "epss")
        let kev = try feeds.write("kev.json", try EnrichmentFeedTests.json(["count": 1, "vulnerabilities": [
            ["cveID": "CVE-2023-4911", "dateAdded": "2023-11-21", "dueDate": "2023-12-12", "knownRansomwareCampaignUse": "Known"]]]))
        _ = try db.importKEV(file: kev, location: "kev")
        let inventory = ImageInventory(
            os: OSInfo(family: "debian", version: "12", codename: "bookworm"),
            packages: [
                InstalledPackage(name: "libc6", version: "2.36-9+deb12u1", type: .deb, purl: "pkg:deb/debian/libc6@2.36-9+deb12u1", sourceName: "glibc"),
                InstalledPackage(name: "libc-bin", version: "2.36-9+deb12u1", type: .deb, purl: "pkg:deb/debian/libc-bin@2.36-9+deb12u1", sourceName: "glibc"),
                InstalledPackage(name: "libncursesw6", version: "6.4-4", type: .deb, purl: "pkg:deb/debian/libncursesw6@6.4-4", sourceName: "ncurses"),
                InstalledPackage(name: "Requests", version: "2.30.0", type: .python, purl: "pkg:pypi/requests@2.30.0"),
                InstalledPackage(name: "zope_interface", version: "5.4.0", type: .python, purl: "pkg:pypi/zope-interface@5.4.0"),
            ])
        let findings = try VulnerabilityMatcher(database: db).match(inventory)
        return ImageScanReport(
            reference: "127.0.0.1:5000/team/app:1.0", digest: "sha256:" + String(repeating: "a", count: 64),
            manifestDigest: "sha256:" + String(repeating: "a", count: 64), platform: "linux/amd64", os: inventory.os, layers: [],
            packages: inventory.packages, findings: findings, notes: [], durationMs: 1, scanners: [])
    }

    static func finding(
        _ id: String, _ package: String, fixed: String?, priority: Priority?, severity: Severity = .medium, kev: Bool = false,
        epss: Double? = nil, type: PackageType = .deb
    ) -> Finding {
        var f = Finding(
            vulnerabilityId: id, aliases: [], severity: severity, cvss: nil,
            package: FindingPackage(name: package, version: "1.0", type: type, purl: "pkg:\(type.rawValue)/\(package)@1.0", layer: nil),
            fixedVersion: fixed, fixState: fixed == nil ? .notFixed : .fixed, title: nil, references: [], sources: ["native"], advisoryIds: [id])
        f.priority = priority
        f.kev = kev ? KEVInfo(dateAdded: "2024-01-01", dueDate: nil, ransomware: false, requiredAction: nil) : nil
        f.epss = epss.map { EPSSInfo(score: $0, percentile: $0, date: nil) }
        return f
    }

    // MARK: Fix groups

    /// Each row: findings, then the expected groups as "package fixed findings/kev/best".
    @Test(arguments: [
        // Best priority first, whatever the counts.
        ([ScanReportTests.finding("A", "openssl", fixed: "3.0.15", priority: .p4), ScanReportTests.finding("B", "openssl", fixed: "3.0.15", priority: .p4),
          ScanReportTests.finding("C", "zlib", fixed: "1.3", priority: .p1, kev: true)],
         ["zlib 1.3 1/1/P1", "openssl 3.0.15 2/0/P4"]),
        // Same best priority: more findings first; a group's best is its most urgent finding.
        ([ScanReportTests.finding("A", "curl", fixed: "8.5", priority: .p3), ScanReportTests.finding("B", "openssl", fixed: "3.0.15", priority: .p5),
          ScanReportTests.finding("C", "openssl", fixed: "3.0.15", priority: .p3), ScanReportTests.finding("D", "openssl", fixed: "3.0.15", priority: .p4)],
         ["openssl 3.0.15 3/0/P3", "curl 8.5 1/0/P3"]),
        // Same priority and count: more KEV first, then package name.
        ([ScanReportTests.finding("A", "b-pkg", fixed: "2", priority: .p2), ScanReportTests.finding("B", "a-pkg", fixed: "2", priority: .p2),
          ScanReportTests.finding("C", "c-pkg", fixed: "2", priority: .p2, kev: true)],
         ["c-pkg 2 1/1/P2", "a-pkg 2 1/0/P2", "b-pkg 2 1/0/P2"]),
        // Two fixed versions of one package are two upgrades; no fix, no group; no priority goes last.
        ([ScanReportTests.finding("A", "openssl", fixed: "3.0.15", priority: .p4), ScanReportTests.finding("B", "openssl", fixed: "3.0.16", priority: .p3),
          ScanReportTests.finding("C", "openssl", fixed: nil, priority: .p5), ScanReportTests.finding("D", "ext", fixed: "9", priority: nil)],
         ["openssl 3.0.16 1/0/P3", "openssl 3.0.15 1/0/P4", "ext 9 1/0/-"]),
        // The same name in two ecosystems is two groups.
        ([ScanReportTests.finding("A", "requests", fixed: "2.31", priority: .p4, type: .python), ScanReportTests.finding("B", "requests", fixed: "2.31", priority: .p4),
          ScanReportTests.finding("C", "requests", fixed: "2.31", priority: .p4)],
         ["requests 2.31 2/0/P4", "requests 2.31 1/0/P4"]),
    ])
    func fixGroupOrder(findings: [Finding], expected: [String]) {
        let got = FixGroups.of(findings).map { "\($0.package) \($0.fixedVersion) \($0.findings)/\($0.kev)/\($0.bestPriority?.rawValue ?? "-")" }
        #expect(got == expected)
    }

    @Test func fixGroupsCountImagesAndIds() {
        let items = [("img1", Self.finding("CVE-1", "openssl", fixed: "3", priority: .p3)),
                     ("img2", Self.finding("CVE-1", "openssl", fixed: "3", priority: .p3)),
                     ("img2", Self.finding("CVE-2", "openssl", fixed: "3", priority: .p1, kev: true))]
        let groups = FixGroups.of(items, finding: { $0.1 }, image: { $0.0 })
        #expect(groups.count == 1)
        #expect(groups[0].findings == 3 && groups[0].images == 2 && groups[0].kev == 1 && groups[0].bestPriority == .p1)
        #expect(groups[0].vulnerabilityIds == ["CVE-1", "CVE-2"])
    }

    // MARK: Filters and orders

    @Test func filtersOnMatchedFindings() throws {
        let r = try Self.enrichedReport()
        func ids(_ filter: FindingFilter) -> Set<String> { Set(r.findings.filter(filter.includes).map(\.vulnerabilityId)) }
        #expect(ids(FindingFilter()) == ["CVE-2023-4911", "CVE-2023-32681", "CVE-2099-0001", "CVE-2023-50495"])
        #expect(ids(FindingFilter(kevOnly: true)) == ["CVE-2023-4911"])
        #expect(r.findings.filter(FindingFilter(kevOnly: true).includes).count == 2)  // libc6 and libc-bin
        #expect(ids(FindingFilter(epssMin: 0.5)) == ["CVE-2023-4911"])
        #expect(ids(FindingFilter(epssMin: 0.4)) == ["CVE-2023-4911", "CVE-2023-32681"])
        #expect(ids(FindingFilter(epssMin: 0)) == ["CVE-2023-4911", "CVE-2023-32681"])  // no score: left out
        #expect(ids(FindingFilter(epssMin: 0.71)).isEmpty)
        #expect(ids(FindingFilter(severities: [.medium], epssMin: 0.3)) == ["CVE-2023-32681"])
        #expect(ids(FindingFilter(severities: [.medium], kevOnly: true)).isEmpty)
        #expect(ids(FindingFilter(fixableOnly: true, kevOnly: true)) == ["CVE-2023-4911"])
        #expect(!ids(FindingFilter(fixableOnly: true)).contains("CVE-2023-50495"))
    }

    @Test(arguments: [("0.5", 0.5), ("0", 0), ("1", 1), (" 0.25 ", 0.25), ("1.5", nil), ("-0.1", nil), ("nan", nil), ("abc", nil), ("", nil),
                      ("inf", nil)] as [(String, Double?)])
    func epssThreshold(text: String, expected: Double?) {
        #expect(FindingFilter.epssThreshold(text) == expected)
    }

    @Test func ordersOnMatchedFindings() throws {
        let r = try Self.enrichedReport()
        let byPriority = FindingOrder.priority.sorted(r.findings)
        #expect(byPriority.map(\.priority) == byPriority.map(\.priority).sorted { ($0?.rawValue ?? "P9") < ($1?.rawValue ?? "P9") })
        #expect(byPriority.map(\.vulnerabilityId).prefix(3) == ["CVE-2023-4911", "CVE-2023-4911", "CVE-2023-32681"])
        #expect(byPriority.prefix(2).map(\.package.name) == ["libc-bin", "libc6"])
        let bySeverity = FindingOrder.severity.sorted(r.findings)
        #expect(bySeverity.map(\.severity) == bySeverity.map(\.severity).sorted(by: >))
        let byPackage = FindingOrder.package.sorted(r.findings)
        #expect(byPackage.map(\.package.name) == byPackage.map(\.package.name).sorted())

        // Ties in priority: severity, then EPSS score, then id.
        let tied = [Self.finding("CVE-3", "a", fixed: "2", priority: .p4, severity: .low, epss: 0.9),
                    Self.finding("CVE-2", "a", fixed: "2", priority: .p4, severity: .medium, epss: nil),
                    Self.finding("CVE-1", "a", fixed: "2", priority: .p4, severity: .medium, epss: 0.1),
                    Self.finding("CVE-0", "a", fixed: "2", priority: .p4, severity: .medium, epss: nil),
                    Self.finding("CVE-9", "a", fixed: nil, priority: nil, severity: .critical)]
        #expect(FindingOrder.priority.sorted(tied).map(\.vulnerabilityId) == ["CVE-1", "CVE-0", "CVE-2", "CVE-3", "CVE-9"])
        #expect(FindingOrder.severity.sorted(tied).map(\.vulnerabilityId) == ["CVE-9", "CVE-1", "CVE-0", "CVE-2", "CVE-3"])
    }

    /// The in-place sort moves findings along the permutation's cycles: every order, random
    /// inputs with many ties, compared with a plain stable sort of (key, position) pairs.
    @Test(arguments: FindingOrder.allCases) func inPlaceSortIsAStableSortOfEveryFinding(order: FindingOrder) {
        var rng = SystemRandomNumberGenerator()
        for n in [0, 1, 2, 3, 17, 500] {
            var input: [Finding] = []
            for i in 0..<n {
                var f = Self.finding(
                    "CVE-\(Int.random(in: 0..<6, using: &rng))", "p\(Int.random(in: 0..<3, using: &rng))",
                    fixed: Bool.random(using: &rng) ? "2" : nil, priority: Priority.allCases.randomElement(using: &rng),
                    severity: Severity.allCases.randomElement(using: &rng)!,
                    epss: Bool.random(using: &rng) ? Double(Int.random(in: 0..<4, using: &rng)) / 4 : nil)
                f.title = "#\(i)"  // not a sort key: tells equal findings apart
                input.append(f)
            }
            var sorted = input
            order.sort(&sorted)
            // Reference: insertion sort by the same order's answer on pairs (stable by construction).
            var reference: [Finding] = []
            for f in input {
                var k = reference.count
                while k > 0, order.sorted([f, reference[k - 1]]).first?.title == f.title, order.sorted([reference[k - 1], f]).first?.title == f.title {
                    k -= 1
                }
                reference.insert(f, at: k)
            }
            #expect(sorted.map(\.title) == reference.map(\.title), "n=\(n)")
            #expect(Set(sorted.compactMap(\.title)).count == n)
        }
    }

    // MARK: Formats

    @Test func tableShowsPriorityEPSSKEVAndFixFirst() throws {
        var r = try Self.enrichedReport()
        r.findings = FindingOrder.priority.sorted(r.findings)
        let text = ScanReportText.table(r)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.allSatisfy { $0.count <= ScanReportText.tableWidth }, "\(text)")
        let header = try #require(lines.first { $0.hasPrefix("VULNERABILITY") })
        #expect(header.split(separator: " ", omittingEmptySubsequences: true) ==
            ["VULNERABILITY", "PRIORITY", "SEVERITY", "EPSS", "KEV", "PACKAGE", "INSTALLED", "FIXED", "TITLE"])
        let glibc = try #require(lines.first { $0.hasPrefix("CVE-2023-4911") })
        #expect(glibc.contains("  P1  ") && glibc.contains("70% p99") && glibc.contains("  KEV  "))
        let requests = try #require(lines.first { $0.hasPrefix("CVE-2023-32681") })
        #expect(requests.contains("  P2  ") && requests.contains("40% p96") && !requests.contains("KEV"))
        let ncurses = try #require(lines.first { $0.hasPrefix("CVE-2023-50495") })
        #expect(ncurses.contains("  P5  ") && ncurses.contains("  -  "))
        #expect(text.contains("P1 2  P2 1  P3 0  P4 0  P5 2  KEV 2"))

        let fixFirst = try #require(text.range(of: "Fix first (3 of 3 upgrades):\n"))
        let summary = text[fixFirst.upperBound...].split(separator: "\n")
        #expect(summary == [
            "  P1  upgrade libc-bin to 2.36-9+deb12u3: closes 1 finding, 1 KEV",
            "  P1  upgrade libc6 to 2.36-9+deb12u3: closes 1 finding, 1 KEV",
            "  P2  upgrade Requests to 2.31.0: closes 1 finding",
        ])
    }

    @Test func tableCutsLongCellsToFit() {
        var f = Self.finding("GHSA-aaaa-bbbb-cccc", "github.com/some-organisation/some-very-long-module-name/v2", fixed: "2.0.0-20240101000000-abcdef123456",
                             priority: .p4)
        f.package.version = "0.0.0-20230101000000-0123456789ab"
        f.title = String(repeating: "a long title ", count: 10)
        f.epss = EPSSInfo(score: 0.00043, percentile: 0.087, date: nil)
        let text = ScanReportText.findingsTable([f])
        #expect(text.split(separator: "\n").allSatisfy { $0.count <= ScanReportText.tableWidth }, "\(text)")
        #expect(text.contains("github.com/some-org…  ") && text.contains("0.04% p8"))
        #expect(!text.contains("TITLE") && text.contains("0.0.0-2023") && text.contains("2.0.0-2024"))
        // Room enough: the title stays, cut to what is left.
        f.package.name = "openssl"
        f.package.version = "3.0.11-1~deb12u2"
        f.fixedVersion = "3.0.15-1~deb12u1"
        let roomy = ScanReportText.findingsTable([f])
        #expect(roomy.contains("TITLE") && roomy.contains("3.0.11-1~deb12u2") && roomy.contains("3.0.15-1~deb12u1") && roomy.contains("a long title"))
        #expect(roomy.split(separator: "\n").allSatisfy { $0.count <= ScanReportText.tableWidth })
    }

    @Test(arguments: [(0.97213, 0.99981, "97% p99"), (0.05, 0.912, "5.0% p91"), (0.0004, 0.05, "0.04% p5"), (1, 1, "100% p100")]
          as [(Double, Double, String)])
    func epssCell(score: Double, percentile: Double, expected: String) {
        #expect(ScanReportText.epssCell(EPSSInfo(score: score, percentile: percentile, date: nil)) == expected)
    }

    /// The cell's number is `%.0f` / `%.1f` / `%.2f` of the percentage for every score EPSS can
    /// publish (five decimals).
    @Test func epssCellMatchesPrintfForEveryFiveDecimalScore() {
        var mismatches: [String] = []
        for k in 0...100_000 {
            let pct = (Double(k) / 100_000) * 100
            let digits = pct >= 9.95 ? 0 : pct >= 0.995 ? 1 : 2
            let expected = String(format: "%.\(digits)f", pct)
            if ScanReportText.fixed(pct, digits) != expected { mismatches.append("\(k): \(expected)") }
        }
        #expect(mismatches.isEmpty, "\(mismatches.prefix(10))")
    }

    @Test func jsonCarriesTheAPIShape() throws {
        let r = try Self.enrichedReport()
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(ScanReportText.json(r).utf8)) as? [String: Any])
        let findings = try #require(doc["findings"] as? [[String: Any]])
        func find(_ id: String) throws -> [String: Any] { try #require(findings.first { $0["vulnerabilityId"] as? String == id }) }

        let glibc = try find("CVE-2023-4911")
        #expect(glibc["priority"] as? String == "P1" && glibc["severitySource"] as? String == "distribution")
        let kev = try #require(glibc["kev"] as? [String: Any])
        #expect(Set(kev.keys) == ["dateAdded", "dueDate", "ransomware"])
        #expect(kev["dateAdded"] as? String == "2023-11-21" && kev["dueDate"] as? String == "2023-12-12" && kev["ransomware"] as? Bool == true)
        let epss = try #require(glibc["epss"] as? [String: Any])
        #expect(Set(epss.keys) == ["score", "percentile", "date"])
        #expect(epss["score"] as? Double == 0.7 && epss["percentile"] as? Double == 0.99)
        #expect(epss["date"] as? String == "2026-12-01T00:00:00+0000")

        let requests = try find("CVE-2023-32681")
        let cvss = try #require(requests["cvss"] as? [String: Any])
        #expect(Set(cvss.keys) == ["version", "vector", "score", "source"])
        #expect(cvss["version"] as? String == "3.1" && cvss["score"] as? Double == 6.1)
        #expect((cvss["vector"] as? String)?.hasPrefix("CVSS:3.1/AV:N/AC:H") == true)
        #expect(requests["kev"] is NSNull && requests["priority"] as? String == "P2")
        #expect(requests["cvssRating"] == nil)

        let ncurses = try find("CVE-2023-50495")
        #expect(ncurses["cvss"] is NSNull && ncurses["epss"] is NSNull && ncurses["kev"] is NSNull)
        #expect(ncurses["fixState"] as? String == "not-fixed" && ncurses["priority"] as? String == "P5")

        let groups = try #require(doc["fixGroups"] as? [[String: Any]])
        #expect(groups.first?["bestPriority"] as? String == "P1" && groups.count == 3)
        #expect(doc["packages"] is [Any] && doc["digest"] as? String == r.digest)
    }

    @Test func jsonShowsAScoreWithoutAVector() throws {
        var f = Self.finding("CVE-7", "x", fixed: "2", priority: .p4)
        f.cvss = 7.5
        let data = try JSONEncoder().encode(FindingDocument(f))
        let obj = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let cvss = try #require(obj["cvss"] as? [String: Any])
        #expect(cvss["score"] as? Double == 7.5 && cvss["version"] is NSNull && cvss["vector"] is NSNull && cvss["source"] is NSNull)
        #expect(obj["severitySource"] is NSNull)
    }

    @Test func sarifSecuritySeverityAndProperties() throws {
        let r = try Self.enrichedReport()
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(ScanReportText.sarif(r, toolVersion: "1.0").utf8)) as? [String: Any])
        let run = try #require((doc["runs"] as? [[String: Any]])?.first)
        let rules = try #require(((run["tool"] as? [String: Any])?["driver"] as? [String: Any])?["rules"] as? [[String: Any]])
        func severity(_ id: String) -> String? {
            (rules.first { $0["id"] as? String == id }?["properties"] as? [String: Any])?["security-severity"] as? String
        }
        #expect(severity("CVE-2023-32681") == "6.1")  // the advisory's CVSS
        #expect(severity("CVE-2099-0001") == "9.8")  // NVD's, beside the advisory's LOW
        #expect(severity("CVE-2023-4911") == "7.8")  // the Debian record's vector beside Debian's urgency
        #expect(severity("CVE-2023-50495") == nil)  // no score: left out, the level speaks
        #expect(Set(rules.compactMap { $0["id"] as? String }).count == rules.count)

        let results = try #require(run["results"] as? [[String: Any]])
        let glibc = try #require(results.first { $0["ruleId"] as? String == "CVE-2023-4911" }?["properties"] as? [String: Any])
        #expect(glibc["priority"] as? String == "P1" && glibc["kev"] as? Bool == true && glibc["kevDateAdded"] as? String == "2023-11-21")
        #expect((glibc["epssPercentile"] as? Double).map { abs($0 - 0.99) < 1e-9 } == true)
        let zope = try #require(results.first { $0["ruleId"] as? String == "CVE-2099-0001" })
        #expect(zope["level"] as? String == "note")  // level follows the severity (LOW), not the CVSS
        #expect((zope["properties"] as? [String: Any])?["kev"] as? Bool == false)
    }
}
