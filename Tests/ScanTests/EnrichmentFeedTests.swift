import Crypto
import Foundation
import Testing

@testable import Scan

/// The enrichment feeds' readers on files written in each upstream's format (generated here:
/// this machine cannot reach NVD, FIRST, CISA or Debian), gzip made by the real `gzip`.
@Suite struct EnrichmentFeedTests {
    let dir: URL

    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("hg-feeds-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    func write(_ name: String, _ data: Data, gzip: Bool = false) throws -> URL {
        let url = dir.appendingPathComponent(name)
        try data.write(to: url)
        guard gzip else { return url }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/gzip")
        p.arguments = ["-f", "-n", url.path]
        try p.run()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        return URL(fileURLWithPath: url.path + ".gz")
    }

    static func json(_ object: Any) throws -> Data {
        try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    }

    // MARK: The splitter

    /// Elements whose strings hold quotes, escapes, brackets and commas, split at every chunk size.
    @Test func splitterFindsEveryElementAtAnyChunkSize() throws {
        let elements: [Any] = [
            ["cve": ["id": "CVE-1", "d": "a \"quoted\" {brace} [bracket], comma \\ backslash"]],
            ["nested": [[1, 2, [3]], ["k": ["x": "]}"]]]],
            "a string element",
            42.5,
            NSNull(),
            true,
        ]
        let doc = try Self.json([
            "format": "NVD_CVE", "resultsPerPage": 6, "aaa": ["vulnerabilities": ["not", "this"]],
            "vulnerabilities": elements, "zzz": [1, 2],
        ])
        let bytes = Array(doc)
        for chunk in [1, 2, 3, 7, 64, bytes.count] {
            var s = JSONStreamSplitter(target: .elementsOf(key: "vulnerabilities"))
            var got: [Any] = []
            var i = 0
            while i < bytes.count {
                try s.feed(Array(bytes[i..<min(i + chunk, bytes.count)])) { key, value in
                    #expect(key == nil)
                    got.append(try JSONSerialization.jsonObject(with: Data(value), options: [.fragmentsAllowed]))
                }
                i += chunk
            }
            try s.finish()
            #expect(got.count == elements.count, "chunk size \(chunk)")
            #expect(NSArray(array: got).isEqual(to: elements), "chunk size \(chunk)")
        }
    }

    @Test func splitterMembersMode() throws {
        let doc = try Self.json(["openssl": ["CVE-1": ["x": 1]], "zlib": ["CVE-2": [:] as [String: Any]], "n": 3, "s": "v"])
        var s = JSONStreamSplitter(target: .members)
        var keys: [String] = []
        try s.feed(Array(doc)) { key, _ in keys.append(key ?? "?") }
        try s.finish()
        #expect(keys == ["n", "openssl", "s", "zlib"])
    }

    @Test func splitterRefusesTruncatedTrailingAndMissing() throws {
        let doc = Array(try Self.json(["vulnerabilities": [["a": 1], ["b": 2]]]))
        var cut = JSONStreamSplitter(target: .elementsOf(key: "vulnerabilities"))
        try cut.feed(Array(doc.dropLast(3))) { _, _ in }
        #expect(throws: JSONStreamSplitter.Failure.self) { try cut.finish() }

        var trailing = JSONStreamSplitter(target: .elementsOf(key: "vulnerabilities"))
        #expect(throws: JSONStreamSplitter.Failure.self) { try trailing.feed(doc + Array(" {}".utf8)) { _, _ in } }

        var missing = JSONStreamSplitter(target: .elementsOf(key: "cves"))
        try missing.feed(doc) { _, _ in }
        #expect(throws: JSONStreamSplitter.Failure.self) { try missing.finish() }

        var notObject = JSONStreamSplitter(target: .members)
        #expect(throws: JSONStreamSplitter.Failure.self) { try notObject.feed(Array("[1,2]".utf8)) { _, _ in } }

        var tooBig = JSONStreamSplitter(target: .elementsOf(key: "vulnerabilities"), maxValueBytes: 4)
        #expect(throws: JSONStreamSplitter.Failure.self) { try tooBig.feed(doc) { _, _ in } }
    }

    // MARK: NVD

    static func metric(_ version: String, _ vector: String, _ score: Double, _ type: String, _ source: String = "nvd@nist.gov")
        -> [String: Any]
    {
        ["source": source, "type": type, "cvssData": ["version": version, "vectorString": vector, "baseScore": score]]
    }

    static func nvdFeed() throws -> Data {
        let v31 = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
        let cves: [[String: Any]] = [
            [
                "id": "CVE-2024-0001", "published": "2024-01-02T10:15:08.423", "lastModified": "2024-02-01T00:00:00.000",
                "vulnStatus": "Analyzed",
                "descriptions": [["lang": "es", "value": "hola"], ["lang": "en", "value": "A flaw."]],
                "metrics": [
                    "cvssMetricV40": [metric("4.0", "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", 9.3, "Secondary", "cna@example.org")],
                    "cvssMetricV31": [metric("3.1", v31, 9.8, "Primary")],
                    "cvssMetricV2": [metric("2.0", "AV:N/AC:L/Au:N/C:P/I:P/A:P", 7.5, "Primary")],
                ],
                "weaknesses": [["source": "nvd@nist.gov", "type": "Primary", "description": [["lang": "en", "value": "CWE-787"], ["lang": "en", "value": "NVD-CWE-noinfo"]]]],
                "configurations": [["nodes": [["operator": "OR", "negate": false, "cpeMatch": [
                    ["vulnerable": true, "criteria": "cpe:2.3:a:openssl:openssl:*:*:*:*:*:*:*:*", "versionStartIncluding": "3.0.0", "versionEndExcluding": "3.0.15", "matchCriteriaId": "X"],
                    ["vulnerable": false, "criteria": "cpe:2.3:o:linux:linux_kernel:-:*:*:*:*:*:*:*", "matchCriteriaId": "Y"],
                ]]]]],
            ],
            [
                "id": "CVE-2024-0002", "published": "2024-01-03T00:00:00.000", "lastModified": "2024-01-03T00:00:00.000",
                "descriptions": [["lang": "en", "value": "Only v3.1: secondary first in the file."]],
                "metrics": ["cvssMetricV31": [
                    metric("3.1", "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:L/I:N/A:N", 3.3, "Secondary", "cna@example.org"),
                    metric("3.1", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N", 7.5, "Primary"),
                ]],
            ],
            ["id": "CVE-2024-0003", "vulnStatus": "Awaiting Analysis", "descriptions": [], "metrics": [:] as [String: Any]],
            ["id": "CVE-2009-0004", "metrics": ["cvssMetricV2": [metric("2.0", "AV:N/AC:L/Au:N/C:C/I:C/A:C", 10.0, "Primary")]]],
        ]
        return try json([
            "resultsPerPage": cves.count, "startIndex": 0, "totalResults": cves.count, "format": "NVD_CVE",
            "version": "2.0", "timestamp": "2024-12-01T03:00:00.000",
            "vulnerabilities": cves.map { ["cve": $0] },
        ])
    }

    @Test func nvdFeedStreamsRecordsAndChecksTheMetaHash() throws {
        let json = try Self.nvdFeed()
        let sha = SHA256.hash(data: json).map { String(format: "%02X", $0) }.joined()
        let meta = try NVDFeed.Meta.parse(
            "lastModifiedDate:2024-12-01T03:00:00-05:00\r\nsize:\(json.count)\r\nzipSize:1\r\ngzSize:1\r\nsha256:\(sha)\r\n")
        #expect(meta.sha256 == sha.lowercased())
        let feed = try write("nvdcve-2.0-2024.json", json, gzip: true)
        var records: [NVDRecord] = []
        let summary = try NVDFeed.read(file: feed, expectedSHA256: meta.sha256) { records.append($0) }
        #expect(summary.records == 4)
        #expect(summary.uncompressedBytes == Int64(json.count))
        #expect(records.map(\.id) == ["CVE-2024-0001", "CVE-2024-0002", "CVE-2024-0003", "CVE-2009-0004"])

        let first = records[0]
        #expect(first.description == "A flaw.")
        #expect(first.cwes == ["CWE-787"])
        #expect(first.ratings.count == 3)
        #expect(first.preferredRating?.version == "4.0")
        #expect(first.preferredRating?.severity == .critical)
        #expect(first.configurations.count == 1)
        #expect(first.configurations.first?.nodes.first?.matches.first?.versionEndExcluding == "3.0.15")
        // Within one version, Primary before Secondary whatever the file's order.
        #expect(records[1].preferredRating?.score == 7.5)
        #expect(records[1].preferredRating?.type == "Primary")
        #expect(records[2].preferredRating == nil)
        // CVSS v2 has no CRITICAL: 10.0 is HIGH.
        #expect(records[3].preferredRating?.severity == .high)

        #expect(throws: NVDFeed.FeedError.self) {
            try NVDFeed.read(file: feed, expectedSHA256: String(repeating: "0", count: 64)) { _ in }
        }
        #expect(throws: NVDFeed.FeedError.self) { try NVDFeed.Meta.parse("lastModifiedDate:x\nsize:1\n") }
    }

    @Test func nvdFeedRefusesCorruptGzipTruncatedJSONAndForeignElements() throws {
        let gz = try Data(contentsOf: try write("a.json", try Self.nvdFeed(), gzip: true))
        let cutGzip = try write("cut.json.gz", gz.prefix(gz.count / 2))
        #expect(throws: (any Error).self) { try NVDFeed.read(file: cutGzip) { _ in } }

        var flipped = gz
        flipped[flipped.count / 2] ^= 0xFF
        let corrupt = try write("corrupt.json.gz", flipped)
        #expect(throws: (any Error).self) { try NVDFeed.read(file: corrupt) { _ in } }

        let json = try Self.nvdFeed()
        let truncated = try write("trunc.json", json.prefix(json.count - 10))
        var seen = 0
        #expect(throws: NVDFeed.FeedError.self) { try NVDFeed.read(file: truncated) { _ in seen += 1 } }

        let foreign = try write("foreign.json", try Self.json(["vulnerabilities": [["id": "CVE-1"]]]))
        #expect(throws: NVDFeed.FeedError.self) { try NVDFeed.read(file: foreign) { _ in } }
    }

    // MARK: EPSS

    @Test func epssCSVWithItsCommentLine() throws {
        let csv = """
            #model_version:v2025.03.14,score_date:2025-03-20T12:55:00+0000
            cve,epss,percentile
            CVE-1999-0001,0.01141,0.77767
            CVE-2021-44228,0.94358,0.99961

            """
        let url = try write("epss_scores-2025-03-20.csv", Data(csv.utf8), gzip: true)
        var scores: [EPSSFeed.Score] = []
        let (header, rows) = try EPSSFeed.read(file: url) { scores.append($0) }
        #expect(rows == 2)
        #expect(header.modelVersion == "v2025.03.14")
        #expect(header.scoreDate == "2025-03-20T12:55:00+0000")
        #expect(scores.last == EPSSFeed.Score(cve: "CVE-2021-44228", epss: 0.94358, percentile: 0.99961))

        let bad = try write("bad.csv", Data((csv + "CVE-2022-0001,high,0.5\n").utf8), gzip: true)
        #expect(throws: EPSSFeed.FeedError(description: "line 5: not a cve,epss,percentile row: CVE-2022-0001,high,0.5")) {
            try EPSSFeed.read(file: bad) { _ in }
        }
        let noHeader = try write("nohdr.csv", Data("CVE-1999-0001,0.1,0.2\n".utf8))
        #expect(throws: EPSSFeed.FeedError.self) { try EPSSFeed.read(file: noHeader) { _ in } }
    }

    // MARK: KEV

    @Test func kevCatalogAndItsCount() throws {
        let entry: [String: Any] = [
            "cveID": "CVE-2021-44228", "vendorProject": "Apache", "product": "Log4j2", "vulnerabilityName": "Log4Shell",
            "dateAdded": "2021-12-10", "shortDescription": "…", "requiredAction": "Apply updates.", "dueDate": "2021-12-24",
            "knownRansomwareCampaignUse": "Known", "notes": "", "cwes": ["CWE-20"],
        ]
        let good = try write("known_exploited_vulnerabilities.json", try Self.json([
            "title": "CISA Catalog of Known Exploited Vulnerabilities", "catalogVersion": "2025.03.20",
            "dateReleased": "2025-03-20T17:00:00.000Z", "count": 1, "vulnerabilities": [entry],
        ]))
        let catalog = try KEVCatalog.read(file: good)
        #expect(catalog.vulnerabilities.first?.knownRansomwareCampaignUse == "Known")
        #expect(catalog.vulnerabilities.first?.dueDate == "2021-12-24")
        let short = try write("short.json", try Self.json(["count": 2, "vulnerabilities": [entry]]))
        #expect(throws: KEVCatalog.FeedError.self) { try KEVCatalog.read(file: short) }
    }

    // MARK: Debian

    @Test func debianTrackerStatementsAndTheUrgencyTable() throws {
        let tracker: [String: Any] = [
            "openssl": [
                "CVE-2024-0001": ["description": "x", "scope": "remote", "releases": [
                    "bookworm": ["status": "resolved", "repositories": ["bookworm": "3.0.15-1~deb12u1"], "fixed_version": "3.0.15-1~deb12u1", "urgency": "medium"],
                    "bullseye": ["status": "open", "repositories": ["bullseye": "1.1.1w-0+deb11u1"], "urgency": "end-of-life"],
                ]],
                "TEMP-0000000-ABCDEF": ["releases": ["bookworm": ["status": "open", "urgency": "low"]]],
            ],
            "zlib": [
                "CVE-2023-0002": ["releases": [
                    "bookworm": ["status": "open", "urgency": "unimportant", "nodsa": "Minor", "nodsa_reason": "ignored"],
                    "trixie": ["status": "open", "urgency": "low**", "nodsa_reason": "postponed"],
                    "sid": ["status": "resolved", "fixed_version": "0", "urgency": "not yet assigned"],
                ]]
            ],
        ]
        let url = try write("json", try Self.json(tracker), gzip: true)
        var got: [DebianTracker.Statement] = []
        let packages = try DebianTracker.read(file: url) { got.append($0) }
        #expect(packages == 2)
        #expect(got.count == 5)
        let byKey = Dictionary(uniqueKeysWithValues: got.map { ("\($0.sourcePackage)/\($0.release)", $0) })
        #expect(byKey["openssl/bookworm"]?.severity == .medium)
        #expect(byKey["openssl/bookworm"]?.fixState == .fixed)
        #expect(byKey["openssl/bullseye"]?.severity == nil)
        #expect(byKey["openssl/bullseye"]?.fixState == .wontFix)
        #expect(byKey["zlib/bookworm"]?.severity == .low)
        #expect(byKey["zlib/bookworm"]?.fixState == .wontFix)
        #expect(byKey["zlib/trixie"]?.severity == nil)
        #expect(byKey["zlib/trixie"]?.fixState == .notFixed)
        // fixed_version "0": the release never had the vulnerable code; not a fix to apply.
        #expect(byKey["zlib/sid"]?.fixState == .unknown)

        let table: [(String?, Severity?)] = [
            ("unimportant", .low), ("low", .low), ("medium", .medium), ("high", .high), ("not yet assigned", nil),
            ("end-of-life", nil), ("low*", nil), ("medium**", nil), ("high**", nil), (nil, nil),
        ]
        for (urgency, expected) in table { #expect(DebianTracker.severity(urgency: urgency) == expected, "\(urgency ?? "nil")") }
    }

    // MARK: The rules

    @Test func severityRuleEveryBranch() {
        let nvd = NVDRecord(
            id: "CVE-1", published: nil, lastModified: nil, status: nil, description: nil, cwes: [],
            ratings: [
                CVSSRating(version: "3.1", vector: "v31s", score: 5.0, type: "Secondary", source: "cna"),
                CVSSRating(version: "3.1", vector: "v31p", score: 9.8, type: "Primary", source: "nvd"),
                CVSSRating(version: "2.0", vector: "v2", score: 10.0, type: "Primary", source: "nvd"),
            ])
        let ghsa = CVSSRating(version: "3.1", vector: "ghsa", score: 6.1, type: "Primary", source: "GHSA")
        let d = SeverityRule.choose(distribution: .low, advisoryCVSS: ghsa, nvd: nvd)
        #expect(d == SeverityChoice(severity: .low, source: .distribution, cvss: ghsa))
        #expect(SeverityRule.choose(distribution: .unknown, advisoryCVSS: ghsa, nvd: nvd) == SeverityChoice(severity: .medium, source: .advisory, cvss: ghsa))
        let n = SeverityRule.choose(distribution: nil, advisoryCVSS: nil, nvd: nvd)
        #expect(n.source == .nvd && n.severity == .critical && n.cvss?.vector == "v31p")
        #expect(SeverityRule.choose(distribution: nil, advisoryCVSS: nil, nvd: nil) == SeverityChoice(severity: .unknown, source: .none, cvss: nil))
        let v2only = NVDRecord(id: "CVE-2", published: nil, lastModified: nil, status: nil, description: nil, cwes: [],
            ratings: [CVSSRating(version: "2.0", vector: "v2", score: 9.3, type: "Primary", source: "nvd")])
        #expect(SeverityRule.choose(distribution: nil, advisoryCVSS: nil, nvd: v2only).severity == .high)
        // A word rating of the advisory (no CVSS) beats NVD, and shows NVD's CVSS beside it.
        let word = SeverityRule.choose(distribution: nil, advisory: .medium, advisoryCVSS: nil, nvd: nvd)
        #expect(word.severity == .medium && word.source == .advisory && word.cvss?.vector == "v31p")
    }

    @Test func priorityRuleEveryBranch() {
        typealias Row = (kev: Bool, pct: Double?, cvss: Double?, sev: Severity, fix: Bool, expected: Priority)
        let rows: [Row] = [
            (true, nil, nil, .unknown, false, .p1),  // KEV, no fix: still P1
            (true, 0.1, 2.0, .low, true, .p1),
            (false, 0.95, nil, .unknown, false, .p2),  // EPSS percentile at the bound
            (false, 0.949, nil, .low, false, .p5),
            (false, nil, 9.0, .critical, true, .p2),  // CVSS 9.0 with a fix
            (false, nil, 9.8, .critical, false, .p5),  // … without a fix: P5
            (false, nil, 8.9, .high, true, .p3),
            (false, nil, nil, .critical, true, .p3),
            (false, nil, 5.0, .medium, true, .p4),
            (false, nil, nil, .unknown, true, .p4),
            (false, nil, nil, .high, false, .p5),
        ]
        for r in rows {
            #expect(Priority.of(kev: r.kev, epssPercentile: r.pct, cvssScore: r.cvss, severity: r.sev, hasFix: r.fix) == r.expected, "\(r)")
        }
        #expect(Priority.p1 < Priority.p5)
    }
}
