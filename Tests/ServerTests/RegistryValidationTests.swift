import Foundation
import HTTPTypes
import Server
import Store
import Testing
import HummingbirdTesting
import GRDB

/// Each validation rule of the Registries API, with its exact code and issue path.
@Suite struct RegistryValidationTests {
    static let cases: [(String, JSONBody, [String])] = [
        ("missing name and provider", [:], ["name", "provider"]),
        ("unknown provider", ["name": "x", "provider": "DOCKERHUB"], ["provider"]),
        ("name too long", ["name": String(repeating: "n", count: 101), "provider": "DOCKER_HUB"], ["name"]),
        ("name wrong type", ["name": 5, "provider": "DOCKER_HUB"], ["name"]),
        ("blank name", ["name": "   ", "provider": "DOCKER_HUB"], ["name"]),
        ("url required", ["name": "x", "provider": "HARBOR"], ["url"]),
        ("url required jfrog", ["name": "x", "provider": "JFROG"], ["url"]),
        ("url not absolute", ["name": "x", "provider": "DOCKER_REGISTRY", "url": "registry.local"], ["url"]),
        ("url ftp", ["name": "x", "provider": "DOCKER_REGISTRY", "url": "ftp://r.example"], ["url"]),
        ("url userinfo", ["name": "x", "provider": "DOCKER_REGISTRY", "url": "https://u:p@r.example"], ["url"]),
        ("http without insecure", ["name": "x", "provider": "DOCKER_REGISTRY", "url": "http://r.example"], ["url"]),
        ("unknown scanner", ["name": "x", "provider": "DOCKER_HUB", "scanners": ["trivy", "clair"]], ["scanners[1]"]),
        ("scanners not array", ["name": "x", "provider": "DOCKER_HUB", "scanners": "trivy"], ["scanners"]),
        ("unknown schedule", ["name": "x", "provider": "DOCKER_HUB", "schedule": "hourly"], ["schedule"]),
        ("unknown scan method", ["name": "x", "provider": "DOCKER_HUB", "scanMethod": "agent"], ["scanMethod"]),
        ("bad include glob", ["name": "x", "provider": "DOCKER_HUB", "includeTags": "v[1"], ["includeTags"]),
        ("bad exclude glob", ["name": "x", "provider": "DOCKER_HUB", "excludeTags": "a,,b"], ["excludeTags"]),
        ("glob with slash", ["name": "x", "provider": "DOCKER_HUB", "includeTags": "a/b"], ["includeTags"]),
        ("insecure wrong type", ["name": "x", "provider": "DOCKER_HUB", "insecure": "yes"], ["insecure"]),
        ("unknown field", ["name": "x", "provider": "DOCKER_HUB", "colour": "red"], ["colour"]),
        ("ghcr wants a pat", ["name": "x", "provider": "GHCR", "credentials": ["username": "u", "password": "p"]],
         ["credentials.password", "credentials.pat"]),
        ("password missing", ["name": "x", "provider": "DOCKER_REGISTRY", "url": "https://r.example", "credentials": ["username": "u"]],
         ["credentials.password"]),
        ("ecr needs credentials", ["name": "x", "provider": "AWS_ECR"], ["credentials"]),
        ("ecr fields", ["name": "x", "provider": "AWS_ECR", "credentials": ["accessKeyId": "AKIA", "region": "eu-west-1"]],
         ["credentials.secretAccessKey"]),
        ("gar key not json", ["name": "x", "provider": "GOOGLE_GAR", "url": "https://us-docker.pkg.dev", "credentials": ["serviceAccountKey": "nope"]],
         ["credentials.serviceAccountKey"]),
        ("harbor robot name", ["name": "x", "provider": "HARBOR", "url": "https://h.example", "credentials": ["robotName": "ci", "robotSecret": "s"]],
         ["credentials.robotName"]),
        ("credentials wrong type", ["name": "x", "provider": "DOCKER_HUB", "credentials": "user:pass"], ["credentials"]),
        ("credential value wrong type", ["name": "x", "provider": "DOCKER_HUB", "credentials": ["username": "u", "password": 12]],
         ["credentials.password"]),
    ]

    @Test(arguments: 0..<cases.count) func createRuleAnswers400WithItsPaths(_ i: Int) async throws {
        let (label, body, paths) = Self.cases[i]
        let f = try await Fixture.make()
        try await f.test { c in
            let r = try await c.json(.post, "/api/registries", key: f.keys[.admin]!, body: body)
            #expect(r.status == .badRequest, "\(label): \(r.raw)")
            #expect(r.errorCode == "VALIDATION_ERROR", "\(label)")
            #expect(Set(r.issuePaths) == Set(paths), "\(label): \(r.issuePaths)")
        }
    }

    @Test func defaultsFollowTheSeed() async throws {
        let f = try await Fixture.make()
        try await f.test { c in
            let r = try await c.json(.post, "/api/registries", key: f.keys[.admin]!, body: ["name": "hub", "provider": "DOCKER_HUB"])
            #expect(r.status == .created)
            #expect(r.headers[.location] == "/api/registries/\(r.data["id"] as? String ?? "")")
            #expect(r.data["url"] as? String == "https://registry-1.docker.io")
            #expect(r.data["scanMethod"] as? String == "cloud")
            let scanning = r.data["scanning"] as? [String: Any] ?? [:]
            #expect(scanning["schedule"] as? String == "daily")
            #expect(scanning["scanners"] as? [String] == ["trivy", "grype", "syft"])
            #expect(r.data["insecure"] as? Bool == false)
            #expect(r.data["hasCredentials"] as? Bool == false)
            #expect((r.data["health"] as? [String: Any])?["status"] as? String == "unknown")
            #expect(r.data["sensorApiKey"] == nil)
            #expect((r.data["webhookToken"] as? String)?.hasPrefix("hg_wh_") == true)
            let ghcr = try await c.json(.post, "/api/registries", key: f.keys[.admin]!, body: [
                "name": "gh", "provider": "GHCR", "credentials": ["username": "bot", "pat": "ghp_secret"], "includeTags": "v*",
            ])
            #expect(ghcr.data["url"] as? String == "https://ghcr.io")
            #expect((ghcr.data["scanning"] as? [String: Any])?["tagInclude"] as? String == "v*")
            #expect(ghcr.data["hasCredentials"] as? Bool == true)
            #expect(!ghcr.raw.contains("ghp_secret"))
        }
    }

    @Test func duplicateNameIs409() async throws {
        let f = try await Fixture.make()
        try await f.test { c in
            let body: JSONBody = ["name": "dup", "provider": "DOCKER_HUB"]
            do { let r = try await c.json(.post, "/api/registries", key: f.keys[.admin]!, body: body); #expect(r.status == .created) }
            let again = try await c.json(.post, "/api/registries", key: f.keys[.admin]!, body: body)
            #expect(again.status == .conflict)
            #expect(again.errorCode == "CONFLICT")
            // Another organization may use the same name.
            do { let r = try await c.json(.post, "/api/registries", key: f.adminB, body: body); #expect(r.status == .created) }
        }
    }

    @Test func sensorRegistryReturnsItsKeyOnce() async throws {
        let f = try await Fixture.make()
        try await f.test { c in
            let r = try await c.json(.post, "/api/registries", key: f.keys[.admin]!, body: [
                "name": "dmz", "provider": "DOCKER_REGISTRY", "url": "https://dmz.example", "scanMethod": "sensor",
            ])
            let key = r.data["sensorApiKey"] as? String ?? ""
            #expect(Tokens.isWellFormed(key, prefix: "hg_ak_"))
            let id = r.data["id"] as? String ?? ""
            let get = try await c.json(.get, "/api/registries/\(id)", key: f.keys[.admin]!)
            #expect(get.data["sensorApiKey"] == nil)
            #expect(!get.raw.contains(key))
            let list = try await c.json(.get, "/api/registries", key: f.keys[.admin]!)
            #expect(!list.raw.contains(key))
        }
    }

    @Test func updateIsPartialAndGuardsImmutableFields() async throws {
        let f = try await Fixture.make()
        try await f.test { c in
            let admin = f.keys[.admin]!
            let r = try await c.json(.post, "/api/registries", key: admin, body: [
                "name": "r", "provider": "DOCKER_REGISTRY", "url": "http://127.0.0.1:5000", "insecure": true,
                "credentials": ["username": "u", "password": "p1"],
            ])
            let id = r.data["id"] as? String ?? ""
            let u = try await c.json(.put, "/api/registries/\(id)", key: admin, body: [
                "scanning": ["schedule": "weekly", "tagInclude": "release-*"], "id": "ignored", "createdAt": "ignored",
            ])
            #expect(u.status == .ok, "\(u.raw)")
            let s = u.data["scanning"] as? [String: Any] ?? [:]
            #expect(s["schedule"] as? String == "weekly")
            #expect(s["tagInclude"] as? String == "release-*")
            #expect(s["scanners"] as? [String] == ["trivy", "grype", "syft"])
            #expect(u.data["name"] as? String == "r")
            #expect(u.data["hasCredentials"] as? Bool == true)
            let p = try await c.json(.put, "/api/registries/\(id)", key: admin, body: ["provider": "GHCR", "scanMethod": "sensor"])
            #expect(p.status == .badRequest)
            #expect(Set(p.issuePaths) == ["provider", "scanMethod"])
            let sameProvider = try await c.json(.put, "/api/registries/\(id)", key: admin, body: ["provider": "DOCKER_REGISTRY"])
            #expect(sameProvider.status == .ok)
            let unk = try await c.json(.put, "/api/registries/\(id)", key: admin, body: ["scanning": ["cron": "* * * * *"]])
            #expect(unk.issuePaths == ["scanning.cron"])
            let insecureOff = try await c.json(.put, "/api/registries/\(id)", key: admin, body: ["insecure": false])
            #expect(insecureOff.issuePaths == ["insecure"])
            let dropCreds = try await c.json(.put, "/api/registries/\(id)", key: admin, rawBody: #"{"credentials": null}"#)
            #expect(dropCreds.data["hasCredentials"] as? Bool == false)
            do { let r = try await c.json(.put, "/api/registries/reg_missing", key: admin, body: ["name": "x"]); #expect(r.status == .notFound) }
        }
    }

    @Test func listPagesSortsAndSearches() async throws {
        let f = try await Fixture.make()
        try await f.test { c in
            let admin = f.keys[.admin]!
            for i in 0..<7 {
                _ = try await c.json(.post, "/api/registries", key: admin, body: ["name": "reg-\(i)", "provider": "DOCKER_HUB"])
            }
            let p1 = try await c.json(.get, "/api/registries?limit=3&sort=name:desc", key: admin)
            let meta = p1.body["meta"] as? [String: Any] ?? [:]
            #expect(meta["total"] as? Int == 7)
            #expect(meta["totalPages"] as? Int == 3)
            #expect(meta["hasNext"] as? Bool == true)
            #expect(meta["hasPrev"] as? Bool == false)
            let names = (p1.body["data"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
            #expect(names == ["reg-6", "reg-5", "reg-4"])
            let links = p1.body["links"] as? [String: Any] ?? [:]
            #expect((links["next"] as? String)?.contains("page=2") == true)
            let p3 = try await c.json(.get, "/api/registries?limit=3&page=3&sort=name:desc", key: admin)
            #expect((p3.body["data"] as? [Any])?.count == 1)
            let search = try await c.json(.get, "/api/registries?search=reg-3", key: admin)
            #expect((search.body["meta"] as? [String: Any])?["total"] as? Int == 1)
            for bad in ["limit=0", "limit=201", "page=0", "page=x"] {
                let r = try await c.json(.get, "/api/registries?\(bad)", key: admin)
                #expect(r.status == .badRequest, "\(bad)")
                #expect(r.errorCode == "VALIDATION_ERROR")
            }
            do { let r = try await c.json(.get, "/api/registries?sort=bogus:asc", key: admin); #expect(r.status == .ok) }
        }
    }

    @Test func deleteRemovesSecretsKeysAndTheRow() async throws {
        let f = try await Fixture.make()
        try await f.test { c in
            let admin = f.keys[.admin]!
            let r = try await c.json(.post, "/api/registries", key: admin, body: [
                "name": "gone", "provider": "DOCKER_REGISTRY", "url": "https://r.example", "scanMethod": "sensor",
                "credentials": ["username": "u", "password": "p"],
            ])
            let id = r.data["id"] as? String ?? ""
            let sensorKey = r.data["sensorApiKey"] as? String ?? ""
            do { let r = try await c.json(.delete, "/api/registries/\(id)", key: admin); #expect(r.status == .ok) }
            do { let r = try await c.json(.get, "/api/registries/\(id)", key: admin); #expect(r.status == .notFound) }
            do { let r = try await c.json(.get, "/api/registries", key: sensorKey); #expect(r.status == .unauthorized) }
        }
        let secrets = try await f.services.db.writer.read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM secrets") ?? -1
        }
        #expect(secrets == 0)
    }
}
