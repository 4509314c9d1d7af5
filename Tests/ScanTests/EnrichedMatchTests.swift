import Foundation
import Testing

@testable import Scan

/// The matcher with enrichment data: real OSV fixture records plus NVD, EPSS, KEV and Debian
/// tracker files in their upstream formats.
@Suite struct EnrichedMatchTests {
    @Test func severityRuleKEVEPSSTrackerAndPriority() throws {
        let feeds = try EnrichmentFeedTests()
        let db = try fixtureDatabase()
        let nvd = try feeds.write("nvd.json", try EnrichmentFeedTests.json(["vulnerabilities": [
            ["cve": ["id": "CVE-2099-0001", "lastModified": "2024-01-01T00:00:00.000", "metrics": ["cvssMetricV31": [
                EnrichmentFeedTests.metric("3.1", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8, "Primary")]]]],
        ]]))
        _ = try db.importNVD(file: nvd, expectedSHA256: nil, source: "nvd:2099", location: "nvd")
        let epss = try feeds.write("epss.csv", Data("cve,epss,percentile\nCVE-2023-32681,0.4,0.96\nCVE-2023-4911,0.7,0.99\n".utf8))
        _ = try db.importEPSS(file: epss, location: "epss")
        let kev = try feeds.write("kev.json", try EnrichmentFeedTests.json(["count": 1, "vulnerabilities": [
            ["cveID": "CVE-2023-4911", "dateAdded": "2023-11-21", "dueDate": "2023-12-12", "knownRansomwareCampaignUse": "Unknown"]]]))
        _ = try db.importKEV(file: kev, location: "kev")
        let tracker = try feeds.write("json", try EnrichmentFeedTests.json([
            "ncurses": ["CVE-2023-50495": ["releases": ["bookworm": ["status": "open", "urgency": "medium", "nodsa_reason": "ignored"]]]],
        ]))
        _ = try db.importDebianTracker(file: tracker, location: "tracker")

        let inventory = ImageInventory(
            os: OSInfo(family: "debian", version: "12", codename: "bookworm"),
            packages: [
                InstalledPackage(name: "libc6", version: "2.36-9+deb12u1", type: .deb, purl: "pkg:deb/debian/libc6@2.36-9+deb12u1", sourceName: "glibc"),
                InstalledPackage(name: "libncursesw6", version: "6.4-4", type: .deb, purl: "pkg:deb/debian/libncursesw6@6.4-4", sourceName: "ncurses"),
                InstalledPackage(name: "Requests", version: "2.30.0", type: .python, purl: "pkg:pypi/requests@2.30.0"),
                InstalledPackage(name: "zope_interface", version: "5.4.0", type: .python, purl: "pkg:pypi/zope-interface@5.4.0"),
            ])
        let findings = try VulnerabilityMatcher(database: db).match(inventory)
        func find(_ id: String) throws -> Finding { try #require(findings.first { $0.vulnerabilityId == id }) }

        // KEV: P1 whatever else; the distribution's rating stays, with its CVSS beside it.
        let glibc = try find("CVE-2023-4911")
        #expect(glibc.kev == KEVInfo(dateAdded: "2023-11-21", dueDate: "2023-12-12", ransomware: false, requiredAction: nil))
        #expect(glibc.priority == .p1)
        #expect(glibc.severitySource == .distribution && glibc.severity == .high)
        #expect(glibc.epss?.percentile == 0.99)

        // The tracker's urgency is Debian's rating; `nodsa_reason: ignored` is wont-fix: P5.
        let ncurses = try find("CVE-2023-50495")
        #expect(ncurses.severity == .medium && ncurses.severitySource == .distribution)
        #expect(ncurses.fixState == .wontFix)
        #expect(ncurses.priority == .p5)

        // GHSA's own CVSS, with its vector; EPSS percentile ≥ 0.95: P2.
        let requests = try find("CVE-2023-32681")
        #expect(requests.severitySource == .advisory)
        #expect(requests.cvssRating?.vector.hasPrefix("CVSS:3.1/") == true)
        #expect(requests.cvssRating?.score == 6.1)
        #expect(requests.priority == .p2)

        // The advisory's word rating wins over NVD's CVSS, which is shown beside it.
        let zope = try find("CVE-2099-0001")
        #expect(zope.severity == .low && zope.severitySource == .advisory)
        #expect(zope.cvssRating?.score == 9.8)
        #expect(zope.priority == .p5)
        #expect(findings.allSatisfy { $0.priority != nil })
    }

    @Test func withoutEnrichmentDataSeveritiesAreTheAdvisories() throws {
        let db = try fixtureDatabase()
        let inventory = ImageInventory(os: OSInfo(family: "debian", version: "12", codename: "bookworm"), packages: [
            InstalledPackage(name: "Requests", version: "2.30.0", type: .python, purl: "pkg:pypi/requests@2.30.0"),
        ])
        let f = try #require(try VulnerabilityMatcher(database: db).match(inventory).first)
        #expect(f.severity == .medium && f.severitySource == .advisory && f.epss == nil && f.kev == nil)
        #expect(f.priority == .p4)
    }
}
