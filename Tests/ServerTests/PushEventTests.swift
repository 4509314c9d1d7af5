import Cron
import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Server
import Store
import Synchronization
import Testing

/// A registry on 127.0.0.1 that holds every tag of every repository at `digest`: the push
/// receiver confirms a pushed digest with a HEAD of the manifest, and this answers it.
/// The first `tagMissingFor` HEADs by tag answer 404, as the distribution registry does when
/// its notification arrives before the tag is linked.
func withFakeRegistry<T: Sendable>(
    digest: String, tagMissingFor: Int = 0, _ body: @Sendable @escaping (_ url: String) async throws -> T
) async throws -> T {
    let router = Router()
    let missing = Mutex(tagMissingFor)
    router.get("/v2/") { _, _ in
        Response(status: .ok, headers: [HTTPField.Name("Docker-Distribution-API-Version")!: "registry/2.0"])
    }
    router.head("/v2/**") { req, _ in
        let byTag = !(req.uri.path.split(separator: "/").last ?? "").contains(":")
        let notYet = byTag && missing.withLock { n -> Bool in
            guard n > 0 else { return false }
            n -= 1
            return true
        }
        if notYet { return Response(status: .notFound) }
        return Response(status: .ok, headers: [
            HTTPField.Name("Docker-Content-Digest")!: digest,
            .contentType: "application/vnd.docker.distribution.manifest.v2+json",
        ])
    }
    let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
    return try await app.test(.live) { client in try await body("http://127.0.0.1:\(client.port ?? 0)") }
}

/// Push notifications as each registry documents them, through the events endpoint.
@Suite struct PushEventTests {
    static let digest = "sha256:" + String(repeating: "ab", count: 32)

    static let fixtures: [(String, String, String, String?)] = [
        // (format, body, repository, tag)
        ("distribution", """
        {"events":[{"id":"e1","timestamp":"2026-11-29T08:00:00Z","action":"push",
          "target":{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","size":528,"digest":"\(digest)",
          "length":528,"repository":"team/app","url":"http://127.0.0.1:5000/v2/team/app/manifests/\(digest)","tag":"v1.2.0"},
          "request":{"id":"r1","addr":"127.0.0.1:5555","host":"127.0.0.1:5000","method":"PUT","useragent":"skopeo"},
          "actor":{"name":"ci"},"source":{"addr":"registry:5000","instanceID":"i1"}},
         {"id":"e2","action":"push","target":{"mediaType":"application/octet-stream","digest":"\(digest)","repository":"team/app"}}]}
        """, "team/app", "v1.2.0"),
        ("harbor", """
        {"type":"PUSH_ARTIFACT","occur_at":1732867200,"operator":"robot$ci",
         "event_data":{"resources":[{"digest":"\(digest)","tag":"v1.2.0","resource_url":"harbor.example/library/app:v1.2.0"}],
          "repository":{"date_created":1732867000,"name":"app","namespace":"library","repo_full_name":"library/app","repo_type":"private"}}}
        """, "library/app", "v1.2.0"),
        ("github", """
        {"action":"published","package":{"id":1,"name":"App","namespace":"Acme","package_type":"CONTAINER",
          "owner":{"login":"Acme"},"package_version":{"id":2,"version":"\(digest)",
          "container_metadata":{"tag":{"name":"v1.2.0","digest":"\(digest)"}}}}}
        """, "acme/app", "v1.2.0"),
        ("docker_hub", """
        {"callback_url":"https://registry.hub.docker.com/u/acme/app/hook/x/","push_data":{"pushed_at":1732867200,
          "pusher":"acme","tag":"v1.2.0"},"repository":{"repo_name":"acme/app","namespace":"acme","name":"app","status":"Active"}}
        """, "acme/app", "v1.2.0"),
        ("quay", """
        {"name":"app","repository":"acme/app","namespace":"acme","docker_url":"quay.io/acme/app",
         "homepage":"https://quay.io/repository/acme/app","updated_tags":["v1.2.0"]}
        """, "acme/app", "v1.2.0"),
        ("jfrog", """
        {"domain":"docker","event_type":"pushed","data":{"repo_key":"docker-local","event_type":"pushed",
          "path":"app/v1.2.0/manifest.json","name":"manifest.json","sha256":"\(String(repeating: "ab", count: 32))","size":528,
          "image_name":"app","tag":"v1.2.0","platforms":[]},"subscription_key":"s","jpd_origin":"https://acme.jfrog.io","source":"jfrog/user"}
        """, "app", "v1.2.0"),
    ]

    @Test(arguments: 0..<fixtures.count) func eachFormatEnqueuesAScanForItsTag(_ i: Int) async throws {
        let (format, body, repo, tag) = Self.fixtures[i]
        let f = try await Fixture.make()
        try await withFakeRegistry(digest: Self.digest) { url in try await f.test { c in
            let r = try await c.json(.post, "/api/registries", key: f.keys[.admin]!, body: [
                "name": "r", "provider": "DOCKER_REGISTRY", "url": url, "insecure": true, "schedule": "on_push",
            ])
            let id = r.data["id"] as? String ?? ""
            let token = r.data["webhookToken"] as? String ?? ""
            var h = HTTPFields()
            h[.authorization] = "Bearer \(token)"
            let e = try await c.json(.post, "/api/registries/\(id)/events", rawBody: body,
                                     contentType: "application/vnd.docker.distribution.events.v1+json", headers: h)
            #expect(e.status == .accepted, "\(format): \(e.raw)")
            #expect(e.data["format"] as? String == format)
            #expect(e.data["enqueued"] as? Int == 1, "\(format): \(e.raw)")
            #expect(e.data["accepted"] as? Int == 1 && e.data["rejected"] as? Int == 0, "\(format): \(e.raw)")
            // The same event again within ten minutes: a no-op.
            let again = try await c.json(.post, "/api/registries/\(id)/events?token=\(token)", rawBody: body)
            #expect(again.data["enqueued"] as? Int == 0)
            #expect(again.data["duplicates"] as? Int == 1, "\(format): \(again.raw)")
        } }
        let payloads = try await f.services.db.writer.read { db in
            try String.fetchAll(db, sql: "SELECT payload FROM jobs WHERE type = 'scan'")
        }
        #expect(payloads.count == 1)
        let scan = try JSONDecoder().decode(ScanRequest.self, from: Data(payloads[0].utf8))
        #expect(scan.repository == repo)
        #expect(scan.tag == tag)
        #expect(scan.trigger == "push")
        // Confirmed by the registry: the stored and scanned digest is the registry's.
        #expect(scan.digest == Self.digest)
    }

    @Test func tokensFiltersAndSchedulesAreEnforced() async throws {
        let f = try await Fixture.make()
        try await withFakeRegistry(digest: Self.digest) { url in try await f.test { c in
            let r = try await c.json(.post, "/api/registries", key: f.keys[.admin]!, body: [
                "name": "r", "provider": "DOCKER_REGISTRY", "url": url, "insecure": true, "schedule": "on_push",
                "excludeTags": "*-dev",
            ])
            let id = r.data["id"] as? String ?? ""
            let token = r.data["webhookToken"] as? String ?? ""
            let body = Self.fixtures[0].1
            let wrongToken = "hg_wh_" + String(repeating: "0", count: 48)
            #expect(try await c.json(.post, "/api/registries/\(id)/events?token=\(wrongToken)", rawBody: body).status == .unauthorized)
            #expect(try await c.json(.post, "/api/registries/\(id)/events", rawBody: body).status == .unauthorized)
            #expect(try await c.json(.post, "/api/registries/\(id)/events", key: f.keys[.owner]!, rawBody: body).status == .unauthorized)
            let dev = body.replacingOccurrences(of: "v1.2.0", with: "v1.2.0-dev")
            let filtered = try await c.json(.post, "/api/registries/\(id)/events?token=\(token)", rawBody: dev)
            #expect(filtered.data["enqueued"] as? Int == 0)
            #expect(filtered.data["skipped"] as? Int == 1)
            let junk = try await c.json(.post, "/api/registries/\(id)/events?token=\(token)", rawBody: #"{"hello":"world"}"#)
            #expect(junk.status == .badRequest)
            // Rotating the token invalidates the old one.
            let rotated = try await c.json(.post, "/api/registries/\(id)/webhook-token", key: f.keys[.admin]!)
            let newToken = rotated.data["webhookToken"] as? String ?? ""
            #expect(try await c.json(.post, "/api/registries/\(id)/events?token=\(token)", rawBody: body).status == .unauthorized)
            #expect(try await c.json(.post, "/api/registries/\(id)/events?token=\(newToken)", rawBody: body).status == .accepted)
            // A daily registry records the tag but does not scan on push.
            let daily = try await c.json(.post, "/api/registries", key: f.keys[.admin]!, body: [
                "name": "d", "provider": "DOCKER_REGISTRY", "url": url, "insecure": true,
            ])
            let dId = daily.data["id"] as? String ?? ""
            let dTok = daily.data["webhookToken"] as? String ?? ""
            let d = try await c.json(.post, "/api/registries/\(dId)/events?token=\(dTok)", rawBody: body)
            #expect(d.data["enqueued"] as? Int == 0)
            let imgs = try await c.json(.get, "/api/images?registryId=\(dId)", key: f.keys[.viewer]!)
            #expect((imgs.body["data"] as? [[String: Any]])?.first?["name"] as? String == "team/app")
        } }
    }

    @Test func aTagNotLinkedYetIsAskedAgainWhenItsManifestExists() async throws {
        let f = try await Fixture.make()
        try await withFakeRegistry(digest: Self.digest, tagMissingFor: 2) { url in try await f.test { c in
            let r = try await c.json(.post, "/api/registries", key: f.keys[.admin]!, body: [
                "name": "r", "provider": "DOCKER_REGISTRY", "url": url, "insecure": true, "schedule": "manual",
            ])
            let id = r.data["id"] as? String ?? ""
            let token = r.data["webhookToken"] as? String ?? ""
            let e = try await c.json(
                .post, "/api/registries/\(id)/events?token=\(token)", rawBody: try Self.body([Self.event("team/app", "1", Self.digest)]))
            #expect(e.data["accepted"] as? Int == 1, "\(e.raw)")
        } }
    }

    static func event(_ repo: String, _ tag: String?, _ digest: String?, id: String? = nil) -> [String: Any] {
        var target: [String: Any] = ["repository": repo, "mediaType": "application/vnd.docker.distribution.manifest.v2+json"]
        if let tag { target["tag"] = tag }
        if let digest { target["digest"] = digest }
        var e: [String: Any] = ["action": "push", "target": target]
        if let id { e["id"] = id }
        return e
    }

    static func body(_ events: [[String: Any]]) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: ["events": events]), as: UTF8.self)
    }

    @Test func invalidAndUnconfirmedEventsAreSkippedAndCounted() async throws {
        let f = try await Fixture.make()
        try await withFakeRegistry(digest: Self.digest) { url in try await f.test { c in
            let r = try await c.json(.post, "/api/registries", key: f.keys[.admin]!, body: [
                "name": "r", "provider": "DOCKER_REGISTRY", "url": url, "insecure": true, "schedule": "manual",
            ])
            let id = r.data["id"] as? String ?? ""
            let token = r.data["webhookToken"] as? String ?? ""
            let other = "sha256:" + String(repeating: "cd", count: 32)
            let events = [
                Self.event("<script>x</script>", "1", Self.digest),
                Self.event(String(repeating: "a", count: 300), "1", Self.digest),
                Self.event("team/app", "1", "sha256:short"),
                Self.event("team/app", "1", "sha512:" + String(repeating: "ab", count: 32)),
                Self.event("team/app", "1", other),  // the registry holds another digest
                Self.event("team/app", "1", Self.digest),
            ]
            let e = try await c.json(.post, "/api/registries/\(id)/events?token=\(token)", rawBody: try Self.body(events))
            #expect(e.status == .accepted, "\(e.raw)")
            #expect(e.data["accepted"] as? Int == 1 && e.data["rejected"] as? Int == 5, "\(e.raw)")
            let issues = e.data["issues"] as? [[String: Any]] ?? []
            #expect(issues.map { $0["index"] as? Int ?? -1 } == [0, 1, 2, 3, 4])
            #expect(issues.map { $0["field"] as? String ?? "" } == ["repository", "repository", "digest", "digest", "digest"])
            // 101 entries: 413 and nothing applied; 60 requests a minute, then 429.
            let many = (0..<101).map { Self.event("many/r\($0)", "1", Self.digest) }
            let tooMany = try await c.json(.post, "/api/registries/\(id)/events?token=\(token)", rawBody: try Self.body(many))
            #expect(tooMany.status == .contentTooLarge)
            let imgs = try await c.json(.get, "/api/images?registryId=\(id)", key: f.keys[.viewer]!)
            #expect((imgs.body["data"] as? [[String: Any]])?.count == 1)
            var last = tooMany
            for _ in 0..<60 {
                last = try await c.json(.post, "/api/registries/\(id)/events?token=\(token)", rawBody: #"{"events":[]}"#)
                if last.status != .accepted { break }
            }
            #expect(last.status == .tooManyRequests)
            #expect(last.headers[.retryAfter] != nil)
        } }
    }
}

/// Applying sync results: inserts, digest changes, removals, and which scans are enqueued.
@Suite struct SyncStoreTests {
    static func d(_ n: Int) -> String { "sha256:" + String(format: "%064x", n) }

    @Test func secondSyncEnqueuesExactlyTheNewAndChangedDigests() async throws {
        let f = try await Fixture.make()
        let reg = try await f.test { c in
            try await c.json(.post, "/api/registries", key: f.keys[.admin]!, body: [
                "name": "r", "provider": "DOCKER_REGISTRY", "url": "http://127.0.0.1:5000", "insecure": true,
            ])
        }
        let id = reg.data["id"] as? String ?? ""
        let orgA = f.orgA
        var tags: [DiscoveredTag] = []
        for r in 0..<5 { for t in 0..<4 { tags.append(DiscoveredTag(repository: "repo\(r)", tag: "t\(t)", digest: Self.d(r * 10 + t))) } }
        let round1 = tags
        let first = try await f.services.db.writer.write { db in
            try SyncStore.apply(round1, registry: RegistryRecord.fetch(db, id: id, org: orgA)!, registryHost: "127.0.0.1:5000", now: Date(), in: db)
        }
        #expect(first.newTags == 20 && first.scansEnqueued == 20 && first.repositories == 5)
        // Scans of the first round ran: mark them done and the tags scanned.
        try await f.services.db.writer.write { db in
            try db.execute(sql: "UPDATE jobs SET status = 'succeeded'")
            try db.execute(sql: "UPDATE image_tags SET last_scanned_at = '2026-11-29T00:00:00Z'")
        }
        var second = tags.filter { !($0.repository == "repo4") }  // repo4 vanished
        second[0].digest = Self.d(999)  // repo0:t0 changed
        second.append(DiscoveredTag(repository: "repo0", tag: "t9", digest: Self.d(1000)))  // new tag
        second.remove(at: 1)  // repo0:t1 removed
        let round2 = second
        let out = try await f.services.db.writer.write { db in
            try SyncStore.apply(round2, registry: RegistryRecord.fetch(db, id: id, org: orgA)!, registryHost: "127.0.0.1:5000", now: Date(), in: db)
        }
        #expect(out.newTags == 1)
        #expect(out.changedTags == 1)
        #expect(out.removedImages == 1)
        #expect(out.removedTags == 5)
        #expect(out.scansEnqueued == 1, "a daily registry scans new digests of never-scanned tags only")
        let queued = try await f.services.db.writer.read { db in
            try String.fetchAll(db, sql: "SELECT payload FROM jobs WHERE type = 'scan' AND status = 'queued'")
        }.map { try JSONDecoder().decode(ScanRequest.self, from: Data($0.utf8)) }
        #expect(queued.map(\.digest) == [Self.d(1000)])
        let count = try await f.services.db.writer.read { db in try Int.fetchOne(db, sql: "SELECT image_count FROM registries WHERE id = ?", arguments: [id]) }
        #expect(count == 4)
        // An on_push registry also rescans the changed digest.
        try await f.services.db.writer.write { db in try db.execute(sql: "UPDATE registries SET schedule = 'on_push'") }
        var third = second
        third[0].digest = Self.d(2000)
        let round3 = third
        let out3 = try await f.services.db.writer.write { db in
            try SyncStore.apply(round3, registry: RegistryRecord.fetch(db, id: id, org: orgA)!, registryHost: "127.0.0.1:5000", now: Date(), in: db)
        }
        #expect(out3.changedTags == 1 && out3.scansEnqueued == 1)
    }
}
