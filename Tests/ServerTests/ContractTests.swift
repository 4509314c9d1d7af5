import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Server
import Store
import Testing

/// Answers checked field by field against the contract (the README and `/api/openapi.json`).
@Suite struct ContractTests {
    @Test func deleteAnswersABooleanDeleted() async throws {
        var f = try await Fixture.make()
        try await f.populate()
        let fx = f
        try await f.test { c in
            let owner = fx.keys[.owner]!
            let channel = try await c.json(.post, "/api/notification-channels", key: owner, body: [
                "name": "n", "url": "https://hooks.example.test/x", "events": ["scan_complete"],
            ])
            let channelId = channel.data["id"] as? String ?? ""
            for path in ["/api/registries/\(fx.registryA)", "/api/members/\(fx.userDeveloper)", "/api/notification-channels/\(channelId)"] {
                let r = try await c.json(.delete, path, key: owner)
                #expect(r.status == .ok, "\(path): \(r.raw)")
                #expect(r.raw.contains(#""deleted":true"#), "\(path): \(r.raw)")
                #expect(r.data["id"] as? String == path.split(separator: "/").last.map(String.init))
            }
        }
    }

    @Test func aSensorRegistrysSyncJobHasADocumentedType() async throws {
        var f = try await Fixture.make()
        try await f.populate()
        let fx = f
        try await f.test { c in
            let doc = try await c.json(.get, "/api/openapi.json")
            let schemas = (doc.body["components"] as? [String: Any])?["schemas"] as? [String: Any]
            let job = (schemas?["Job"] as? [String: Any])?["properties"] as? [String: Any]
            let documented = (job?["type"] as? [String: Any])?["enum"] as? [String] ?? []
            for type in ["sync", "scan", "vulndb_update", "rematch", "notify", "sensor_sync", "sensor_scan"] {
                #expect(documented.contains(type), "\(type)")
            }
            let sync = try await c.json(.post, "/api/registries/\(fx.sensorRegistry)/sync", key: fx.keys[.admin]!)
            #expect(sync.status == .accepted)
            let id = sync.data["jobId"] as? String ?? ""
            let read = try await c.json(.get, "/api/jobs/\(id)", key: fx.keys[.viewer]!)
            #expect(read.data["type"] as? String == "sensor_sync")
            #expect(documented.contains(read.data["type"] as? String ?? "?"))
        }
    }
}
