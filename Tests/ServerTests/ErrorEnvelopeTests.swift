import Foundation
import HTTPTypes
import NIOCore
import Server
import Store
import Testing
import HummingbirdTesting
import GRDB

/// Malformed input of every kind gets the JSON error envelope, never a 500.
@Suite struct ErrorEnvelopeTests {
    @Test func malformedBodies() async throws {
        let f = try await Fixture.make()
        try await f.test { c in
            let admin = f.keys[.admin]!
            for raw in ["{", "not json", "[1,2]", "\"str\"", "", String(repeating: "[", count: 100_000)] {
                let r = try await c.json(.post, "/api/registries", key: admin, rawBody: raw)
                #expect(r.status == .badRequest, "\(raw.prefix(20))")
                #expect(r.errorCode == "BAD_REQUEST")
            }
            let invalidUTF8 = try await c.execute(
                uri: "/api/registries", method: .post,
                headers: [HTTPField.Name("X-API-Key")!: admin, .contentType: "application/json"],
                body: ByteBuffer(bytes: [0x7B, 0x22, 0xFF, 0xFE, 0x22, 0x3A, 0x31, 0x7D])
            ) { $0.status }
            #expect(invalidUTF8 == .badRequest)
            let wrongType = try await c.json(.post, "/api/registries", key: admin, rawBody: "name=x", contentType: "application/x-www-form-urlencoded")
            #expect(wrongType.status == .badRequest)
            #expect(wrongType.errorCode == "BAD_REQUEST")
            let huge = try await c.json(.post, "/api/registries", key: admin, rawBody: "{\"name\":\"" + String(repeating: "a", count: 2 << 20) + "\"}")
            #expect(huge.status == .contentTooLarge)
            #expect(huge.errorCode == "PAYLOAD_TOO_LARGE")
            let bigNumber = try await c.json(.post, "/api/registries", key: admin, rawBody: "{\"name\": 1e999, \"provider\": \"DOCKER_HUB\"}")
            #expect(bigNumber.status == .badRequest)
        }
    }

    /// Foundation's decoder accepts trailing commas and UTF-16/32 bodies; the API refuses
    /// both (RFC 8259), naming the problem, and still takes a UTF-8 byte order mark.
    @Test func bodiesOutsideRFC8259AreRefused() async throws {
        let f = try await Fixture.make()
        try await f.test { c in
            let admin = f.keys[.admin]!
            for raw in ["{\"name\": \"x\",}", "{\"name\": \"x\", \"scanners\": [\"native\",]}"] {
                let r = try await c.json(.post, "/api/registries", key: admin, rawBody: raw)
                #expect(r.status == .badRequest, "\(raw)")
                #expect((r.body["error"] as? [String: Any])?["message"] as? String == "The request body is not valid JSON: trailing comma before offset \(Array(raw.utf8).lastIndex(of: UInt8(ascii: ","))! + 1).")
            }
            let valid = "{\"name\": \"x,}\", \"provider\": \"DOCKER_HUB\"}"
            var utf16LE: [UInt8] = []
            for unit in valid.utf16 {
                utf16LE.append(UInt8(truncatingIfNeeded: unit))
                utf16LE.append(UInt8(truncatingIfNeeded: unit >> 8))
            }
            let withBOM: [UInt8] = [0xFF, 0xFE] + utf16LE
            for body in [utf16LE, withBOM] {
                let status = try await c.execute(
                    uri: "/api/registries", method: .post,
                    headers: [HTTPField.Name("X-API-Key")!: admin, .contentType: "application/json"],
                    body: ByteBuffer(bytes: body)
                ) { $0.status }
                #expect(status == .badRequest)
            }
            // A comma inside a string is not a trailing comma, and a UTF-8 BOM is allowed.
            let bom = try await c.execute(
                uri: "/api/registries", method: .post,
                headers: [HTTPField.Name("X-API-Key")!: admin, .contentType: "application/json"],
                body: ByteBuffer(bytes: [0xEF, 0xBB, 0xBF] + Array(valid.utf8))
            ) { $0.status }
            #expect(bom == .created)
        }
    }

    @Test func unknownRoutesAndMethods() async throws {
        let f = try await Fixture.make()
        try await f.test { c in
            let nf = try await c.json(.get, "/api/nothing-here", key: f.keys[.admin]!)
            #expect(nf.status == .notFound)
            #expect(nf.errorCode == "NOT_FOUND")
            let m = try await c.json(.patch, "/api/registries", key: f.keys[.admin]!)
            #expect(m.status == .methodNotAllowed)
            #expect(m.errorCode == "METHOD_NOT_ALLOWED")
            #expect(m.headers[.allow]?.contains("GET") == true)
            let m2 = try await c.json(.post, "/api/registries/reg_x", key: f.keys[.admin]!)
            #expect(m2.status == .methodNotAllowed)
            #expect(m2.headers[.contentType]?.hasPrefix("application/json") == true)
        }
    }

    @Test func openAPIDocumentsEveryRoute() async throws {
        let f = try await Fixture.make()
        let doc = try await f.test { c in
            try await c.json(.get, "/api/openapi.json")
        }
        #expect(doc.status == .ok)
        #expect(doc.body["openapi"] as? String == "3.1.0")
        let paths = doc.body["paths"] as? [String: [String: Any]] ?? [:]
        #expect(!f.routes.all.isEmpty)
        for route in f.routes.all {
            #expect(paths[route.path]?[route.method.lowercased()] != nil, "\(route.method) \(route.path) is not in the OpenAPI document")
        }
        // And nothing documented that the router does not answer.
        let served = Set(f.routes.all.map { "\($0.method.lowercased()) \($0.path)" })
        for (path, ops) in paths {
            for method in ops.keys { #expect(served.contains("\(method) \(path)"), "\(method) \(path) is documented but not served") }
        }
    }

    @Test func healthAndReadiness() async throws {
        let f = try await Fixture.make()
        try await f.test { c in
            do { let r = try await c.json(.get, "/healthz"); #expect(r.status == .ok) }
            // No workers have reported in this router-only test, so not ready, with a reason.
            let r = try await c.json(.get, "/readyz")
            #expect(r.status == .serviceUnavailable)
            #expect(r.errorCode == "SERVICE_UNAVAILABLE")
            let m = try await c.execute(uri: "/metrics", method: .get) { $0 }
            #expect(m.status == .ok)
        }
    }
}

/// The hand-written JSON of the registry list must equal JSONEncoder's for the same object.
@Suite struct JSONWriterTests {
    @Test func registryListMatchesTheEncodersOutput() async throws {
        let f = try await Fixture.make()
        try await f.test { c in
            let tricky = "quote\" back\\slash é 🚢 </script> \u{2028}"
            let r = try await c.json(.post, "/api/registries", key: f.keys[.admin]!, body: [
                "name": tricky, "provider": "DOCKER_REGISTRY", "url": "https://r.example/v2path", "includeTags": "v*,release-[0-9]*",
                "credentials": ["username": "u", "password": "p"],
            ])
            #expect(r.status == .created)
            let id = r.data["id"] as? String ?? ""
            let single = try await c.execute(uri: "/api/registries/\(id)", method: .get,
                                             headers: [HTTPField.Name("X-API-Key")!: f.keys[.admin]!]) { String(buffer: $0.body) }
            let list = try await c.execute(uri: "/api/registries", method: .get,
                                           headers: [HTTPField.Name("X-API-Key")!: f.keys[.admin]!]) { String(buffer: $0.body) }
            // {"data":{…}} from JSONEncoder; the same object must appear verbatim in the list.
            let object = String(single.dropFirst(#"{"data":"#.count).dropLast())
            #expect(list.hasPrefix(#"{"data":["# + object + "]"), "\(list)\n\(object)")
            let parsed = try JSONSerialization.jsonObject(with: Data(list.utf8)) as? [String: Any]
            let first = (parsed?["data"] as? [[String: Any]])?.first
            #expect(first?["name"] as? String == tricky)
            #expect((parsed?["meta"] as? [String: Any])?["total"] as? Int == 1)
        }
    }
}
