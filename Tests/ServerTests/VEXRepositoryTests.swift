import Cron
import Foundation
import GRDB
import HTTPTypes
import Scan
import Store
import Server
import Testing

/// NOT_AFFECTED is an exception like WONT_FIX in every stored count, and VEX import/export
/// read the right images and decisions (the repository, then the API on an in-memory server).
@Suite struct VEXRepositoryTests {
    static func seed(_ fx: Fixture) async throws {
        try await fx.services.db.writer.write { db in
            try FindingPriorityTests.seedImage(db, org: fx.orgA, registry: fx.registryA, image: "img_v1", findings: [
                FindingPriorityTests.finding("CVE-1", "openssl", severity: .high, fixed: "3.0.15"),
                FindingPriorityTests.finding("CVE-2", "zlib", severity: .medium, fixed: "1.3"),
            ])
            // The same repository name and digest in another registry of the organization.
            try FindingPriorityTests.seedImage(db, org: fx.orgA, registry: fx.sensorRegistry, image: "img_v2", findings: [
                FindingPriorityTests.finding("CVE-1", "openssl", severity: .high, fixed: "3.0.15"),
            ])
            try db.execute(sql: "UPDATE images SET name = 'team/app' WHERE id IN ('img_v1', 'img_v2')")
        }
    }

    static func high(_ db: Database, scan: String) throws -> Int {
        try Int.fetchOne(db, sql: "SELECT high FROM scans WHERE id = ?", arguments: [scan]) ?? -1
    }

    @Test func notAffectedIsAnExceptionUntilItExpires() async throws {
        var f = try await Fixture.make()
        try await f.populate()
        try await Self.seed(f)
        let fx = f
        let now = Date()
        try await fx.services.db.writer.write { db in
            try ScanRepository.recount(vulnerabilityId: "CVE-1", orgId: fx.orgA, now: now, in: db)
            #expect(try Self.high(db, scan: "scn_img_v1") == 1)
            try VulnerabilityRepository.upsertTriage(
                org: fx.orgA, vulnerabilityId: "CVE-1", imageId: "img_v1", status: "NOT_AFFECTED", note: nil,
                expiresAt: now.addingTimeInterval(3600), by: "test",
                vex: .init(justification: "component_not_present", sourceDocument: "urn:doc", sourceAuthor: "Ann", subcomponents: ["pkg:deb/openssl"]),
                now: now, in: db)
            try ScanRepository.recount(vulnerabilityId: "CVE-1", orgId: fx.orgA, now: now, in: db)
            #expect(try Self.high(db, scan: "scn_img_v1") == 0)
            #expect(try Self.high(db, scan: "scn_img_v2") == 1)  // an image-level decision
            #expect(try ScanRepository.suppressedVulnerabilities(orgId: fx.orgA, imageId: "img_v1", now: now, in: db) == ["CVE-1"])
            #expect(try ScanRepository.suppressedVulnerabilities(orgId: fx.orgA, imageId: "img_v2", now: now, in: db).isEmpty)
            // Housekeeping brings it back once expired, once.
            #expect(try Housekeeping.applyExpiredTriage(now: now.addingTimeInterval(1800), in: db) == 0)
            #expect(try Housekeeping.applyExpiredTriage(now: now.addingTimeInterval(7200), in: db) == 1)
            #expect(try Self.high(db, scan: "scn_img_v1") == 1)
            #expect(try Housekeeping.applyExpiredTriage(now: now.addingTimeInterval(7300), in: db) == 0)
        }
    }

    @Test func digestsAndDecisionsOfAnImage() async throws {
        var f = try await Fixture.make()
        try await f.populate()
        try await Self.seed(f)
        let fx = f
        let now = Date()
        try await fx.services.db.writer.write { db in
            #expect(try VEXRepository.images(withDigest: "sha256:aa", org: fx.orgA, in: db) == ["img_v1", "img_v2"])
            #expect(try VEXRepository.images(withDigest: "sha256:aa", org: fx.orgB, in: db).isEmpty)
            #expect(try VEXRepository.images(org: fx.orgA, registryId: fx.registryA, in: db).map(\.id) == ["img_v1"])
            try VulnerabilityRepository.upsertTriage(
                org: fx.orgA, vulnerabilityId: "CVE-1", imageId: nil, status: "WONT_FIX", note: "org", expiresAt: nil, by: "t", now: now, in: db)
            try VulnerabilityRepository.upsertTriage(
                org: fx.orgA, vulnerabilityId: "CVE-2", imageId: nil, status: "FIXED", note: "org", expiresAt: nil, by: "t", now: now, in: db)
            try VulnerabilityRepository.upsertTriage(
                org: fx.orgA, vulnerabilityId: "CVE-2", imageId: "img_v1", status: "NOT_AFFECTED", note: nil, expiresAt: nil, by: "t",
                vex: .init(justification: "vulnerable_code_not_present", sourceDocument: "urn:d", sourceAuthor: "Ann"), now: now, in: db)
            // A decision on a vulnerability the image never had is not the image's.
            try VulnerabilityRepository.upsertTriage(
                org: fx.orgA, vulnerabilityId: "CVE-9", imageId: nil, status: "FIXED", note: nil, expiresAt: nil, by: "t", now: now, in: db)
            let rows = try VEXRepository.decisions(imageId: "img_v1", org: fx.orgA, in: db)
            #expect(rows.map { $0["vulnerability_id"] as String } == ["CVE-1", "CVE-2"])
            #expect(rows.map { $0["status"] as String } == ["WONT_FIX", "NOT_AFFECTED"])
            #expect(rows[1]["justification"] as String? == "vulnerable_code_not_present")
            #expect(rows[1]["source_author"] as String? == "Ann" && rows[1]["source_document"] as String? == "urn:d")
            #expect(try VEXRepository.decisions(imageId: "img_v2", org: fx.orgA, in: db).map { $0["status"] as String } == ["WONT_FIX"])
        }
    }

    @Test func aScopedKeyImportsOnlyForItsRegistrysImages() async throws {
        var f = try await Fixture.make()
        try await f.populate()
        try await Self.seed(f)
        let fx = f
        try await f.test { c in
            let made = try await c.json(
                .post, "/api/api-keys", key: fx.keys[.owner]!, body: ["name": "scoped", "role": "developer", "registryId": fx.registryA])
            let scoped = made.data["key"] as? String ?? ""
            let doc: JSONBody = [
                "@context": "https://openvex.dev/ns/v0.2.0", "@id": "urn:uuid:4c0a3cf0-8c1b-4f49-9a31-6b0b6a2e3f7a", "author": "Ann",
                "timestamp": "2026-01-01T00:00:00Z", "version": 1,
                "statements": [["vulnerability": ["name": "CVE-1"], "products": [["@id": "pkg:oci/app@sha256%3Aaa"]],
                                "status": "not_affected", "justification": "component_not_present"]],
            ]
            let r = try await c.json(.post, "/api/vex", key: scoped, body: doc)
            #expect(r.status == .ok, "\(r.raw)")
            #expect(r.data["decisions"] as? Int == 1 && r.data["productsMatched"] as? Int == 1)
            let all = try await c.json(.post, "/api/vex", key: fx.keys[.developer]!, body: doc)
            #expect(all.data["decisions"] as? Int == 2, "\(all.raw)")
            // A statement naming another id with the finding's id as alias reaches the finding.
            let aliased: JSONBody = [
                "@context": "https://openvex.dev/ns/v0.2.0", "@id": "urn:uuid:5c0a3cf0-8c1b-4f49-9a31-6b0b6a2e3f7a", "author": "Ann",
                "timestamp": "2026-01-01T00:00:00Z", "version": 1,
                "statements": [["vulnerability": ["name": "GHSA-2222-3333-4444", "aliases": ["CVE-2", "CVE-404"]],
                                "products": [["@id": "pkg:oci/app?repository_url=reg.example.test/team/app"]], "status": "fixed"]],
            ]
            let a = try await c.json(.post, "/api/vex", key: fx.keys[.developer]!, body: aliased)
            #expect(a.data["decisions"] as? Int == 2 && a.data["productsMatched"] as? Int == 1, "\(a.raw)")
            let rows = try await c.json(.get, "/api/vulnerabilities?imageId=img_v1&status=FIXED", key: fx.keys[.viewer]!)
            #expect((rows.body["data"] as? [[String: Any]])?.map { $0["vulnerabilityId"] as? String } == ["CVE-2"], "\(rows.raw)")
            // Export: a scoped key reads its own image, not the other registry's.
            #expect(try await c.json(.get, "/api/images/img_v1/vex", key: scoped).status == .ok)
            #expect(try await c.json(.get, "/api/images/img_v2/vex", key: scoped).status == .notFound)
            let viewer = fx.keys[.viewer]!
            #expect(try await c.json(.get, "/api/images/img_v1/vex?format=cyclonedx", key: viewer).status == .ok)
            #expect(try await c.json(.get, "/api/images/img_v1/vex?format=spdx", key: viewer).status == .badRequest)
        }
    }
}
