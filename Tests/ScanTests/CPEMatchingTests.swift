import Foundation
import GRDB
import Testing

@testable import Scan

/// Matching software found from its own files against NVD's CPE configurations: CPE names,
/// range versions, AND/OR/negate logic with the image's platform, and the whole path from an
/// NVD feed file through `importNVD` to findings with `matchedBy: nvd-cpe`.
@Suite struct CPEMatchingTests {
    static func name(_ s: String) -> CPEName { CPEName(s)! }

    static let python = "cpe:2.3:a:python:python:3.8.18:*:*:*:*:*:*:*"

    @Test func namesParseWithEscapesAndRefuseOtherShapes() {
        let n = Self.name("cpe:2.3:a:Oracle:OpenJDK:17.0.9\\+9:*:*:*:*:*:*:*")
        #expect(n.vendor == "oracle" && n.product == "openjdk" && n.version == "17.0.9+9")
        #expect(Self.name("cpe:2.3:a:nodejs:node.js:20.11.1:*:*:*:*:*:*:*").product == "node.js")
        #expect(Self.name("cpe:2.3:a:vendor:pro\\:duct:1:*:*:*:*:*:*:*").product == "pro:duct")
        #expect(CPEName("cpe:/a:python:python:3.8") == nil)  // CPE 2.2 URI
        #expect(CPEName("cpe:2.3:a:python:python:3.8") == nil)  // too few attributes
        #expect(CPEName("cpe:2.3:x:python:python:3.8:*:*:*:*:*:*:*") == nil)  // no such part
        #expect(CPEName("cpe:2.3:a:python:python:3.8:*:*:*:*:*:*:*\\") == nil)  // dangling escape
    }

    @Test(arguments: [
        ("3.8.18", "3.8.9", 1), ("3.8.0rc1", "3.8.0", -1), ("3.8.0", "3.8.0rc1", 1), ("17.0.9+9", "17.0.9", 0),
        ("1.1.1w", "1.1.1", 1), ("3.8.0.1", "3.8.0", 1), ("1.2.0-beta", "1.2.0", -1), ("1.2.0-1", "1.2.0", 1),
        ("20.11.1", "20.9.0", 1), ("1.21.3", "1.21.10", -1), ("8.2.7", "8.2.7", 0), ("2.4.58", "2.4.6", 1),
        ("7.0.15", "7.2.0", -1), ("3.0.0~rc1", "3.0.0", -1), ("1.0a", "1.0ab", -1), ("1.0.0-alpha", "1.0.0-beta", -1),
    ])
    func rangeVersionsCompare(_ a: String, _ b: String, _ expected: Int) {
        #expect(CPEVersion.compare(a, b).signum() == expected, "\(a) vs \(b)")
        #expect(CPEVersion.compare(b, a).signum() == -expected, "\(b) vs \(a)")
    }

    static func vulnerable(_ criteria: String, _ start: String? = nil, endExcluding: String? = nil, endIncluding: String? = nil) -> CPEMatchCriterion {
        CPEMatchCriterion(vulnerable: true, criteria: criteria, versionStartIncluding: start, versionEndIncluding: endIncluding, versionEndExcluding: endExcluding)
    }

    static func platform(_ criteria: String) -> CPEMatchCriterion { CPEMatchCriterion(vulnerable: false, criteria: criteria) }

    static let anyPython = "cpe:2.3:a:python:python:*:*:*:*:*:*:*:*"
    static let windows = "cpe:2.3:o:microsoft:windows:-:*:*:*:*:*:*:*"
    static let kernel = "cpe:2.3:o:linux:linux_kernel:-:*:*:*:*:*:*:*"
    static let debian = CPEConfiguration.platform(os: OSInfo(family: "debian", version: "12"))

    func evaluate(_ configurations: [CPEConfiguration], _ software: String = python, platform: [CPEName] = debian) -> CPEEvaluation? {
        CPEConfiguration.evaluate(configurations, software: Self.name(software), platform: platform)
    }

    @Test func rangesDecideAndGiveTheFix() {
        let c = [CPEConfiguration(nodes: [CPENode(matches: [Self.vulnerable(Self.anyPython, "3.8.0", endExcluding: "3.8.19")])])]
        let hit = evaluate(c)
        #expect(hit?.fixedVersion(above: "3.8.18") == "3.8.19")
        #expect(evaluate(c, "cpe:2.3:a:python:python:3.8.19:*:*:*:*:*:*:*") == nil)
        #expect(evaluate(c, "cpe:2.3:a:python:python:3.7.17:*:*:*:*:*:*:*") == nil)
        #expect(evaluate(c, "cpe:2.3:a:python:python:3.8.0:*:*:*:*:*:*:*") != nil)
        // An inclusive end names the last affected release, not a fix.
        let inclusive = [CPEConfiguration(nodes: [CPENode(matches: [Self.vulnerable(Self.anyPython, endIncluding: "3.8.18")])])]
        #expect(evaluate(inclusive) != nil && evaluate(inclusive)?.fixedVersion(above: "3.8.18") == nil)
        // Two branches: the fix of the one the version is in.
        let branches = [CPEConfiguration(nodes: [CPENode(matches: [
            Self.vulnerable(Self.anyPython, "3.8.0", endExcluding: "3.8.20"), Self.vulnerable(Self.anyPython, "3.9.0", endExcluding: "3.9.20"),
        ])])]
        #expect(evaluate(branches)?.fixedVersion(above: "3.8.18") == "3.8.20")
    }

    @Test func exactVersionsAndOtherAttributes() {
        let exact = [CPEConfiguration(nodes: [CPENode(matches: [Self.vulnerable(Self.python)])])]
        #expect(evaluate(exact) != nil)
        #expect(evaluate(exact, "cpe:2.3:a:python:python:3.8.17:*:*:*:*:*:*:*") == nil)
        // A criterion for the Windows build does not cover software that does not say where it runs.
        let targeted = [CPEConfiguration(nodes: [CPENode(matches: [Self.vulnerable("cpe:2.3:a:python:python:*:*:*:*:*:windows:*:*")])])]
        #expect(evaluate(targeted) == nil)
        // Another product with the same version is not this one.
        let other = [CPEConfiguration(nodes: [CPENode(matches: [Self.vulnerable("cpe:2.3:a:python:pillow:3.8.18:*:*:*:*:*:*:*")])])]
        #expect(evaluate(other) == nil)
    }

    @Test func andConfigurationsNeedTheirPlatform() {
        let onWindows = [CPEConfiguration(op: .and, nodes: [
            CPENode(matches: [Self.vulnerable(Self.anyPython, endExcluding: "3.9.0")]), CPENode(matches: [Self.platform(Self.windows)]),
        ])]
        #expect(evaluate(onWindows) == nil)  // a Debian image
        #expect(evaluate(onWindows, platform: [Self.name("cpe:2.3:o:microsoft:windows:*:*:*:*:*:*:*:*")]) != nil)
        let onLinux = [CPEConfiguration(op: .and, nodes: [
            CPENode(matches: [Self.vulnerable(Self.anyPython, endExcluding: "3.9.0")]), CPENode(matches: [Self.platform(Self.kernel)]),
        ])]
        #expect(evaluate(onLinux) != nil)
        let onDebian11 = [CPEConfiguration(op: .and, nodes: [
            CPENode(matches: [Self.vulnerable(Self.anyPython, endExcluding: "3.9.0")]),
            CPENode(matches: [Self.platform("cpe:2.3:o:debian:debian_linux:11:*:*:*:*:*:*:*")]),
        ])]
        #expect(evaluate(onDebian11) == nil)
        #expect(evaluate(onDebian11, platform: CPEConfiguration.platform(os: OSInfo(family: "debian", version: "11"))) != nil)
        // "Not on Windows": a negated platform node.
        let notWindows = [CPEConfiguration(op: .and, nodes: [
            CPENode(matches: [Self.vulnerable(Self.anyPython, endExcluding: "3.9.0")]),
            CPENode(negate: true, matches: [Self.platform(Self.windows)]),
        ])]
        #expect(evaluate(notWindows) != nil)
        #expect(evaluate(notWindows, platform: [Self.name("cpe:2.3:o:microsoft:windows:*:*:*:*:*:*:*:*")]) == nil)
        // A negated configuration.
        let negated = [CPEConfiguration(negate: true, nodes: [CPENode(matches: [Self.vulnerable(Self.anyPython, endExcluding: "3.9.0")])])]
        #expect(evaluate(negated) == nil)
    }

    @Test func aCriterionForSomethingElseInTheImageDoesNotMakeThisSoftwareVulnerable() {
        // node.js vulnerable when used with python ≥ 3.8: python itself is not vulnerable.
        let c = [CPEConfiguration(op: .and, nodes: [
            CPENode(matches: [Self.vulnerable("cpe:2.3:a:nodejs:node.js:*:*:*:*:*:*:*:*", endExcluding: "21.0.0")]),
            CPENode(matches: [Self.platform(Self.anyPython)]),
        ])]
        let node = "cpe:2.3:a:nodejs:node.js:20.11.1:*:*:*:*:*:*:*"
        #expect(evaluate(c) == nil)
        #expect(evaluate(c, node) == nil)  // no python beside it
        #expect(evaluate(c, node, platform: Self.debian + [Self.name(Self.python)]) != nil)
        // A vulnerable criterion inside a negated node never makes software vulnerable.
        let inverted = [CPEConfiguration(nodes: [CPENode(negate: true, matches: [Self.vulnerable(Self.anyPython, endExcluding: "3.0")])])]
        #expect(evaluate(inverted) == nil)
    }

    @Test func storedJSONRoundTripsAndProductsReadFromBytesEqualParsedNames() throws {
        let configurations = [
            CPEConfiguration(op: .and, negate: true, nodes: [
                CPENode(matches: [
                    CPEMatchCriterion(vulnerable: true, criteria: "cpe:2.3:a:Oracle:OpenJDK:17.0.9\\+9:*:*:*:*:*:*:*", versionStartIncluding: "1",
                                      versionStartExcluding: "2", versionEndIncluding: "3", versionEndExcluding: "4\"\u{1}\\"),
                ]),
                CPENode(op: .and, negate: true, matches: [Self.platform(Self.windows)]),
            ]),
            CPEConfiguration(nodes: []),
        ]
        let stored = CPEConfiguration.json(configurations)
        #expect(try JSONDecoder().decode([CPEConfiguration].self, from: Data(stored)) == configurations)
        #expect(try JSONSerialization.jsonObject(with: Data(stored)) is [Any])
        for criteria in [Self.python, Self.windows, "cpe:2.3:a:Oracle:OpenJDK:17.0.9\\+9:*:*:*:*:*:*:*",
                         "cpe:2.3:a:vendor:pro\\:duct:1:*:*:*:*:*:*:*", "cpe:2.3:a:nodejs:node.js:*:*:*:*:*:*:*:*"] {
            let name = Self.name(criteria)
            #expect(CPEProduct(criteria: criteria) == CPEProduct(vendor: name.vendor, product: name.product), "\(criteria)")
        }
        #expect(CPEProduct(criteria: "cpe:/a:python:python:3.8") == nil)
        #expect(CPEProduct(criteria: "cpe:2.3:a:python") == nil)
    }

    @Test func platformsOfImages() {
        #expect(CPEConfiguration.platform(os: nil).map(\.product) == ["linux_kernel"])
        #expect(CPEConfiguration.platform(os: OSInfo(family: "ubuntu", version: "22.04")).last == Self.name("cpe:2.3:o:canonical:ubuntu_linux:22.04:*:*:*:*:*:*:*"))
        #expect(CPEConfiguration.platform(os: OSInfo(family: "alpine", version: nil)).last?.product == "alpine_linux")
    }

    // MARK: From a feed file to findings

    static func cve(_ id: String, lastModified: String, score: Double?, configurations: [[String: Any]], description: String = "A flaw in CPython. More words.") -> [String: Any] {
        var cve: [String: Any] = [
            "id": id, "published": "2024-01-01T00:00:00.000", "lastModified": lastModified, "vulnStatus": "Analyzed",
            "descriptions": [["lang": "en", "value": description]], "configurations": configurations,
        ]
        if let score {
            cve["metrics"] = ["cvssMetricV31": [EnrichmentFeedTests.metric("3.1", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", score, "Primary")]]
        }
        return cve
    }

    static func config(_ op: String, _ nodes: [[String: Any]]) -> [String: Any] { ["operator": op, "negate": false, "nodes": nodes] }

    static func config(_ nodes: [[String: Any]]) -> [String: Any] { config("OR", nodes) }

    static func node(_ matches: [[String: Any]], negate: Bool = false) -> [String: Any] { ["operator": "OR", "negate": negate, "cpeMatch": matches] }

    static func feed(_ cves: [[String: Any]]) throws -> Data {
        try EnrichmentFeedTests.json([
            "resultsPerPage": cves.count, "startIndex": 0, "totalResults": cves.count, "format": "NVD_CVE", "version": "2.0",
            "timestamp": "2024-12-01T00:00:00.000", "vulnerabilities": cves.map { ["cve": $0] },
        ])
    }

    static func runtime(_ name: String, _ version: String, _ cpe: String) -> InstalledPackage {
        InstalledPackage(name: name, version: version, type: .binary, purl: "pkg:generic/\(name)@\(version)", path: "/usr/local/bin/\(name)", cpes: [cpe])
    }

    @Test func importedConfigurationsMatchRuntimesAndAReimportReplacesThem() throws {
        let files = try EnrichmentFeedTests()
        let db = try VulnerabilityDatabase.inMemory()
        let pythonRange: [String: Any] = ["vulnerable": true, "criteria": Self.anyPython, "versionStartIncluding": "3.8.0", "versionEndExcluding": "3.8.19", "matchCriteriaId": "A"]
        let cves = [
            Self.cve("CVE-2024-1001", lastModified: "2024-02-01T00:00:00.000", score: 9.8, configurations: [Self.config([Self.node([pythonRange])])]),
            // Only on Windows.
            Self.cve("CVE-2024-1002", lastModified: "2024-02-01T00:00:00.000", score: 7.5, configurations: [Self.config("AND", [
                Self.node([pythonRange]), Self.node([["vulnerable": false, "criteria": Self.windows, "matchCriteriaId": "B"]]),
            ])]),
            // Fixed before this version.
            Self.cve("CVE-2024-1003", lastModified: "2024-02-01T00:00:00.000", score: 5.0, configurations: [Self.config([Self.node([
                ["vulnerable": true, "criteria": Self.anyPython, "versionEndExcluding": "3.8.10", "matchCriteriaId": "C"],
            ])])]),
            // No fix named: the last affected version.
            Self.cve("CVE-2024-1004", lastModified: "2024-02-01T00:00:00.000", score: nil, configurations: [Self.config([Self.node([
                ["vulnerable": true, "criteria": "cpe:2.3:a:nodejs:node.js:*:*:*:*:*:*:*:*", "versionEndIncluding": "20.11.1", "matchCriteriaId": "D"],
            ])])]),
        ]
        let feed = try files.write("nvdcve-2.0-2024.json", try Self.feed(cves), gzip: true)
        _ = try db.importNVD(file: feed, expectedSHA256: nil, source: "nvd:2024", location: "test")

        let inventory = ImageInventory(os: OSInfo(family: "debian", version: "12"), packages: [
            Self.runtime("python", "3.8.18", Self.python),
            Self.runtime("node", "20.11.1", "cpe:2.3:a:nodejs:node.js:20.11.1:*:*:*:*:*:*:*"),
            InstalledPackage(name: "python3.11", version: "3.11.2-6", type: .deb, purl: "pkg:deb/debian/python3.11@3.11.2-6"),
        ])
        let findings = try VulnerabilityMatcher(database: db).match(inventory)
        #expect(findings.map(\.vulnerabilityId).sorted() == ["CVE-2024-1001", "CVE-2024-1004"])
        let py = try #require(findings.first { $0.vulnerabilityId == "CVE-2024-1001" })
        #expect(py.matchedBy == "nvd-cpe" && py.package.name == "python" && py.package.type == .binary)
        #expect(py.fixedVersion == "3.8.19" && py.fixState == .fixed)
        #expect(py.severity == .critical && py.severitySource == .nvd && py.cvssRating?.score == 9.8)
        #expect(py.title == "A flaw in CPython.")
        #expect(py.references == ["https://nvd.nist.gov/vuln/detail/CVE-2024-1001"])
        #expect(py.priority == .p2)  // CVSS ≥ 9.0 with a fix
        let node = try #require(findings.first { $0.vulnerabilityId == "CVE-2024-1004" })
        #expect(node.fixedVersion == nil && node.fixState == .unknown && node.severity == .unknown && node.priority == .p5)

        // NVD changes CVE-2024-1001 to Windows only: the newer record replaces the configurations and the index.
        let changed = Self.cve("CVE-2024-1001", lastModified: "2024-03-01T00:00:00.000", score: 9.8, configurations: [Self.config("AND", [
            Self.node([pythonRange]), Self.node([["vulnerable": false, "criteria": Self.windows, "matchCriteriaId": "B"]]),
        ])])
        let modified = try files.write("nvdcve-2.0-modified.json", try Self.feed([changed]), gzip: true)
        _ = try db.importNVD(file: modified, expectedSHA256: nil, source: "nvd:modified", location: "test")
        #expect(try VulnerabilityMatcher(database: db).match(inventory).map(\.vulnerabilityId) == ["CVE-2024-1004"])
        // A record without configurations leaves nothing behind in the index.
        let bare = Self.cve("CVE-2024-1004", lastModified: "2024-03-01T00:00:00.000", score: nil, configurations: [])
        let modified2 = try files.write("nvdcve-2.0-modified2.json", try Self.feed([bare]), gzip: true)
        _ = try db.importNVD(file: modified2, expectedSHA256: nil, source: "nvd:modified", location: "test")
        #expect(try VulnerabilityMatcher(database: db).match(inventory).isEmpty)
        let left = try db.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM nvd_cpe_product WHERE cve = 'CVE-2024-1004'") }
        #expect(left == 0)
    }

    @Test func theMigrationMakesTheNextUpdateRefetchEveryNVDFeed() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hg-cpe-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("vulndb.sqlite").path
        do {
            let pool = try DatabasePool(path: path)
            try VulnerabilityDatabase.migrator.migrate(pool, upTo: "v7: NVD ratings in a table of their own")
            try pool.write { db in
                try db.execute(sql: "INSERT INTO nvd_cve(id, last_modified, record) VALUES ('CVE-2024-1001', '2024-02-01T00:00:00.000', x'7b7d')")
                for source in ["nvd:2024", "nvd:2024:meta", "osv:PyPI"] {
                    try db.execute(
                        sql: "INSERT INTO update_state(source, url, etag, last_modified, sha256, checked_at) VALUES (?, 'u', 'e', 'l', 's', 0)",
                        arguments: [source])
                }
            }
        }
        let db = try VulnerabilityDatabase(path: path)
        let stored = try db.read { try String.fetchOne($0, sql: "SELECT last_modified FROM nvd_cve") }
        #expect(stored == "")
        #expect(try db.updateState(source: "nvd:2024")?.sha256 == nil)
        #expect(try db.updateState(source: "nvd:2024:meta")?.etag == nil)
        #expect(try db.updateState(source: "osv:PyPI")?.etag == "e")
        let nvd = try #require(try db.enrichmentStatus().first { $0.name == "nvd" })
        #expect(nvd.awaitingRefetch == 1 && nvd.cpeConfigurations == 0)
    }
}
