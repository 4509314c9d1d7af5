import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Server
import Store
import Testing

/// `/api/policies`: the exact JSON round trip, validation with one issue per bad field, audit.
@Suite struct PolicyRouteTests {
    @Test func createReadUpdateDeleteRoundTripTheIssuesJSON() async throws {
        var f = try await Fixture.make()
        try await f.populate()
        let fx = f
        try await f.test { c in
            let admin = fx.keys[.admin]!
            let rules: [[String: Any]] = [
                ["type": "severity", "level": "HIGH", "fixableOnly": false], ["type": "kev"], ["type": "epss", "percentile": 0.9],
                ["type": "sla", "severity": "CRITICAL", "days": 7], ["type": "package", "purl": "pkg:pypi/pyyaml", "versions": "<5.4"],
                ["type": "count", "severity": "HIGH", "max": 10],
            ]
            let made = try await c.json(.post, "/api/policies", key: admin, body: [
                "name": "ship gate", "action": "fail", "scope": ["registryIds": [fx.registryA], "repositories": ["team/*"], "tags": ["release-*"]],
                "rules": rules,
            ])
            #expect(made.status == .created, "\(made.raw)")
            let id = made.data["id"] as? String ?? ""
            #expect(id.hasPrefix("pol"))
            #expect(made.data["enabled"] as? Bool == true)
            let got = try await c.json(.get, "/api/policies/\(id)", key: fx.keys[.viewer]!)
            #expect(got.status == .ok)
            let gotRules = got.data["rules"] as? [[String: Any]] ?? []
            #expect(gotRules.count == 6)
            #expect(gotRules.map { $0["type"] as? String ?? "" } == ["severity", "kev", "epss", "sla", "package", "count"])
            #expect(gotRules[4]["versions"] as? String == "<5.4")
            #expect(gotRules[3]["days"] as? Int == 7)
            let scope = got.data["scope"] as? [String: Any] ?? [:]
            #expect(scope["repositories"] as? [String] == ["team/*"])
            #expect(scope["tags"] as? [String] == ["release-*"])

            let dup = try await c.json(.post, "/api/policies", key: admin, body: ["name": "ship gate", "action": "warn", "rules": [["type": "kev"]]])
            #expect(dup.status == .conflict)

            let updated = try await c.json(.put, "/api/policies/\(id)", key: admin, body: ["action": "warn", "enabled": false])
            #expect(updated.status == .ok)
            #expect(updated.data["action"] as? String == "warn")
            #expect((updated.data["rules"] as? [Any])?.count == 6)

            let list = try await c.json(.get, "/api/policies", key: fx.keys[.viewer]!)
            #expect((list.body["data"] as? [Any])?.count == 1)

            #expect(try await c.json(.delete, "/api/policies/\(id)", key: admin).status == .ok)
            #expect(try await c.json(.get, "/api/policies/\(id)", key: admin).status == .notFound)

            let log = try await c.json(.get, "/api/audit-log", key: fx.keys[.auditor]!)
            let actions = (log.body["data"] as? [[String: Any]] ?? []).compactMap { $0["action"] as? String }
            #expect(actions.contains("policy.create") && actions.contains("policy.update") && actions.contains("policy.delete"))
        }
    }

    @Test func badPoliciesAnswerOneIssuePerBadField() async throws {
        var f = try await Fixture.make()
        try await f.populate()
        let fx = f
        try await f.test { c in
            let admin = fx.keys[.admin]!
            let unknownRule = try await c.json(.post, "/api/policies", key: admin, body: [
                "name": "x", "action": "fail", "rules": [["type": "kev"], ["type": "cvss", "min": 9]],
            ])
            #expect(unknownRule.status == .badRequest)
            #expect(unknownRule.errorCode == "VALIDATION_ERROR")
            #expect(unknownRule.issuePaths == ["rules[1].type"])
            #expect(unknownRule.issues.first?["message"]?.contains("cvss") == true)

            let bad = try await c.json(.post, "/api/policies", key: admin, body: [
                "name": "", "action": "block", "colour": "red", "scope": ["tags": ["[a-"], "owner": "me"],
                "rules": [
                    ["type": "severity", "level": "SEVERE"], ["type": "epss", "percentile": 2], ["type": "sla", "severity": "HIGH", "days": 1.5],
                    ["type": "package", "purl": "pkg:pypi/pyyaml@5.3"], ["type": "package", "purl": "pkg:pypi/pyyaml", "versions": "~5"],
                    ["type": "count", "severity": "HIGH"], ["type": "kev", "extra": true], "kev",
                ],
            ])
            #expect(bad.status == .badRequest)
            #expect(Set(bad.issuePaths) == [
                "name", "action", "colour", "scope.owner", "scope.tags[0]", "rules[0].level", "rules[1].percentile", "rules[2].days",
                "rules[3].purl", "rules[4].versions", "rules[5].max", "rules[6].extra", "rules[7]",
            ], "\(bad.raw)")
            #expect(bad.issuePaths.count == 13)

            let missing = try await c.json(.post, "/api/policies", key: admin, body: ["name": "y"])
            #expect(Set(missing.issuePaths) == ["action", "rules"])
            let empty = try await c.json(.post, "/api/policies", key: admin, body: ["name": "y", "action": "fail", "rules": []])
            #expect(empty.issuePaths == ["rules"])
            let list = try await c.json(.get, "/api/policies", key: admin)
            #expect((list.body["data"] as? [Any])?.isEmpty == true)
        }
    }
}
