import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Server
import Store
import Testing

/// `POST /api/policy/check` in process: what it answers before any scan completes (the verdict
/// itself is tested end to end against the real registry).
@Suite struct CheckRouteTests {
    static let digest = "sha256:" + String(repeating: "ab", count: 32)

    @Test func anUnscannedDigestIsQueuedOnceAndAnswers202() async throws {
        var f = try await Fixture.make()
        try await f.populate()
        let fx = f
        try await f.test { c in
            let ci = fx.keys[.ci]!
            let image = "reg.example.test/team/app@\(Self.digest)"
            let first = try await c.json(.post, "/api/policy/check", key: ci, body: ["image": image])
            #expect(first.status == .accepted, "\(first.raw)")
            let scanId = first.data["scanId"] as? String ?? ""
            #expect(scanId.hasPrefix("scn"))
            #expect(first.data["digest"] as? String == Self.digest)
            #expect(first.data["status"] as? String == "queued")
            // A second check (waiting a second) finds the queued scan: no duplicate.
            let second = try await c.json(.post, "/api/policy/check", key: ci, body: ["image": image, "wait": 1])
            #expect(second.status == .accepted)
            #expect(second.data["scanId"] as? String == scanId)
            let scans = try await c.json(.get, "/api/scans", key: ci)
            #expect((scans.body["data"] as? [[String: Any]] ?? []).count == 1)
        }
    }

    @Test func badBodiesAnswerOneIssuePerBadField() async throws {
        var f = try await Fixture.make()
        try await f.populate()
        let fx = f
        try await f.test { c in
            let ci = fx.keys[.ci]!
            let bad = try await c.json(.post, "/api/policy/check", key: ci, body: ["image": "UPPER/Case::", "wait": -1, "colour": "red"])
            #expect(bad.status == .badRequest)
            #expect(bad.errorCode == "VALIDATION_ERROR")
            #expect(Set(bad.issuePaths) == ["image", "wait", "colour"])
            for wait: Any in [1.5, "10", 3601, true] {
                let r = try await c.json(.post, "/api/policy/check", key: ci, body: ["image": "reg.example.test/team/app:1", "wait": wait])
                #expect(r.issuePaths == ["wait"], "\(wait): \(r.raw)")
            }
            let missing = try await c.json(.post, "/api/policy/check", key: ci, body: [:])
            #expect(missing.issuePaths == ["image"])
        }
    }

    @Test func anUnknownHostIsRefusedLikeAScanRequest() async throws {
        var f = try await Fixture.make()
        try await f.populate()
        let fx = f
        try await f.test { c in
            let body: JSONBody = ["image": "elsewhere.example.test/team/app:1"]
            let check = try await c.json(.post, "/api/policy/check", key: fx.keys[.developer]!, body: body)
            let scan = try await c.json(.post, "/api/scans", key: fx.keys[.developer]!, body: body)
            #expect(check.status == .badRequest)
            #expect(check.status == scan.status)
            #expect(check.errorCode == scan.errorCode)
            #expect(check.issues == scan.issues)
        }
    }

    @Test func aSensorRegistrysUnsyncedTagIsARegistryError() async throws {
        var f = try await Fixture.make()
        try await f.populate()
        let fx = f
        try await f.test { c in
            let r = try await c.json(.post, "/api/policy/check", key: fx.keys[.ci]!, body: ["image": "internal.example.test/team/app:1"])
            #expect(r.status == .badGateway, "\(r.raw)")
            #expect(r.errorCode == "REGISTRY_ERROR")
        }
    }
}
