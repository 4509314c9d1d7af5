import Cron
import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Server
import Store
import Scan
import Testing

/// One set of registry HTTP clients for the whole test process (never deinitialised unshut).
let sharedClients = RegistryHTTPClients()

/// An appliance on an in-memory database with a real keyring file, two organizations
/// and a key for every role, driven through the router with no sockets.
struct Fixture: @unchecked Sendable {
    let services: AppServices
    let routes: RouteIndex
    let router: Router<AppRequestContext>
    let orgA: String
    let orgB: String
    /// Keys of org A by role.
    var keys: [Role: String] = [:]
    var adminB: String = ""
    var sensorKey: String = ""
    var sensorRegistry: String = ""
    var registryA: String = ""
    var registryB: String = ""
    var expiredKey: String = ""
    var revokedKey: String = ""
    var patDeveloper: String = ""
    var userDeveloper: String = ""
    let tmp: String

    static func make() async throws -> Fixture {
        let tmp = NSTemporaryDirectory() + "hg-test-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        let keyringPath = tmp + "/keyring.json"
        try Keyring.generate().write(path: keyringPath)
        let db = try AppDatabase.inMemory()
        let services = AppServices(
            db: db, secrets: SecretStore(keyring: try KeyringStore(path: keyringPath)), jobs: JobStore(writer: db.writer),
            logger: Logger(label: "test"), config: ServerConfiguration(dataDir: tmp, bcryptCost: 4),
            vulnDB: try VulnerabilityDatabase.inMemory())
        let (router, routes) = buildRouter(services: services, crawler: Crawler(services: services, clients: sharedClients))
        let now = Date()
        let (orgA, orgB) = try await db.writer.write { db -> (String, String) in
            let a = IDs.make("org"), b = IDs.make("org")
            try db.execute(sql: "INSERT INTO organizations (id, name, created_at) VALUES (?, 'default', ?), (?, 'other', ?)",
                           arguments: [a, Timestamp.format(now), b, Timestamp.format(now)])
            return (a, b)
        }
        var f = Fixture(services: services, routes: routes, router: router, orgA: orgA, orgB: orgB, tmp: tmp)
        for role in Role.allCases {
            f.keys[role] = try await f.insertKey(org: orgA, role: role)
        }
        f.adminB = try await f.insertKey(org: orgB, role: .admin)
        f.expiredKey = try await f.insertKey(org: orgA, role: .owner, expiresAt: now.addingTimeInterval(-60))
        f.revokedKey = try await f.insertKey(org: orgA, role: .owner)
        let revoked = f.revokedKey
        try await db.writer.write { db in
            try db.execute(sql: "UPDATE api_keys SET revoked_at = ? WHERE token_hash = ?",
                           arguments: [Timestamp.format(now), Tokens.hash(revoked)])
        }
        return f
    }

    func insertKey(org: String, role: Role, expiresAt: Date? = nil) async throws -> String {
        try await services.db.writer.write { db in
            try DataDirectory.insertAPIKey(db, org: org, name: "k-\(role.rawValue)-\(UUID().uuidString.prefix(6))", role: role,
                                           createdBy: "test", now: Date(), expiresAt: expiresAt)
        }
    }

    /// Populates registries in both orgs, a sensor registry, and a developer user with a PAT.
    mutating func populate() async throws {
        let me = self
        let ids = try await test { c in
            let a = try await c.json(.post, "/api/registries", key: me.keys[.owner]!, body: [
                "name": "a", "provider": "DOCKER_REGISTRY", "url": "https://reg.example.test",
                "credentials": ["username": "u", "password": "pw-A-secret"],
            ])
            #expect(a.status == .created)
            let b = try await c.json(.post, "/api/registries", key: me.adminB, body: [
                "name": "b", "provider": "DOCKER_REGISTRY", "url": "https://reg-b.example.test",
            ])
            #expect(b.status == .created)
            let s = try await c.json(.post, "/api/registries", key: me.keys[.owner]!, body: [
                "name": "sensor", "provider": "DOCKER_REGISTRY", "url": "https://internal.example.test", "scanMethod": "sensor",
            ])
            #expect(s.status == .created)
            let u = try await c.json(.post, "/api/members", key: me.keys[.owner]!, body: [
                "username": "dev", "password": "correct horse battery", "role": "developer",
            ])
            #expect(u.status == .created)
            return (a.data["id"] as? String ?? "", b.data["id"] as? String ?? "", s.data["id"] as? String ?? "",
                    s.data["sensorApiKey"] as? String ?? "", u.data["id"] as? String ?? "")
        }
        registryA = ids.0
        registryB = ids.1
        sensorRegistry = ids.2
        sensorKey = ids.3
        userDeveloper = ids.4
        // A PAT for the developer, minted through sign-in → session → PAT.
        let cookie = try await signIn("dev", "correct horse battery")
        patDeveloper = try await test { c in
            let r = try await c.json(.post, "/api/personal-access-tokens", cookie: cookie, body: ["name": "cli"])
            #expect(r.status == .created)
            return r.data["key"] as? String ?? ""
        }
    }

    func signIn(_ user: String, _ password: String) async throws -> String {
        try await test { c in
            let r = try await c.json(.post, "/api/auth/sign-in", body: ["username": user, "password": password])
            #expect(r.status == .ok)
            let setCookie = r.headers[.setCookie] ?? ""
            return String(setCookie.split(separator: ";").first ?? "")
        }
    }

    func test<T: Sendable>(_ body: @Sendable @escaping (any TestClientProtocol) async throws -> T) async throws -> T {
        let app = Application(router: router)
        return try await app.test(.router) { client in try await body(client) }
    }
}


struct JSONResponse: @unchecked Sendable {
    var status: HTTPResponse.Status
    var headers: HTTPFields
    var body: [String: Any]
    var raw: String

    var data: [String: Any] { body["data"] as? [String: Any] ?? [:] }
    var errorCode: String? { (body["error"] as? [String: Any])?["code"] as? String }
    var issues: [[String: String]] {
        ((body["error"] as? [String: Any])?["issues"] as? [[String: Any]] ?? []).map {
            ["path": $0["path"] as? String ?? "", "message": $0["message"] as? String ?? ""]
        }
    }
    var issuePaths: [String] { issues.map { $0["path"] ?? "" } }
}

extension TestClientProtocol {
    func json(
        _ method: HTTPRequest.Method, _ uri: String, key: String? = nil, cookie: String? = nil, body: JSONBody? = nil,
        rawBody: String? = nil, contentType: String = "application/json", headers extra: HTTPFields = [:]
    ) async throws -> JSONResponse {
        var headers = extra
        if let key { headers[HTTPField.Name("X-API-Key")!] = key }
        if let cookie { headers[.cookie] = cookie }
        var buffer: ByteBuffer?
        if let body {
            buffer = ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body.value))
            headers[.contentType] = contentType
        } else if let rawBody {
            buffer = ByteBuffer(string: rawBody)
            headers[.contentType] = contentType
        }
        return try await execute(uri: uri, method: method, headers: headers, body: buffer) { r in
            let text = String(buffer: r.body)
            let obj = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:]
            return JSONResponse(status: r.status, headers: r.headers, body: obj, raw: text)
        }
    }
}

/// A JSON object literal for request bodies in tests.
struct JSONBody: @unchecked Sendable, ExpressibleByDictionaryLiteral {
    let value: [String: Any]
    init(dictionaryLiteral elements: (String, Any)...) {
        value = Dictionary(elements, uniquingKeysWith: { $1 })
    }
}
