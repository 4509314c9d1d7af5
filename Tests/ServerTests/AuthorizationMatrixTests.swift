import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Server
import Store
import Testing
import HummingbirdTesting
import GRDB

/// Every endpoint × every role × own/other organization × bad credentials.
@Suite struct AuthorizationMatrixTests {
    struct Endpoint: Sendable {
        var method: HTTPRequest.Method
        var path: String
        var min: Role
        var body: JSONBody?
        /// Only users (session or PAT) may call it; API keys get 403.
        var usersOnly = false
        /// Roles allowed beside those at or above `min` (the audit log's auditor).
        var alsoAllowed: Set<Role> = []
        /// Only a registry's sensor key may call it: every other credential gets 403.
        var sensorOnly = false
    }

    static func endpoints(registry: String) -> [Endpoint] {
        [
            Endpoint(method: .get, path: "/api/registries", min: .viewer),
            Endpoint(method: .post, path: "/api/registries", min: .admin, body: ["name": "n", "provider": "DOCKER_HUB"]),
            Endpoint(method: .get, path: "/api/registries/\(registry)", min: .viewer),
            Endpoint(method: .put, path: "/api/registries/\(registry)", min: .admin, body: ["scanning": ["schedule": "weekly"]]),
            Endpoint(method: .delete, path: "/api/registries/reg_doesnotexist", min: .admin),
            Endpoint(method: .post, path: "/api/registries/\(registry)/webhook-token", min: .admin),
            Endpoint(method: .post, path: "/api/registries/test-connection", min: .developer, body: ["registryId": "reg_doesnotexist"]),
            Endpoint(method: .post, path: "/api/registries/\(registry)/sync", min: .admin),
            Endpoint(method: .get, path: "/api/organization", min: .viewer),
            Endpoint(method: .get, path: "/api/api-keys", min: .admin),
            Endpoint(method: .post, path: "/api/api-keys", min: .admin, body: ["name": "k", "role": "viewer"]),
            Endpoint(method: .delete, path: "/api/api-keys/key_doesnotexist", min: .admin),
            Endpoint(method: .get, path: "/api/personal-access-tokens", min: .viewer, usersOnly: true),
            Endpoint(method: .post, path: "/api/personal-access-tokens", min: .viewer, body: ["name": "p"], usersOnly: true),
            Endpoint(method: .delete, path: "/api/personal-access-tokens/pat_doesnotexist", min: .viewer, usersOnly: true),
            Endpoint(method: .get, path: "/api/members", min: .admin),
            Endpoint(method: .post, path: "/api/members", min: .admin, body: ["username": "x", "password": "short", "role": "viewer"]),
            Endpoint(method: .put, path: "/api/members/usr_doesnotexist", min: .admin, body: ["name": "n"]),
            Endpoint(method: .delete, path: "/api/members/usr_doesnotexist", min: .admin),
            Endpoint(method: .post, path: "/api/auth/sign-out", min: .viewer),
            Endpoint(method: .get, path: "/api/jobs/job_doesnotexist", min: .viewer),
            Endpoint(method: .get, path: "/api/audit-log", min: .admin, alsoAllowed: [.auditor]),
            Endpoint(method: .get, path: "/api/images", min: .viewer),
            Endpoint(method: .post, path: "/api/registries/schedule-scans", min: .admin),
            Endpoint(method: .get, path: "/api/scans/scn_doesnotexist/sbom", min: .viewer),
            Endpoint(method: .get, path: "/api/images/img_doesnotexist", min: .viewer),
            Endpoint(method: .post, path: "/api/scans", min: .developer, body: ["image": "registry.example.com/team/app:1"]),
            Endpoint(method: .get, path: "/api/scans", min: .viewer),
            Endpoint(method: .get, path: "/api/scans/scn_doesnotexist", min: .viewer),
            Endpoint(method: .get, path: "/api/scans/scn_doesnotexist/status", min: .viewer),
            Endpoint(method: .post, path: "/api/scans/scn_doesnotexist/cancel", min: .developer),
            Endpoint(method: .delete, path: "/api/scans/scn_doesnotexist", min: .admin),
            Endpoint(method: .get, path: "/api/scans/scn_doesnotexist/findings", min: .viewer),
            Endpoint(method: .get, path: "/api/scans/scn_doesnotexist/packages", min: .viewer),
            Endpoint(method: .get, path: "/api/vulnerabilities", min: .viewer),
            Endpoint(method: .get, path: "/api/fixes", min: .viewer),
            Endpoint(method: .get, path: "/api/images/img_doesnotexist/fixes", min: .viewer),
            Endpoint(method: .get, path: "/api/reports/findings.csv", min: .viewer),
            Endpoint(method: .get, path: "/api/reports/images.csv", min: .viewer),
            Endpoint(method: .get, path: "/api/reports/vulnerabilities.csv", min: .viewer),
            Endpoint(method: .get, path: "/api/reports/fixes.csv", min: .viewer),
            Endpoint(method: .put, path: "/api/vulnerabilities/CVE-2099-1/triage", min: .developer, body: ["status": "OPEN"]),
            Endpoint(method: .post, path: "/api/vulnerabilities/CVE-2099-1/triage", min: .developer, body: ["status": "OPEN"]),
            Endpoint(method: .post, path: "/api/vex", min: .developer, body: [
                "@context": "https://openvex.dev/ns/v0.2.0", "@id": "urn:uuid:4c0a3cf0-8c1b-4f49-9a31-6b0b6a2e3f7a", "author": "matrix",
                "timestamp": "2026-01-01T00:00:00Z", "version": 1,
                "statements": [["vulnerability": ["name": "CVE-2099-1"], "products": [["@id": "pkg:oci/nothing?repository_url=nowhere.invalid/nothing"]],
                                "status": "under_investigation"]],
            ]),
            Endpoint(method: .get, path: "/api/images/img_doesnotexist/vex", min: .viewer),
            Endpoint(method: .get, path: "/api/vulndb", min: .viewer),
            Endpoint(method: .post, path: "/api/vulndb/rematch", min: .admin),
            Endpoint(method: .post, path: "/api/vulndb/update", min: .admin),
            Endpoint(method: .get, path: "/api/notification-channels", min: .admin),
            Endpoint(method: .post, path: "/api/notification-channels", min: .admin, body: ["name": "n", "url": "ftp://x", "events": ["scan_complete"]]),
            Endpoint(method: .get, path: "/api/notification-channels/chn_doesnotexist", min: .admin),
            Endpoint(method: .put, path: "/api/notification-channels/chn_doesnotexist", min: .admin, body: ["enabled": false]),
            Endpoint(method: .delete, path: "/api/notification-channels/chn_doesnotexist", min: .admin),
            Endpoint(method: .post, path: "/api/notification-channels/chn_doesnotexist/test", min: .admin),
            Endpoint(method: .get, path: "/api/notification-channels/chn_doesnotexist/deliveries", min: .admin),
            Endpoint(method: .get, path: "/api/policies", min: .viewer),
            Endpoint(method: .post, path: "/api/policies", min: .admin, body: ["name": "p", "action": "fail", "rules": [["type": "kev"]]]),
            Endpoint(method: .get, path: "/api/policies/pol_doesnotexist", min: .viewer),
            Endpoint(method: .put, path: "/api/policies/pol_doesnotexist", min: .admin, body: ["enabled": false]),
            Endpoint(method: .delete, path: "/api/policies/pol_doesnotexist", min: .admin),
            Endpoint(method: .post, path: "/api/policy/check", min: .ci, body: ["image": "registry.example.com/team/app:1"]),
            Endpoint(method: .get, path: "/api/registries/\(registry)/sensor-status", min: .viewer),
            Endpoint(method: .post, path: "/api/sensor/heartbeat", min: .owner, body: ["name": "s", "version": "1", "hostname": "h"], sensorOnly: true),
            Endpoint(method: .post, path: "/api/sensor/jobs/claim", min: .owner, body: ["max": 1], sensorOnly: true),
            Endpoint(method: .post, path: "/api/sensor/jobs/job_doesnotexist/renew", min: .owner, sensorOnly: true),
            Endpoint(method: .post, path: "/api/sensor/jobs/job_doesnotexist/release", min: .owner, sensorOnly: true),
            Endpoint(method: .post, path: "/api/sensor/jobs/job_doesnotexist/result", min: .owner, body: ["status": "failed"], sensorOnly: true),
        ]
    }

    @Test func everyRoleGetsExactlyWhatItsLevelAllows() async throws {
        var f = try await Fixture.make()
        try await f.populate()
        let fx = f
        try await f.test { c in
            for e in Self.endpoints(registry: fx.registryA) {
                for role in Role.allCases {
                    let r = try await c.json(e.method, e.path, key: fx.keys[role]!, body: e.body)
                    let allowed = (role >= e.min || e.alsoAllowed.contains(role)) && !e.usersOnly && !e.sensorOnly
                    if allowed {
                        #expect(r.status != .forbidden && r.status != .unauthorized, "\(role) \(e.method) \(e.path): \(r.status)")
                        #expect(r.status.code < 500)
                    } else {
                        #expect(r.status == .forbidden, "\(role) \(e.method) \(e.path): \(r.status) \(r.raw)")
                        #expect(r.errorCode == "FORBIDDEN")
                    }
                }
            }
        }
    }

    @Test func badCredentialsAre401OnEveryProtectedEndpoint() async throws {
        var f = try await Fixture.make()
        try await f.populate()
        let fx = f
        let unknown = "hg_ak_" + String(repeating: "ab", count: 24)
        try await f.test { c in
            for e in Self.endpoints(registry: fx.registryA) {
                for (label, key) in [
                    ("malformed", "hg_ak_123"), ("unknown", unknown), ("expired", fx.expiredKey), ("revoked", fx.revokedKey),
                    ("other prefix", "sk_live_abc"), ("empty", ""),
                ] {
                    let r = try await c.json(e.method, e.path, key: key, body: e.body)
                    #expect(r.status == .unauthorized, "\(label) \(e.method) \(e.path): \(r.status)")
                    #expect(r.errorCode == "UNAUTHORIZED")
                }
                let none = try await c.json(e.method, e.path, body: e.body)
                #expect(none.status == .unauthorized, "none \(e.method) \(e.path)")
                var basic = HTTPFields()
                basic[.authorization] = "Basic dXNlcjpwYXNz"
                let wrongScheme = try await c.json(e.method, e.path, body: e.body, headers: basic)
                #expect(wrongScheme.status == .unauthorized)
            }
        }
    }

    @Test func bearerAndPatAndSessionAuthenticate() async throws {
        var f = try await Fixture.make()
        try await f.populate()
        let fx = f
        let cookie = try await f.signIn("dev", "correct horse battery")
        try await f.test { c in
            var bearer = HTTPFields()
            bearer[.authorization] = "Bearer \(fx.keys[.viewer]!)"
            do { let r = try await c.json(.get, "/api/registries", headers: bearer); #expect(r.status == .ok) }
            var patBearer = HTTPFields()
            patBearer[.authorization] = "Bearer \(fx.patDeveloper)"
            do { let r = try await c.json(.get, "/api/registries", headers: patBearer); #expect(r.status == .ok) }
            // A PAT in X-API-Key works too, and acts with its user's role (developer < admin).
            do { let r = try await c.json(.get, "/api/registries", key: fx.patDeveloper); #expect(r.status == .ok) }
            do { let r = try await c.json(.get, "/api/api-keys", key: fx.patDeveloper); #expect(r.status == .forbidden) }
            do { let r = try await c.json(.get, "/api/registries", cookie: cookie); #expect(r.status == .ok) }
            do { let r = try await c.json(.get, "/api/personal-access-tokens", cookie: cookie); #expect(r.status == .ok) }
            // Signing out kills the session.
            do { let r = try await c.json(.post, "/api/auth/sign-out", cookie: cookie); #expect(r.status == .ok) }
            do { let r = try await c.json(.get, "/api/registries", cookie: cookie); #expect(r.status == .unauthorized) }
        }
    }

    @Test func patFollowsItsUsersCurrentRole() async throws {
        var f = try await Fixture.make()
        try await f.populate()
        let fx = f
        try await f.test { c in
            do { let r = try await c.json(.put, "/api/registries/\(fx.registryA)", key: fx.patDeveloper, body: ["name": "z"]); #expect(r.status == .forbidden) }
            let promote = try await c.json(.put, "/api/members/\(fx.userDeveloper)", key: fx.keys[.owner]!, body: ["role": "admin"])
            #expect(promote.status == .ok)
            do { let r = try await c.json(.put, "/api/registries/\(fx.registryA)", key: fx.patDeveloper, body: ["name": "z"]); #expect(r.status == .ok) }
            _ = try await c.json(.delete, "/api/members/\(fx.userDeveloper)", key: fx.keys[.owner]!)
            do { let r = try await c.json(.get, "/api/registries", key: fx.patDeveloper); #expect(r.status == .unauthorized) }
        }
    }

    /// Registry pages and verified keys are served from memory; every write is seen at once.
    @Test func cachedPagesAndKeysFollowEveryWrite() async throws {
        var f = try await Fixture.make()
        try await f.populate()
        let fx = f
        try await f.test { c in
            let owner = fx.keys[.owner]!
            func names() async throws -> [String] {
                let r = try await c.json(.get, "/api/registries?limit=200", key: owner)
                return (r.body["data"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
            }
            let before = try await names()
            #expect(try await names() == before)  // the second read is the cached page
            let renamed = try await c.json(.put, "/api/registries/\(fx.registryA)", key: owner, body: ["name": "renamed-now"])
            #expect(renamed.status == .ok)
            let afterRename = try await names()
            #expect(afterRename.contains("renamed-now"))
            let created = try await c.json(.post, "/api/registries", key: owner, body: ["name": "fresh-one", "provider": "DOCKER_HUB"])
            #expect(created.status == .created)
            let afterCreate = try await names()
            #expect(afterCreate.contains("fresh-one"))
            let id = created.data["id"] as? String ?? ""
            _ = try await c.json(.delete, "/api/registries/\(id)", key: owner)
            let afterDelete = try await names()
            #expect(!afterDelete.contains("fresh-one"))
            // Another organization's cached page never answers this one.
            let other = try await c.json(.get, "/api/registries?limit=200", key: fx.adminB)
            #expect(!other.raw.contains("renamed-now"))
        }
    }

    @Test func anotherOrganizationsRegistryIsNotFound() async throws {
        var f = try await Fixture.make()
        try await f.populate()
        let fx = f
        try await f.test { c in
            let owner = fx.keys[.owner]!
            for (m, body): (HTTPRequest.Method, JSONBody?) in [
                (.get, nil), (.put, ["name": "stolen"]), (.delete, nil),
            ] {
                let r = try await c.json(m, "/api/registries/\(fx.registryB)", key: owner, body: body)
                #expect(r.status == .notFound, "\(m)")
                #expect(r.errorCode == "NOT_FOUND")
            }
            do { let r = try await c.json(.post, "/api/registries/\(fx.registryB)/webhook-token", key: owner); #expect(r.status == .notFound) }
            // Lists never show the other organization's rows.
            let list = try await c.json(.get, "/api/registries", key: owner)
            let ids = (list.body["data"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
            #expect(ids.contains(fx.registryA))
            #expect(!ids.contains(fx.registryB))
            // And B still has its registry.
            do { let r = try await c.json(.get, "/api/registries/\(fx.registryB)", key: fx.adminB); #expect(r.status == .ok) }
        }
    }

    @Test func sensorKeyIsRefusedOffTheSensorEndpoints() async throws {
        var f = try await Fixture.make()
        try await f.populate()
        let fx = f
        #expect(Tokens.isWellFormed(fx.sensorKey, prefix: Tokens.apiKeyPrefix))
        try await f.test { c in
            for e in Self.endpoints(registry: fx.sensorRegistry) {
                let r = try await c.json(e.method, e.path, key: fx.sensorKey, body: e.body)
                if e.sensorOnly {
                    // Its own endpoints answer it (job_doesnotexist is simply not found).
                    #expect(r.status == .ok || r.status == .notFound, "sensor \(e.method) \(e.path): \(r.status) \(r.raw)")
                } else {
                    #expect(r.status == .forbidden, "sensor \(e.method) \(e.path): \(r.status)")
                }
            }
        }
    }

    @Test func keysCannotBeCreatedAboveTheCreatorsRole() async throws {
        let f = try await Fixture.make()
        try await f.test { c in
            let r = try await c.json(.post, "/api/api-keys", key: f.keys[.admin]!, body: ["name": "x", "role": "owner"])
            #expect(r.status == .badRequest)
            #expect(r.issuePaths == ["role"])
            let ok = try await c.json(.post, "/api/api-keys", key: f.keys[.admin]!, body: ["name": "x", "role": "admin"])
            #expect(ok.status == .created)
            let token = ok.data["key"] as? String ?? ""
            #expect(Tokens.isWellFormed(token, prefix: Tokens.apiKeyPrefix))
            // The key works, is listed without its secret, and stops working once revoked.
            do { let r = try await c.json(.get, "/api/organization", key: token); #expect(r.status == .ok) }
            let list = try await c.json(.get, "/api/api-keys", key: f.keys[.owner]!)
            #expect(!list.raw.contains(token))
            let id = ok.data["id"] as? String ?? ""
            do { let r = try await c.json(.delete, "/api/api-keys/\(id)", key: f.keys[.owner]!); #expect(r.status == .ok) }
            do { let r = try await c.json(.get, "/api/organization", key: token); #expect(r.status == .unauthorized) }
        }
    }

    @Test func rateLimitsAnswer429WithRetryAfter() async throws {
        let f = try await Fixture.make()
        try await f.test { c in
            var last: JSONResponse?
            for i in 0..<11 {
                last = try await c.json(.post, "/api/api-keys", key: f.keys[.owner]!, body: ["name": "k\(i)", "role": "viewer"])
            }
            #expect(last?.status == .tooManyRequests)
            #expect(last?.errorCode == "RATE_LIMITED")
            #expect(Int(last?.headers[.retryAfter] ?? "") ?? 0 >= 1)
            #expect(last?.headers[HTTPField.Name("X-RateLimit-Limit")!] == "10")
            // Sign-in: 5 failures a minute per (username, client address).
            var signIn: JSONResponse?
            for _ in 0..<6 {
                signIn = try await c.json(.post, "/api/auth/sign-in", body: ["username": "nobody", "password": "wrong password!"])
            }
            #expect(signIn?.status == .tooManyRequests)
        }
    }

    @Test func wrongPasswordIs401AndAudited() async throws {
        var f = try await Fixture.make()
        try await f.populate()
        let fx = f
        try await f.test { c in
            let r = try await c.json(.post, "/api/auth/sign-in", body: ["username": "dev", "password": "not the password"])
            #expect(r.status == .unauthorized)
            let log = try await c.json(.get, "/api/audit-log", key: fx.keys[.auditor]!)
            #expect(log.status == .ok)
            let actions = (log.body["data"] as? [[String: Any]] ?? []).compactMap { $0["action"] as? String }
            #expect(actions.contains("auth.sign_in.failed"))
            #expect(actions.contains("registry.create"))
        }
    }
}
