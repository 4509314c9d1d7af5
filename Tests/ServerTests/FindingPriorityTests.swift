import Cron
import Foundation
import GRDB
import HTTPTypes
import Scan
import Server
import Store
import Testing

/// Priority data in the API: the stored columns (and their backfill from findings stored
/// before them), the filters and default order of the findings and vulnerability lists, and
/// the fix groups.
@Suite struct FindingPriorityTests {
    static func finding(
        _ id: String, _ pkg: String = "openssl", version: String = "1.0", type: PackageType = .deb, severity: Severity = .medium,
        fixed: String? = "1.1", kev: Bool = false, epss: (Double, Double)? = nil, cvss: CVSSRating? = nil,
        source: SeveritySource? = .distribution, computePriority: Bool = true
    ) -> Finding {
        var f = Finding(
            vulnerabilityId: id, aliases: [], severity: severity, cvss: cvss?.score,
            package: FindingPackage(name: pkg, version: version, type: type, purl: "pkg:\(type.rawValue)/\(pkg)@\(version)", layer: nil),
            fixedVersion: fixed, fixState: fixed == nil ? .notFixed : .fixed, title: "t \(id)", references: [], sources: ["native"],
            advisoryIds: [id], severitySource: source)
        f.cvssRating = cvss
        f.kev = kev ? KEVInfo(dateAdded: "2099-01-15", dueDate: "2099-02-05", ransomware: true, requiredAction: nil) : nil
        f.epss = epss.map { EPSSInfo(score: $0.0, percentile: $0.1, date: "2099-02-01") }
        if computePriority {
            f.priority = Priority.of(
                kev: kev, epssPercentile: epss?.1, cvssScore: cvss?.score, severity: severity, hasFix: fixed != nil)
        }
        return f
    }

    /// An image with one tag whose latest scan holds `findings`, in registry `registry`.
    static func seedImage(
        _ db: Database, org: String, registry: String, image: String, findings: [Finding], now: Date = Date()
    ) throws {
        let ts = Timestamp.format(now)
        try db.execute(
            sql: """
                INSERT INTO images (id, org_id, registry_id, name, full_name, latest_tag, created_at, updated_at)
                VALUES (?, ?, ?, ?, ?, '1.0', ?, ?)
                """,
            arguments: [image, org, registry, image, "reg.example.test/\(image)", ts, ts])
        let scan = "scn_\(image)"
        try db.execute(
            sql: """
                INSERT INTO scans (id, org_id, registry_id, image_id, repository, tag, reference, digest, manifest_digest, status,
                    trigger, queued_at, finished_at) VALUES (?, ?, ?, ?, ?, '1.0', ?, 'sha256:aa', 'sha256:aa', 'completed', 'manual', ?, ?)
                """,
            arguments: [scan, org, registry, image, image, "reg.example.test/\(image):1.0", ts, ts])
        try db.execute(
            sql: "INSERT INTO image_tags (image_id, name, digest, first_seen_at, updated_at, last_scan_id) VALUES (?, '1.0', 'sha256:aa', ?, ?, ?)",
            arguments: [image, ts, ts, scan])
        try ScanRepository.insertFindings(findings, scanId: scan, orgId: org, now: ts, in: db)
    }

    static let v31 = CVSSRating(version: "3.1", vector: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", score: 9.8, type: "Primary", source: "nvd@nist.gov")

    // MARK: storage

    /// A data directory of the previous layout, holding findings stored without the priority
    /// columns (and without priority in their JSON), opens with them filled in.
    @Test func theMigrationBackfillsStoredFindings() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hg-prio-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("app.db").path
        let old = [
            Self.finding("CVE-1", severity: .high, computePriority: false),
            Self.finding("CVE-2", severity: .low, fixed: nil, computePriority: false),
            Self.finding("CVE-3", severity: .critical, cvss: Self.v31, source: nil, computePriority: false),
        ]
        do {
            let queue = try DatabaseQueue(path: path)
            try Migrations.migrator.migrate(queue, upTo: "cron.v2.scheduler")
            try queue.write { db in
                let ts = Timestamp.format(Date())
                try db.execute(sql: "INSERT INTO organizations (id, name, created_at) VALUES ('org_o', 'o', ?)", arguments: [ts])
                try db.execute(
                    sql: """
                        INSERT INTO registries (id, org_id, name, provider, url, scan_method, schedule, scanners, created_at, updated_at)
                        VALUES ('reg_o', 'org_o', 'r', 'DOCKER_REGISTRY', 'https://r.example.test', 'cloud', 'manual', '[]', ?, ?)
                        """, arguments: [ts, ts])
                try db.execute(
                    sql: """
                        INSERT INTO scans (id, org_id, registry_id, repository, reference, status, trigger, queued_at)
                        VALUES ('scn_o', 'org_o', 'reg_o', 'app', 'r.example.test/app:1', 'completed', 'manual', ?)
                        """, arguments: [ts])
                // Rows as the previous code wrote them: its columns only, JSON without the new keys.
                for (i, f) in old.enumerated() {
                    var object = try JSONSerialization.jsonObject(with: try JSONEncoder().encode(f)) as? [String: Any] ?? [:]
                    for k in ["priority", "kev", "epss", "cvssRating", "severitySource"] { object[k] = nil }
                    try db.execute(
                        sql: """
                            INSERT INTO findings (scan_id, seq, vulnerability_id, severity_rank, fixable, pkg_name, pkg_version, pkg_type, detail)
                            VALUES ('scn_o', ?, ?, ?, ?, 'openssl', '1.0', 'deb', ?)
                            """,
                        arguments: [i, f.vulnerabilityId, f.severity.storedRank, f.fixedVersion != nil,
                                    try JSONSerialization.data(withJSONObject: object)])
                }
                try db.execute(
                    sql: """
                        INSERT INTO findings (scan_id, seq, vulnerability_id, severity_rank, fixable, pkg_name, pkg_version, pkg_type, detail)
                        VALUES ('scn_o', 9, 'CVE-9', 1, 0, 'x', '1', 'deb', X'7B6E6F74')
                        """)
            }
            try queue.close()
        }
        let app = try AppDatabase.open(path: path)
        let rows = try app.writer.read { db in
            try Row.fetchAll(db, sql: "SELECT vulnerability_id, priority_rank, kev, fix_version, detail FROM findings ORDER BY seq")
        }
        #expect(rows.map { $0["priority_rank"] as Int } == [3, 5, 2, 5])
        #expect(rows.map { $0["fix_version"] as String? } == ["1.1", nil, "1.1", nil])
        #expect(rows.allSatisfy { ($0["kev"] as Int) == 0 })
        // The JSON carries the priority too, so the API shows it; CVSS 9.8 with a fix is P2
        // from the score the old JSON kept.
        let decoded = try rows.prefix(3).map { try JSONDecoder().decode(Finding.self, from: $0["detail"] as Data) }
        #expect(decoded.map(\.priority) == [.p3, .p5, .p2])
        #expect(rows[3]["detail"] as Data == Data("{not".utf8))
    }

    // MARK: lists

    @Test func findingsAndVulnerabilitiesAreFilteredAndOrderedByPriority() async throws {
        var f = try await Fixture.make()
        try await f.populate()
        let fx = f
        let findings = [
            Self.finding("CVE-A-MED-FIX", severity: .medium),  // P4
            Self.finding("CVE-B-KEV", severity: .low, fixed: nil, kev: true),  // P1
            Self.finding("CVE-C-EPSS", severity: .low, fixed: nil, epss: (0.6, 0.97), source: .nvd),  // P2
            Self.finding("CVE-D-HIGH", severity: .high, epss: (0.1, 0.5)),  // P3
            Self.finding("CVE-E-NOFIX", severity: .critical, fixed: nil, cvss: Self.v31, source: .advisory),  // P5
        ]
        try await fx.services.db.writer.write { db in
            try Self.seedImage(db, org: fx.orgA, registry: fx.registryA, image: "img_one", findings: findings)
        }
        try await fx.test { c in
            let key = fx.keys[.viewer]!
            func ids(_ path: String) async throws -> [String] {
                let r = try await c.json(.get, path, key: key)
                #expect(r.status == .ok, "\(path): \(r.raw)")
                return (r.body["data"] as? [[String: Any]] ?? []).map { $0["vulnerabilityId"] as? String ?? "" }
            }
            let base = "/api/scans/scn_img_one/findings"
            #expect(try await ids(base) == ["CVE-B-KEV", "CVE-C-EPSS", "CVE-D-HIGH", "CVE-A-MED-FIX", "CVE-E-NOFIX"])
            #expect(try await ids(base + "?sort=severity").first == "CVE-E-NOFIX")
            #expect(try await ids(base + "?sort=epss") == ["CVE-C-EPSS", "CVE-D-HIGH", "CVE-B-KEV", "CVE-A-MED-FIX", "CVE-E-NOFIX"])
            #expect(try await ids(base + "?kev=true") == ["CVE-B-KEV"])
            #expect(try await ids(base + "?kev=false").count == 4)
            #expect(try await ids(base + "?epssMin=0.5") == ["CVE-C-EPSS"])
            #expect(try await ids(base + "?priority=P3,p4") == ["CVE-D-HIGH", "CVE-A-MED-FIX"])
            #expect(try await ids(base + "?severitySource=nvd,advisory") == ["CVE-C-EPSS", "CVE-E-NOFIX"])

            let one = try await c.json(.get, base + "?priority=P5", key: key)
            let row = try #require((one.body["data"] as? [[String: Any]])?.first)
            #expect(row["priority"] as? String == "P5")
            #expect(row["severitySource"] as? String == "advisory")
            let cvss = try #require(row["cvss"] as? [String: Any])
            #expect(cvss["version"] as? String == "3.1" && cvss["score"] as? Double == 9.8 && cvss["source"] as? String == "nvd@nist.gov")
            #expect(row["kev"] is NSNull && row["epss"] is NSNull)
            let kevRow = try #require(((try await c.json(.get, base + "?kev=true", key: key)).body["data"] as? [[String: Any]])?.first)
            #expect((kevRow["kev"] as? [String: Any])?["dateAdded"] as? String == "2099-01-15")
            #expect((kevRow["kev"] as? [String: Any])?["ransomware"] as? Bool == true)

            // The vulnerability list: the same order by default, the same filters.
            #expect(try await ids("/api/vulnerabilities") == ["CVE-B-KEV", "CVE-C-EPSS", "CVE-D-HIGH", "CVE-A-MED-FIX", "CVE-E-NOFIX"])
            #expect(try await ids("/api/vulnerabilities?kev=true&severitySource=distribution") == ["CVE-B-KEV"])
            #expect(try await ids("/api/vulnerabilities?priority=P2") == ["CVE-C-EPSS"])
            let vrow = try #require(((try await c.json(.get, "/api/vulnerabilities?priority=P2", key: key)).body["data"] as? [[String: Any]])?.first)
            #expect((vrow["epss"] as? [String: Any])?["percentile"] as? Double == 0.97 && vrow["priority"] as? String == "P2")

            // Bad values: one issue per parameter.
            for path in [base, "/api/vulnerabilities", "/api/fixes"] {
                let bad = try await c.json(.get, path + "?kev=maybe&epssMin=2&priority=P9&severitySource=vendor", key: key)
                #expect(bad.status == .badRequest && bad.errorCode == "VALIDATION_ERROR")
                #expect(Set(bad.issuePaths) == ["kev", "epssMin", "priority", "severitySource"], "\(path): \(bad.raw)")
            }
        }
    }

    // MARK: fix groups

    @Test func fixGroupsCloseTheMostUrgentFirstAndRespectTriageAndScope() async throws {
        var f = try await Fixture.make()
        try await f.populate()
        let fx = f
        // Two images in registry A, one in B (another organization's registry is invisible anyway).
        try await fx.services.db.writer.write { db in
            try Self.seedImage(db, org: fx.orgA, registry: fx.registryA, image: "img_a1", findings: [
                Self.finding("CVE-1", "openssl", fixed: "3.0.15", kev: true),  // P1
                Self.finding("CVE-2", "openssl", fixed: "3.0.15"),  // P4
                Self.finding("CVE-3", "zlib", severity: .high, fixed: "1.3"),  // P3
                Self.finding("CVE-4", "curl", severity: .high, fixed: "8.5"),  // P3
                Self.finding("CVE-5", "curl", version: "1.1", severity: .high, fixed: "8.5"),  // P3
                Self.finding("CVE-6", "libx", fixed: nil),  // no fix: no group
            ].map { $0 })
            try Self.seedImage(db, org: fx.orgA, registry: fx.registryA, image: "img_a2", findings: [
                Self.finding("CVE-3", "zlib", severity: .high, fixed: "1.3"),
                Self.finding("CVE-7", "bash", severity: .low, fixed: "5.2"),  // P4
            ])
            try Self.seedImage(db, org: fx.orgA, registry: fx.sensorRegistry, image: "img_s", findings: [
                Self.finding("CVE-8", "glibc", severity: .critical, fixed: "2.36-9", cvss: Self.v31),  // P2
            ])
        }
        try await fx.test { c in
            func groups(_ path: String, key: String? = nil) async throws -> [[String: Any]] {
                let r = try await c.json(.get, path, key: key ?? fx.keys[.viewer]!)
                #expect(r.status == .ok, "\(path): \(r.raw)")
                return r.body["data"] as? [[String: Any]] ?? []
            }
            func names(_ g: [[String: Any]]) -> [String] { g.map { "\($0["package"] as? String ?? "")@\($0["fixedVersion"] as? String ?? "")" } }
            let all = try await groups("/api/fixes")
            // Best priority first, then more findings (zlib: 2 images, curl: 2 findings in 1; a tie broken by KEV, then name).
            #expect(names(all) == ["openssl@3.0.15", "glibc@2.36-9", "curl@8.5", "zlib@1.3", "bash@5.2"])
            let openssl = all[0]
            #expect(openssl["findings"] as? Int == 2 && openssl["kev"] as? Int == 1 && openssl["images"] as? Int == 1)
            #expect(openssl["bestPriority"] as? String == "P1" && openssl["vulnerabilityIds"] as? [String] == ["CVE-1", "CVE-2"])
            #expect(openssl["vulnerabilityCount"] as? Int == 2 && openssl["type"] as? String == "deb")
            let zlib = try #require(all.first { $0["package"] as? String == "zlib" })
            #expect(zlib["images"] as? Int == 2 && zlib["findings"] as? Int == 2 && zlib["highestSeverity"] as? String == "HIGH")

            #expect(names(try await groups("/api/fixes?kev=true")) == ["openssl@3.0.15"])
            #expect(names(try await groups("/api/fixes?priority=P3")) == ["curl@8.5", "zlib@1.3"])
            #expect(names(try await groups("/api/fixes?registryId=\(fx.sensorRegistry)")) == ["glibc@2.36-9"])
            #expect(names(try await groups("/api/images/img_a2/fixes")) == ["zlib@1.3", "bash@5.2"])
            let page = try await c.json(.get, "/api/fixes?limit=2&page=2", key: fx.keys[.viewer]!)
            #expect(names(page.body["data"] as? [[String: Any]] ?? []) == ["curl@8.5", "zlib@1.3"])
            #expect((page.body["meta"] as? [String: Any])?["total"] as? Int == 5)

            // WONT_FIX on the KEV vulnerability: it no longer counts in openssl's group.
            let t = try await c.json(.put, "/api/vulnerabilities/CVE-1/triage", key: fx.keys[.developer]!, body: ["status": "WONT_FIX"])
            #expect(t.status == .ok, "\(t.raw)")
            let after = try await groups("/api/fixes")
            // openssl now closes one P4 finding, as bash does: the name breaks the tie.
            #expect(names(after) == ["glibc@2.36-9", "curl@8.5", "zlib@1.3", "bash@5.2", "openssl@3.0.15"])

            // A key scoped to registry A sees registry A's images only, and not the sensor registry's.
            let made = try await c.json(
                .post, "/api/api-keys", key: fx.keys[.owner]!, body: ["name": "scoped", "role": "viewer", "registryId": fx.registryA])
            let scoped = made.data["key"] as? String ?? ""
            #expect(!names(try await groups("/api/fixes", key: scoped)).contains("glibc@2.36-9"))
            #expect(try await groups("/api/fixes?registryId=\(fx.sensorRegistry)", key: scoped).isEmpty)
            let other = try await c.json(.get, "/api/images/img_s/fixes", key: scoped)
            #expect(other.status == .notFound)
            let unknown = try await c.json(.get, "/api/images/img_nope/fixes", key: fx.keys[.viewer]!)
            #expect(unknown.status == .notFound)
            // Another organization sees nothing of these.
            #expect(try await groups("/api/fixes", key: fx.adminB).isEmpty)
        }
    }
}
