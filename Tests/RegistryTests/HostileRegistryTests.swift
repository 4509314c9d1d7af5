import AsyncHTTPClient
import Foundation
import HTTPTestSupport
import NIOCore
import Testing
@testable import Registry

/// A registry that lies, loops, truncates, floods and storms: each case ends in a clear
/// error, never a crash, a hang or an allocation of what the server announces.
@Suite struct HostileRegistryTests {
    let layer = Data(repeating: 7, count: 4096)
    var layerDigest: Digest { Digest.sha256(of: layer) }

    func drain(_ stream: BlobStream) async throws(RegistryError) -> Int {
        var n = 0
        for try await chunk in stream { n += chunk.readableBytes }
        return n
    }

    @Test func wrongDigestBlobThrowsAtTheEnd() async throws {
        let tampered = Data(repeating: 8, count: 4096)
        try await withFakeServer({ _ in FakeResponse(status: 200, body: tampered) }) { url in
            try await withHTTPClient { http in
                let client = try makeClient(http, url)
                let stream = try await client.fetchBlob(Repository("x"), digest: layerDigest, size: 4096)
                await #expect(throws: RegistryError.digestMismatch(expected: layerDigest.description, actual: Digest.sha256(of: tampered).description)) {
                    try await drain(stream)
                }
            }
        }
    }

    @Test func wrongDigestManifest() async throws {
        let image = TestImage(seed: "m")
        let other = TestImage(seed: "other")
        try await withFakeServer({ _ in FakeResponse(status: 200, headers: [("Content-Type", MediaType.ociManifest)], body: other.manifest) }) { url in
            try await withHTTPClient { http in
                let client = try makeClient(http, url)
                await #expect(throws: RegistryError.digestMismatch(expected: image.manifestDigest.description, actual: other.manifestDigest.description)) {
                    try await client.fetchManifest(Repository("x"), reference: .digest(image.manifestDigest))
                }
            }
        }
        // A Docker-Content-Digest that does not match the bytes.
        try await withFakeServer({ _ in
            FakeResponse(status: 200, headers: [("Content-Type", MediaType.ociManifest), ("Docker-Content-Digest", image.manifestDigest.description)], body: other.manifest)
        }) { url in
            try await withHTTPClient { http in
                await #expect(throws: RegistryError.self) {
                    try await makeClient(http, url).fetchManifest(Repository("x"), reference: .tag(.latest))
                }
            }
        }
    }

    @Test func truncatedBlob() async throws {
        // Streamed without Content-Length, half the bytes, clean end.
        try await withFakeServer({ [layer] _ in FakeResponse(status: 200, chunks: [layer.prefix(2048)]) }) { url in
            try await withHTTPClient { http in
                let stream = try await makeClient(http, url).fetchBlob(Repository("x"), digest: layerDigest, size: 4096)
                await #expect(throws: RegistryError.sizeMismatch(expected: 4096, actual: 2048)) { try await drain(stream) }
            }
        }
        // Content-Length promised, connection dropped mid-body.
        try await withFakeServer({ [layer] _ in
            FakeResponse(status: 200, headers: [("Content-Length", "4096")], chunks: [layer.prefix(1000)], failAfterChunks: true)
        }) { url in
            try await withHTTPClient { http in
                let stream = try await makeClient(http, url).fetchBlob(Repository("x"), digest: layerDigest)
                await #expect(throws: RegistryError.self) { try await drain(stream) }
            }
        }
        // More bytes than the descriptor says: cut off as soon as it passes the size.
        try await withFakeServer({ [layer] _ in FakeResponse(status: 200, chunks: [layer, layer]) }) { url in
            try await withHTTPClient { http in
                let stream = try await makeClient(http, url).fetchBlob(Repository("x"), digest: layerDigest, size: 4096)
                await #expect(throws: RegistryError.self) { try await drain(stream) }
            }
        }
    }

    @Test func endlessRedirects() async throws {
        // The same URL again: a loop.
        try await withFakeServer({ r in .status(302, headers: [("Location", r.path)]) }) { url in
            try await withHTTPClient { http in
                await #expect(throws: RegistryError.badRedirect("redirect loop")) {
                    try await makeClient(http, url).fetchBlob(Repository("x"), digest: layerDigest)
                }
            }
        }
        // Always a new URL: the hop cap.
        let counter = Counter()
        try await withFakeServer({ r in
            await counter.hit("hop")
            return .status(307, headers: [("Location", "/hop/\(await counter.count("hop"))")])
        }) { url in
            try await withHTTPClient { http in
                await #expect(throws: RegistryError.badRedirect("more than 5 redirects")) {
                    try await makeClient(http, url).fetchBlob(Repository("x"), digest: layerDigest)
                }
                #expect(await counter.count("hop") == 6)
            }
        }
        // To a non-http scheme.
        try await withFakeServer({ _ in .status(302, headers: [("Location", "file:///etc/passwd")]) }) { url in
            try await withHTTPClient { http in
                await #expect(throws: RegistryError.self) { try await makeClient(http, url).fetchBlob(Repository("x"), digest: layerDigest) }
            }
        }
    }

    @Test func hugeContentLengthIsNeverAllocated() async throws {
        // 10 GB announced, a few bytes sent: refused from the header alone.
        let huge = "10737418240"
        try await withFakeServer({ _ in
            FakeResponse(status: 200, headers: [("Content-Length", huge), ("Content-Type", MediaType.ociManifest)], chunks: [Data("{".utf8)], failAfterChunks: true)
        }) { url in
            try await withHTTPClient { http in
                let client = try makeClient(http, url)
                await #expect(throws: RegistryError.tooLarge("manifest announces 10737418240 bytes, the limit is 4194304")) {
                    try await client.fetchManifest(Repository("x"), reference: .tag(.latest))
                }
                await #expect(throws: RegistryError.sizeMismatch(expected: 4096, actual: 10_737_418_240)) {
                    try await client.fetchBlob(Repository("x"), digest: layerDigest, size: 4096)
                }
                await #expect(throws: RegistryError.self) { try await client.listTags(Repository("x")) }
            }
        }
        // A manifest that streams past 4 MiB without announcing it.
        let chunk = Data(repeating: 0x20, count: 1 << 20)
        try await withFakeServer({ _ in FakeResponse(status: 200, headers: [("Content-Type", MediaType.ociManifest)], chunks: Array(repeating: chunk, count: 5)) }) { url in
            try await withHTTPClient { http in
                await #expect(throws: RegistryError.tooLarge("manifest is over 4194304 bytes")) {
                    try await makeClient(http, url).fetchManifest(Repository("x"), reference: .tag(.latest))
                }
            }
        }
    }

    @Test func malformedJSON() async throws {
        try await withFakeServer({ r in
            if r.path.hasSuffix("/manifests/latest") { return FakeResponse(status: 200, headers: [("Content-Type", MediaType.ociManifest)], body: Data("{\"schemaVersion\":2,\"config\":".utf8)) }
            if r.path == "/v2/_catalog" { return FakeResponse(status: 200, body: Data("{\"repositories\":{}}".utf8)) }
            return FakeResponse(status: 200, body: Data("[[[[".utf8))
        }) { url in
            try await withHTTPClient { http in
                let client = try makeClient(http, url)
                await #expect(throws: RegistryError.invalidResponse("tags of x: malformed JSON")) { try await client.listTags(Repository("x")) }
                await #expect(throws: RegistryError.invalidResponse("catalog: malformed JSON")) { try await client.listRepositories() }
                await #expect(throws: RegistryError.invalidResponse("manifest is not valid JSON")) {
                    try await client.fetchManifest(Repository("x"), reference: .tag(.latest))
                }
            }
        }
        // A token endpoint answering junk.
        try await withFakeServer({ r in
            if r.path == "/token" { return FakeResponse(status: 200, body: Data("<html>".utf8)) }
            return .status(401, headers: [("WWW-Authenticate", "Bearer realm=\"http://\(r.header("host") ?? "")/token\"")])
        }) { url in
            try await withHTTPClient { http in
                await #expect(throws: RegistryError.invalidResponse("token response has no token")) {
                    try await makeClient(http, url).listTags(Repository("x"))
                }
            }
        }
    }

    @Test func rateLimitStormIsBounded() async throws {
        let counter = Counter()
        try await withFakeServer({ _ in
            await counter.hit("req")
            return .status(429, headers: [("Retry-After", "0")])
        }) { url in
            try await withHTTPClient { http in
                let client = try makeClient(http, url, retry: RetryPolicy(maxAttempts: 4, baseDelay: .milliseconds(5), maxDelay: .milliseconds(20), maxTotalDelay: .seconds(1)))
                await #expect(throws: RegistryError.rateLimited("HTTP 429 after 4 attempt(s)")) { try await client.listTags(Repository("x")) }
                #expect(await counter.count("req") == 4)
            }
        }
        // A Retry-After beyond the time budget stops at once instead of sleeping for an hour.
        try await withFakeServer({ _ in
            await counter.hit("long")
            return .status(429, headers: [("Retry-After", "3600")])
        }) { url in
            try await withHTTPClient { http in
                let impatient = try makeClient(http, url, retry: RetryPolicy(maxAttempts: 10, baseDelay: .milliseconds(5), maxDelay: .seconds(60), maxTotalDelay: .seconds(1)))
                let start = ContinuousClock.now
                await #expect(throws: RegistryError.rateLimited("HTTP 429 after 1 attempt(s)")) { try await impatient.listTags(Repository("x")) }
                #expect(ContinuousClock.now - start < .seconds(2))
                #expect(await counter.count("long") == 1)
            }
        }
        try await withFakeServer({ _ in .status(503, headers: [("Retry-After", "Wed, 21 Oct 2015 07:28:00 GMT")]) }) { url in
            try await withHTTPClient { http in
                await #expect(throws: RegistryError.httpStatus(503, "after 3 attempt(s)")) { try await makeClient(http, url).listTags(Repository("x")) }
            }
        }
    }

    @Test func headRefusedFallsBackToGet() async throws {
        let image = TestImage(seed: "h")
        try await withFakeServer({ r in
            if r.method == "HEAD" { return .status(405) }
            return FakeResponse(status: 200, headers: [("Content-Type", MediaType.ociManifest)], body: image.manifest)
        }) { url in
            try await withHTTPClient { http in
                let digest = try await makeClient(http, url).resolveDigest(Repository("x"), reference: .tag(.latest))
                #expect(digest == image.manifestDigest)
            }
        }
    }

    @Test func pagingTricks() async throws {
        try await withFakeServer({ _ in .json(200, ["repositories": ["a"]], headers: [("Link", "</v2/_catalog?n=100>; rel=\"next\"")]) }) { url in
            try await withHTTPClient { http in
                await #expect(throws: RegistryError.invalidResponse("catalog: paging loops")) { try await makeClient(http, url).listRepositories() }
            }
        }
        try await withFakeServer({ _ in .json(200, ["repositories": ["a"]], headers: [("Link", "<https://elsewhere.example/v2/_catalog?x>; rel=\"next\"")]) }) { url in
            try await withHTTPClient { http in
                await #expect(throws: RegistryError.invalidResponse("catalog: next page link leaves the registry")) { try await makeClient(http, url).listRepositories() }
            }
        }
    }

    @Test func errorDescriptionsCarryNoSecrets() async throws {
        try await withFakeServer({ r in
            .json(401, ["errors": [["code": "UNAUTHORIZED", "message": "nope"]]], headers: [("WWW-Authenticate", "Basic realm=\"r\"")])
        }) { url in
            try await withHTTPClient { http in
                let client = try makeClient(http, url, credentials: .usernamePassword(username: "user", password: "hunter2-very-secret"))
                do {
                    _ = try await client.listTags(Repository("x"))
                    Issue.record("expected failure")
                } catch {
                    #expect(!"\(error)".contains("hunter2"))
                    #expect(!"\(error)".contains(Data("user:hunter2-very-secret".utf8).base64EncodedString()))
                }
                let result = await client.testConnection(timeout: .seconds(10))
                #expect(result.status == .authFailed)
                #expect(!result.message.contains("hunter2"))
            }
        }
    }
}
