import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Server
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
}
