import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Server
import Store
import Testing

/// Every documented operation × a registry-scoped key and a role-capped PAT. The expectations are
/// written here, independently of the server's own declarations, and the OpenAPI document's
/// `x-registry-scoped-key` must agree with them.
@Suite struct ScopedCredentialMatrixTests {
    /// Operations a scoped key may call on its own registry (the README's table).
    static let scopedAllowed: Set<String> = [
        "GET /api/registries", "GET /api/registries/{registryId}", "PUT /api/registries/{registryId}",
        "DELETE /api/registries/{registryId}", "POST /api/registries/{registryId}/webhook-token",
        "POST /api/registries/test-connection", "POST /api/registries/{registryId}/sync",
        "GET /api/registries/{registryId}/sensor-status", "GET /api/images", "GET /api/images/{imageId}",
        "POST /api/scans", "GET /api/scans", "GET /api/scans/{scanId}", "GET /api/scans/{scanId}/status",
        "POST /api/scans/{scanId}/cancel", "DELETE /api/scans/{scanId}", "GET /api/scans/{scanId}/findings",
        "GET /api/scans/{scanId}/packages", "GET /api/scans/{scanId}/sbom", "GET /api/vulnerabilities",
        "PUT /api/vulnerabilities/{vulnId}/triage", "POST /api/vulnerabilities/{vulnId}/triage", "GET /api/jobs/{jobId}",
        "POST /api/auth/sign-out", "GET /api/fixes", "GET /api/images/{imageId}/fixes", "GET /api/reports/findings.csv",
        "GET /api/reports/images.csv", "GET /api/reports/vulnerabilities.csv", "GET /api/reports/fixes.csv",
        "POST /api/vex", "GET /api/images/{imageId}/vex", "POST /api/policy/check",
    ]

    /// The documented template a concrete matrix path belongs to.
    static func template(of path: String, method: String, in doc: [String: [String: Any]]) -> String? {
        let segs = path.split(separator: "/")
        let matches = doc.filter { t, ops in
            let ts = t.split(separator: "/")
            return ops[method.lowercased()] != nil && ts.count == segs.count
                && zip(ts, segs).allSatisfy { $0.hasPrefix("{") || $0 == $1 }
        }.map(\.key)
        // A literal segment beats a parameter (`/api/registries/test-connection` over `{registryId}`).
        return matches.max { a, b in a.filter { $0 == "{" }.count > b.filter { $0 == "{" }.count }
    }

    static func documentedOperations(_ c: any TestClientProtocol) async throws -> [String: [String: Any]] {
        let doc = try await c.json(.get, "/api/openapi.json")
        return doc.body["paths"] as? [String: [String: Any]] ?? [:]
    }

    @Test func everyDocumentedOperationIsInTheMatrixAndItsScopeIsDocumented() async throws {
        var f = try await Fixture.make()
        try await f.populate()
        let fx = f
        try await f.test { c in
            let paths = try await Self.documentedOperations(c)
            let covered = Set(AuthorizationMatrixTests.endpoints(registry: fx.registryA).compactMap { e in
                Self.template(of: e.path, method: e.method.rawValue, in: paths).map { "\(e.method.rawValue) \($0)" }
            })
            for (path, ops) in paths {
                for (method, op) in ops {
                    guard let op = op as? [String: Any] else { continue }
                    let key = "\(method.uppercased()) \(path)"
                    let open = (op["security"] as? [Any])?.isEmpty == true
                    if open { continue }  // health, metrics, the document, sign-in, push events
                    #expect(covered.contains(key), "\(key) is documented but not in the authorization matrix")
                    guard !path.hasPrefix("/api/sensor/") else { continue }
                    let declared = op["x-registry-scoped-key"] as? String ?? ""
                    if Self.scopedAllowed.contains(key) {
                        #expect(declared.hasPrefix("own registry"), "\(key): \(declared)")
                    } else {
                        #expect(declared == "refused (403)", "\(key): \(declared)")
                    }
                }
            }
        }
    }

    @Test func aScopedKeyReachesItsRegistryAndNothingOrganizationWide() async throws {
        var f = try await Fixture.make()
        try await f.populate()
        let fx = f
        try await f.test { c in
            let paths = try await Self.documentedOperations(c)
            // An owner-role key, so that only the scope can refuse it.
            let made = try await c.json(
                .post, "/api/api-keys", key: fx.keys[.owner]!, body: ["name": "scoped", "role": "owner", "registryId": fx.registryA])
            #expect(made.status == .created)
            let scoped = made.data["key"] as? String ?? ""
            for e in AuthorizationMatrixTests.endpoints(registry: fx.registryA) where !e.sensorOnly && !e.usersOnly {
                let key = Self.template(of: e.path, method: e.method.rawValue, in: paths).map { "\(e.method.rawValue) \($0)" } ?? ""
                let r = try await c.json(e.method, e.path, key: scoped, body: e.body)
                // The matrix triages with organization scope, which a scoped key may not (image
                // scope on its own images is tested end to end).
                if Self.scopedAllowed.contains(key) && !key.hasSuffix("/triage") {
                    #expect(r.status != .forbidden && r.status != .unauthorized && r.status.code < 500, "\(key): \(r.status) \(r.raw)")
                } else {
                    #expect(r.status == .forbidden, "\(key): \(r.status) \(r.raw)")
                    let message = (r.body["error"] as? [String: Any])?["message"] as? String ?? ""
                    #expect(message.contains(fx.registryA), "\(key): \(message)")
                }
            }
            // The same operations on another registry of the same organization: not found.
            for e in AuthorizationMatrixTests.endpoints(registry: fx.sensorRegistry)
            where e.path.contains(fx.sensorRegistry) && !e.sensorOnly {
                let r = try await c.json(e.method, e.path, key: scoped, body: e.body)
                #expect(r.status == .notFound, "\(e.method) \(e.path): \(r.status)")
            }
            // A scoped key cannot mint anything, scoped or not.
            let mint = try await c.json(.post, "/api/api-keys", key: scoped, body: ["name": "x", "role": "viewer", "registryId": fx.registryA])
            #expect(mint.status == .forbidden)
        }
    }

    @Test func aCappedPATActsAsItsCapOnEveryOperation() async throws {
        var f = try await Fixture.make()
        try await f.populate()
        let fx = f
        // An admin user whose PAT is capped at viewer.
        _ = try await f.test { c in
            try await c.json(.post, "/api/members", key: fx.keys[.owner]!, body: [
                "username": "boss", "password": "correct horse battery", "role": "admin",
            ])
        }
        let cookie = try await f.signIn("boss", "correct horse battery")
        let capped: String = try await f.test { c in
            let r = try await c.json(.post, "/api/personal-access-tokens", cookie: cookie, body: ["name": "ro", "role": "viewer"])
            #expect(r.status == .created)
            return r.data["key"] as? String ?? ""
        }
        try await f.test { c in
            for e in AuthorizationMatrixTests.endpoints(registry: fx.registryA) where !e.sensorOnly {
                let r = try await c.json(e.method, e.path, key: capped, body: e.body)
                let allowed = Role.viewer >= e.min || e.alsoAllowed.contains(.viewer)
                if allowed {
                    #expect(r.status != .forbidden && r.status != .unauthorized, "\(e.method) \(e.path): \(r.status) \(r.raw)")
                } else {
                    #expect(r.status == .forbidden, "\(e.method) \(e.path): \(r.status)")
                }
            }
            // What it makes is capped too, whether or not it names a role.
            let child = try await c.json(.post, "/api/personal-access-tokens", key: capped, body: ["name": "child"])
            #expect(child.status == .created)
            #expect(child.data["role"] as? String == "viewer")
            let childKey = child.data["key"] as? String ?? ""
            do { let r = try await c.json(.get, "/api/members", key: childKey); #expect(r.status == .forbidden) }
            let wider = try await c.json(.post, "/api/personal-access-tokens", key: capped, body: ["name": "w", "role": "admin"])
            #expect(wider.status == .badRequest)
            #expect(wider.issuePaths == ["role"])
        }
    }

    @Test func aKeyMadeByAnExpiringKeyExpiresNoLater() async throws {
        let f = try await Fixture.make()
        try await f.test { c in
            let soon = Date().addingTimeInterval(3600)
            let fmt = ISO8601DateFormatter()
            let maker = try await c.json(
                .post, "/api/api-keys", key: f.keys[.owner]!, body: ["name": "m", "role": "admin", "expiresAt": fmt.string(from: soon)])
            #expect(maker.status == .created)
            let makerKey = maker.data["key"] as? String ?? ""
            let child = try await c.json(.post, "/api/api-keys", key: makerKey, body: ["name": "c", "role": "admin"])
            #expect(child.status == .created)
            #expect(child.data["expiresAt"] as? String == maker.data["expiresAt"] as? String)
            let later = try await c.json(.post, "/api/api-keys", key: makerKey, body: [
                "name": "l", "role": "admin", "expiresAt": fmt.string(from: soon.addingTimeInterval(86400)),
            ])
            #expect(later.status == .badRequest)
            #expect(later.issuePaths == ["expiresAt"])
        }
    }
}
