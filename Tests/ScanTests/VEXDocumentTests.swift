import Foundation
import Testing

@testable import Scan

/// The VEX reader the server's `POST /api/vex` and `scan --vex` share: both formats, every
/// status mapping, every refusal, and the product/subcomponent matching.
@Suite struct VEXDocumentTests {
    static let product = "pkg:oci/web@sha256%3Aabc?repository_url=127.0.0.1:5000/apps/web&tag=1.0"

    static func json(_ o: Any) -> Data { try! JSONSerialization.data(withJSONObject: o, options: .fragmentsAllowed) }

    static func openvex(_ statements: [[String: Any]], context: String = VEXDocument.openVEXContext) -> [String: Any] {
        ["@context": context, "@id": "https://vex.test/1", "author": "Team", "timestamp": "2026-01-01T00:00:00Z", "version": 1,
         "statements": statements]
    }

    static func statement(_ status: String, _ extra: [String: Any] = [:]) -> [String: Any] {
        var s: [String: Any] = ["vulnerability": ["name": "CVE-1", "aliases": ["GHSA-1"]], "products": [["@id": product]], "status": status]
        s.merge(extra) { _, b in b }
        return s
    }

    static func issues(_ o: Any) -> [VEXIssue] {
        do {
            _ = try VEXDocument.parse(json(o))
            return []
        } catch {
            return error.issues
        }
    }

    @Test func openVEXStatusesAndFields() throws {
        let doc = try VEXDocument.parse(Self.json(Self.openvex([
            Self.statement("not_affected", ["justification": "inline_mitigations_already_exist", "status_notes": "why"]),
            Self.statement("not_affected", ["impact_statement": "not reachable"]),
            Self.statement("affected", ["action_statement": "upgrade"]),
            Self.statement("fixed"),
            Self.statement("under_investigation", ["status_notes": "looking"]),
            ["vulnerability": ["name": "CVE-2"], "status": "fixed",
             "products": [["identifiers": ["purl": Self.product], "subcomponents": [["@id": "pkg:deb/debian/tar@1.0"]]]]],
        ])))
        #expect(doc.format == .openvex && doc.id == "https://vex.test/1" && doc.author == "Team")
        let s = doc.statements
        #expect(s.map(\.status) == [.notAffected, .notAffected, .affected, .fixed, .underInvestigation, .fixed])
        #expect(s[0].justification == .inlineMitigationsAlreadyExist && s[0].note == "why")
        #expect(s[1].justification == nil && s[1].note == "not reachable")
        #expect(s[2].note == "upgrade" && !s[2].excepts)
        #expect(s[3].excepts && s[0].excepts && !s[4].excepts && s[4].note == "looking")
        #expect(s[0].aliases == ["GHSA-1"] && s[0].products == [Self.product] && s[0].path == "/statements/0")
        #expect(s[5].products == [Self.product] && s[5].subcomponents == ["pkg:deb/debian/tar@1.0"])
    }

    @Test func cycloneDXStatesJustificationsAndRefs() throws {
        let states = ["not_affected", "false_positive", "resolved", "resolved_with_pedigree", "exploitable", "in_triage"]
        let doc = try VEXDocument.parse(Self.json([
            "bomFormat": "CycloneDX", "specVersion": "1.6", "serialNumber": "urn:uuid:1",
            "metadata": ["authors": [["name": "Ann"]], "component": ["bom-ref": "img", "purl": Self.product, "name": "web", "type": "container"]],
            "components": [["bom-ref": "tar", "purl": "pkg:deb/debian/tar@1", "name": "tar", "type": "library"]],
            "vulnerabilities": states.enumerated().map { i, st -> [String: Any] in
                ["id": "CVE-\(i)", "analysis": ["state": st, "justification": "code_not_reachable", "detail": "d\(i)", "response": ["update"]],
                 "affects": [["ref": i == 0 ? "tar" : "img"]]]
            },
        ]))
        #expect(doc.format == .cyclonedx && doc.id == "urn:uuid:1" && doc.author == "Ann")
        #expect(doc.statements.map(\.status) == [.notAffected, .notAffected, .fixed, .fixed, .affected, .underInvestigation])
        // An analysis about a package of the image: the image is the product, the package a subcomponent.
        #expect(doc.statements[0].products == [Self.product] && doc.statements[0].subcomponents == ["pkg:deb/debian/tar@1"])
        #expect(doc.statements[1].products == [Self.product] && doc.statements[1].subcomponents.isEmpty)
        #expect(doc.statements[0].justification == .vulnerableCodeNotInExecutePath && doc.statements[0].note == "d0")
        #expect(doc.statements[4].note == "d4")
        for j in VEXJustification.allCases { #expect(VEXJustification(cycloneDX: j.cycloneDX) == j) }
        for v in VEXJustification.cycloneDXValues { #expect(VEXJustification(cycloneDX: v) != nil) }
    }

    @Test func everyBadDocumentIsRefusedWithOneIssuePerProblem() {
        // Not JSON, not an object, neither format.
        #expect(Self.issues("x").map(\.path) == [""])
        #expect((try? VEXDocument.parse(Data("{".utf8))) == nil)
        #expect(Self.issues(["a": 1]).first?.message.contains("OpenVEX") == true)
        // Unknown versions.
        #expect(Self.issues(Self.openvex([Self.statement("fixed")], context: "https://openvex.dev/ns/v0.3.0")).map(\.path) == ["/@context"])
        #expect(Self.issues(Self.openvex([Self.statement("fixed")], context: "https://example.test/ns")).map(\.path) == ["/@context"])
        #expect(Self.issues(["bomFormat": "CycloneDX", "specVersion": "2.0", "vulnerabilities": []]).map(\.path) == ["/specVersion"])
        #expect(Self.issues(["bomFormat": "SPDX", "specVersion": "1.6"]).map(\.path) == ["/bomFormat"])
        // Deeply nested, whatever the member.
        var deep: Any = ["x": 1]
        for _ in 0..<40 { deep = ["x": deep] }
        var nested = Self.openvex([Self.statement("fixed")])
        nested["tooling"] = deep
        #expect(Self.issues(nested).first?.message.contains("deep") == true)
        // Document members.
        var doc = Self.openvex([])
        doc.removeValue(forKey: "author")
        doc["version"] = "1"
        #expect(Set(Self.issues(doc).map(\.path)) == ["/author", "/version", "/statements"])
        // Statement members: each problem at its own path.
        var badDoc = Self.openvex([
            Self.statement("not_affected"),
            Self.statement("affected"),
            Self.statement("exploited"),
            Self.statement("not_affected", ["justification": "trust_me"]),
            ["vulnerability": ["name": ""], "status": "fixed", "products": [["hashes": [:]]]],
            ["status": "fixed"],
        ])
        badDoc["statements"] = (badDoc["statements"] as! [Any]) + ["x"]
        let bad = Self.issues(badDoc)
        #expect(bad.map(\.path) == [
            "/statements/0/justification", "/statements/1/action_statement", "/statements/2/status", "/statements/3/justification",
            "/statements/4/vulnerability/name", "/statements/4/products/0", "/statements/5/vulnerability", "/statements/5/products",
            "/statements/6",
        ])
        // CycloneDX problems.
        let cdx = Self.issues([
            "bomFormat": "CycloneDX", "specVersion": "1.6",
            "vulnerabilities": [
                ["id": "CVE-1"],
                ["id": "CVE-2", "analysis": ["state": "maybe"], "affects": [["ref": "pkg:oci/a"]]],
                ["id": "CVE-3", "analysis": ["state": "not_affected", "justification": "nope"], "affects": [["ref": "pkg:oci/a"]]],
                ["analysis": ["state": "resolved"], "affects": [[:]]],
                ["id": "CVE-5", "analysis": ["state": "resolved"]],
            ],
        ])
        #expect(cdx.map(\.path) == [
            "/vulnerabilities/0/analysis", "/vulnerabilities/1/analysis/state", "/vulnerabilities/2/analysis/justification",
            "/vulnerabilities/3/id", "/vulnerabilities/3/affects/0/ref", "/vulnerabilities/3/affects", "/vulnerabilities/4/affects",
        ])
        #expect(Self.issues(["bomFormat": "CycloneDX", "specVersion": "1.6"]).map(\.path) == ["/vulnerabilities"])
    }

    @Test func ociPurlsNameRepositoriesAndDigests() throws {
        let p = try #require(OCIProduct(purl: Self.product))
        #expect(p.name == "web" && p.digest == "sha256:abc" && p.host == "127.0.0.1:5000" && p.repository == "apps/web" && p.tag == "1.0")
        #expect(p.matches(host: "127.0.0.1:5000", repository: "apps/web", digest: "sha256:abc"))
        #expect(!p.matches(host: "127.0.0.1:5000", repository: "apps/web", digest: "sha256:def"))
        #expect(!p.matches(host: "127.0.0.1:5001", repository: "apps/web", digest: "sha256:abc"))
        #expect(!p.matches(host: "127.0.0.1:5000", repository: "apps/api", digest: "sha256:abc"))
        let hub = try #require(OCIProduct(purl: "pkg:oci/debian?repository_url=index.docker.io/library/debian"))
        #expect(hub.host == "docker.io" && hub.matches(host: "registry-1.docker.io", repository: "library/debian", digest: nil))
        let bare = try #require(OCIProduct(purl: "pkg:oci/web"))
        #expect(bare.matches(host: nil, repository: "team/web", digest: "sha256:1") && !bare.matches(host: nil, repository: "team/api", digest: nil))
        #expect(OCIProduct(purl: "pkg:deb/debian/tar") == nil)
        let written = OCIProduct.purl(host: "127.0.0.1:5000", repository: "apps/web", digest: "sha256:abc")
        #expect(written == "pkg:oci/web@sha256%3Aabc?repository_url=127.0.0.1:5000/apps/web")
        #expect(OCIProduct(purl: written) == OCIProduct(name: "web", digest: "sha256:abc", host: "127.0.0.1:5000", repository: "apps/web"))
        #expect(VEXPurl.matches(subcomponents: ["pkg:deb/debian/tar@1.0?arch=amd64"], packagePurl: "pkg:deb/debian/tar@1.34?distro=debian-12", packageName: "tar"))
        #expect(!VEXPurl.matches(subcomponents: ["pkg:deb/debian/gzip"], packagePurl: "pkg:deb/debian/tar@1.34", packageName: "tar"))
        #expect(VEXPurl.matches(subcomponents: [], packagePurl: nil, packageName: "tar"))
    }

    @Test func theFilterExceptsNotAffectedAndFixedForThisImageOnly() throws {
        func finding(_ id: String, _ name: String, aliases: [String] = []) -> Finding {
            Finding(
                vulnerabilityId: id, aliases: aliases, severity: .high, cvss: nil,
                package: FindingPackage(name: name, version: "1", type: .deb, purl: "pkg:deb/debian/\(name)@1", layer: nil),
                fixedVersion: nil, fixState: .notFixed, title: nil, references: [], sources: [], advisoryIds: [])
        }
        let findings = [finding("CVE-1", "tar"), finding("CVE-2", "gzip", aliases: ["GHSA-2"]), finding("CVE-3", "zlib"), finding("CVE-4", "bash")]
        let doc = try VEXDocument.parse(Self.json(Self.openvex([
            Self.statement("not_affected", ["justification": "component_not_present"]),
            ["vulnerability": ["name": "GHSA-2"], "products": [["@id": "pkg:oci/web?repository_url=127.0.0.1:5000/apps/web",
                                                              "subcomponents": [["@id": "pkg:deb/debian/gzip"]]]], "status": "fixed"],
            ["vulnerability": ["name": "CVE-3"], "products": [["@id": "pkg:oci/other?repository_url=127.0.0.1:5000/apps/other"]], "status": "fixed"],
            // A package product (no pkg:oci): about that package in any image; a later statement wins.
            ["vulnerability": ["name": "CVE-4"], "products": [["@id": "pkg:deb/debian/bash"]], "status": "fixed"],
            ["vulnerability": ["name": "CVE-4"], "products": [["@id": "pkg:deb/debian/bash"]], "status": "under_investigation"],
        ])))
        let filter = VEXFilter(documents: [doc])
        let r = filter.apply(to: findings, host: "127.0.0.1:5000", repository: "apps/web", digests: ["sha256:abc"])
        #expect(r.kept.map(\.vulnerabilityId) == ["CVE-3", "CVE-4"] && r.suppressed == 2)
        // Another digest: the digest-pinned statement no longer applies; the repository-wide one does.
        let other = filter.apply(to: findings, host: "127.0.0.1:5000", repository: "apps/web", digests: ["sha256:fff"])
        #expect(other.kept.map(\.vulnerabilityId) == ["CVE-1", "CVE-3", "CVE-4"] && other.suppressed == 1)
    }
}
