import AsyncHTTPClient
import Foundation
import HTTPTestSupport
import NIOCore
import Synchronization
import Testing
@testable import Registry

/// A settable clock for token-expiry tests.
final class TestClock: Sendable {
    private let value = Mutex(Date(timeIntervalSince1970: 1_800_000_000))
    var now: Date { value.withLock { $0 } }
    func advance(_ seconds: TimeInterval) { value.withLock { $0 = $0.addingTimeInterval(seconds) } }
}

@Suite struct ClientTests {
    func filledRegistry() async -> FakeRegistry {
        let fake = FakeRegistry()
        for i in 0..<3 { await fake.add("team/app\(i)", tag: "v1", image: TestImage(seed: "app\(i)")) }
        return fake
    }

    @Test func anonymousRegistryConnectsAndLists() async throws {
        let fake = await filledRegistry()
        try await withFakeServer(fake.handler) { url in
            try await withHTTPClient { http in
                let client = try makeClient(http, url)
                let result = await client.testConnection(timeout: .seconds(10))
                #expect(result.status == .ok)
                #expect(result.authScheme == .none)
                #expect(result.repositories == ["team/app0", "team/app1", "team/app2"])
                #expect(result.latencyMs >= 0)
                let tags = try await client.listTags(Repository("team/app1"))
                #expect(tags.map(\.name) == ["v1"])
            }
        }
    }

    @Test func basicAuthRetriesOnceAndReportsFailure() async throws {
        let fake = await filledRegistry()
        await fake.setAuth(.basic(user: "alice", password: "s3cret"))
        try await withFakeServer(fake.handler) { url in
            try await withHTTPClient { http in
                let good = try makeClient(http, url, credentials: .usernamePassword(username: "alice", password: "s3cret"))
                let result = await good.testConnection(timeout: .seconds(10))
                #expect(result.status == .ok)
                #expect(result.authScheme == .basic)
                // One 401 teaches the scheme; later requests send Basic up front.
                let before = await fake.counter.count("401")
                _ = try await good.listTags(Repository("team/app0"))
                _ = try await good.listTags(Repository("team/app0"))
                #expect(await fake.counter.count("401") - before <= 1)

                let bad = try makeClient(http, url, credentials: .usernamePassword(username: "alice", password: "wrong"))
                let failed = await bad.testConnection(timeout: .seconds(10))
                #expect(failed.status == .authFailed)
                #expect(failed.authScheme == .basic)
                #expect(!failed.message.contains("wrong"))
                let start = await fake.counter.count("401")
                await #expect(throws: RegistryError.authFailed("the registry refused the credentials (HTTP 401)")) {
                    try await bad.listTags(Repository("team/app0"))
                }
                // At most one auth retry per request: exactly two 401s.
                #expect(await fake.counter.count("401") - start == 2)

                let anonymous = try makeClient(http, url)
                #expect(await anonymous.testConnection(timeout: .seconds(10)).status == .authFailed)
            }
        }
    }

    @Test func bearerTokensAreCachedAndSharedByConcurrentRequests() async throws {
        let fake = await filledRegistry()
        await fake.setAuth(.bearer(credentials: (user: "bob", password: "pw"), expiresIn: 300, tokenField: "token"))
        let clock = TestClock()
        try await withFakeServer(fake.handler) { url in
            try await withHTTPClient { http in
                var config = RegistryClient.Configuration(url: url, credentials: .usernamePassword(username: "bob", password: "pw"), insecure: true, retry: fastRetry)
                config.requestTimeout = .seconds(10)
                let client = try RegistryClient(configuration: config, httpClient: http, logger: testLogger, now: { clock.now })
                let result = await client.testConnection(timeout: .seconds(10))
                #expect(result.status == .ok)
                #expect(result.authScheme == .bearer)
                #expect(result.repositories.count == 3)
                // Learn the scheme first, then 20 concurrent requests for one scope → one token fetch.
                _ = try await client.listTags(Repository("team/app0"))
                let tokensBefore = await fake.counter.count("GET /token")
                let repo = try Repository("team/app1")
                try await withThrowingTaskGroup(of: Int.self) { group in
                    for _ in 0..<20 { group.addTask { try await client.listTags(repo).count } }
                    for try await n in group { #expect(n == 1) }
                }
                #expect(await fake.counter.count("GET /token") == tokensBefore + 1)
                // Cached until expiry (300 s minus margin), then fetched again.
                _ = try await client.listTags(repo)
                #expect(await fake.counter.count("GET /token") == tokensBefore + 1)
                clock.advance(290)
                _ = try await client.listTags(repo)
                #expect(await fake.counter.count("GET /token") == tokensBefore + 2)
            }
        }
    }

    @Test func accessTokenFieldAndDefaultExpiry() async throws {
        let fake = await filledRegistry()
        await fake.setAuth(.bearer(credentials: nil, expiresIn: nil, tokenField: "access_token"))
        try await withFakeServer(fake.handler) { url in
            try await withHTTPClient { http in
                let client = try makeClient(http, url)
                let result = await client.testConnection(timeout: .seconds(10))
                #expect(result.status == .ok)
                #expect(result.message.contains("anonymous"))
                #expect(try await client.listTags(Repository("team/app2")).count == 1)
            }
        }
        let t0 = Date(timeIntervalSince1970: 0)
        #expect(RegistryClient.expiry(now: t0, expiresIn: nil) == t0.addingTimeInterval(48))
        #expect(RegistryClient.expiry(now: t0, expiresIn: 3600) == t0.addingTimeInterval(3570))
    }

    @Test func identityTokenPostsRefreshTokenAndFallsBackToGet() async throws {
        let fake = await filledRegistry()
        await fake.setAuth(.bearer(credentials: (user: "ci", password: "idtoken"), expiresIn: 60, tokenField: "token"))
        await fake.setRefreshTokens(["idtoken"])
        try await withFakeServer(fake.handler) { url in
            try await withHTTPClient { http in
                let client = try makeClient(http, url, provider: .jfrog, credentials: .jfrogIdentityToken(username: "ci", identityToken: "idtoken"))
                #expect(try await client.listTags(Repository("team/app0")).count == 1)
                #expect(await fake.counter.count("POST /token") == 1)
                #expect(await fake.counter.count("GET /token") == 0)
                // A realm without OAuth2 (POST → 404) gets the Basic GET instead.
                await fake.setRefreshTokens(nil)
                let other = try makeClient(http, url, provider: .jfrog, credentials: .jfrogIdentityToken(username: "ci", identityToken: "idtoken"))
                #expect(try await other.listTags(Repository("team/app0")).count == 1)
                #expect(await fake.counter.count("GET /token") == 1)
            }
        }
    }

    @Test func pagesThroughCatalogAndTags() async throws {
        let fake = FakeRegistry()
        let image = TestImage(seed: "p")
        for i in 0..<45 { await fake.add(String(format: "r/%02d", i), tag: "t", image: image) }
        for i in 0..<33 { await fake.add("big", tag: String(format: "v%03d", i), image: image) }
        try await withFakeServer(fake.handler) { url in
            try await withHTTPClient { http in
                let client = try makeClient(http, url, pageSize: 10)
                let repos = try await client.listRepositories()
                #expect(repos.count == 46)
                #expect(await fake.counter.count("GET /v2/_catalog") == 5)
                let tags = try await client.listTags(Repository("big"))
                #expect(tags.count == 33)
                #expect(tags.first?.name == "v000")
                #expect(try await client.listRepositories(limit: 12).count == 12)
                // A page cap stops a registry that never ends.
                let capped = try makeClient(http, url, pageSize: 10) { $0.maxPages = 2 }
                await #expect(throws: RegistryError.invalidResponse("catalog: more than 2 pages")) { try await capped.listRepositories() }
            }
        }
    }

    @Test func manifestsIndexesAndPlatformSelection() async throws {
        let fake = FakeRegistry()
        let amd = TestImage(seed: "amd", layerCount: 2)
        let arm = TestImage(seed: "arm", arch: "arm64")
        let docker = TestImage(seed: "docker", mediaType: MediaType.dockerManifest)
        await fake.add("multi", tag: "amd-only", image: amd)
        await fake.add("multi", tag: "arm-only", image: arm)
        await fake.add("multi", tag: "docker", image: docker)
        await fake.putManifest("multi", docker.manifest, MediaType.dockerManifest, tag: "docker")
        let index = TestImage.index([(amd, "linux", "amd64", nil), (arm, "linux", "arm64", "v8")], mediaType: MediaType.dockerManifestList)
        await fake.putManifest("multi", index, MediaType.dockerManifestList, tag: "latest")
        try await withFakeServer(fake.handler) { url in
            try await withHTTPClient { http in
                let client = try makeClient(http, url)
                let repo = try Repository("multi")
                let fetched = try await client.fetchManifest(repo, reference: .tag(Tag("docker")))
                #expect(fetched.mediaType == MediaType.dockerManifest)
                #expect(fetched.digest == docker.manifestDigest)
                #expect(fetched.bytes == docker.manifest)
                let accept = await fake.seenAccept.last ?? ""
                for type in [MediaType.ociManifest, MediaType.ociIndex, MediaType.dockerManifest, MediaType.dockerManifestList] {
                    #expect(accept.contains(type))
                }
                // HEAD resolves the digest without a GET.
                let getsBefore = await fake.counter.count("GET /v2/multi/manifests/latest")
                let digest = try await client.resolveDigest(repo, reference: .tag(.latest))
                #expect(digest == Digest.sha256(of: index))
                #expect(await fake.counter.count("HEAD /v2/multi/manifests/latest") == 1)
                #expect(await fake.counter.count("GET /v2/multi/manifests/latest") == getsBefore)

                let host = client.registryHost
                let resolved = try await client.resolveImage(ImageReference("\(host)/multi"))
                #expect(resolved.digest == Digest.sha256(of: index))
                #expect(resolved.manifestDigest == amd.manifestDigest)
                #expect(resolved.manifest.layers.count == 2)
                let armResolved = try await client.resolveImage(ImageReference("\(host)/multi:latest"), platform: Platform(parsing: "linux/aarch64")!)
                #expect(armResolved.manifestDigest == arm.manifestDigest)
                await #expect(throws: RegistryError.self) {
                    try await client.resolveImage(ImageReference("\(host)/multi"), platform: Platform(parsing: "linux/s390x")!)
                }
                let all = try await client.resolveAllPlatforms(ImageReference("\(host)/multi"))
                #expect(all.map(\.manifestDigest) == [amd.manifestDigest, arm.manifestDigest])
                #expect(all.compactMap(\.platform?.description) == ["linux/amd64", "linux/arm64/v8"])
                #expect(try await client.resolveAllPlatforms(ImageReference("\(host)/multi:docker")).count == 1)
                let byDigest = try await client.resolveImage(ImageReference("\(host)/multi@\(arm.manifestDigest)"))
                #expect(byDigest.platform == nil)
                #expect(byDigest.manifestDigest == arm.manifestDigest)
                await #expect(throws: RegistryError.self) { try await client.fetchManifest(repo, reference: .tag(Tag("nope"))) }
                do {
                    _ = try await client.fetchManifest(repo, reference: .tag(Tag("nope")))
                } catch {
                    guard case .notFound? = error as? RegistryError else { Issue.record("expected notFound, got \(error)"); return }
                }
            }
        }
    }

    @Test func blobsStreamVerifiedAndRedirectWithoutAuthorization() async throws {
        let fake = await filledRegistry()
        await fake.setAuth(.basic(user: "u", password: "p"))
        let image = TestImage(seed: "app0")
        let cdnSawAuth = Counter()
        let cdn: FakeHandler = { r in
            if r.header("authorization") != nil { await cdnSawAuth.hit("auth") }
            guard r.q("sig") == "abc", let d = try? Digest(String(r.path.dropFirst(5))), d == Digest.sha256(of: image.layers[0]) else { return .status(403) }
            // Streamed in several chunks.
            let bytes = image.layers[0]
            return FakeResponse(status: 200, chunks: [bytes.prefix(100), bytes.dropFirst(100)].map { Data($0) })
        }
        try await withFakeServer(cdn) { cdnURL in
            // "localhost" vs "127.0.0.1": a different origin.
            await fake.setBlobRedirect(cdnURL.replacingOccurrences(of: "127.0.0.1", with: "localhost"))
            try await withFakeServer(fake.handler) { url in
                try await withHTTPClient { http in
                    let client = try makeClient(http, url, credentials: .usernamePassword(username: "u", password: "p"))
                    let layer = image.layers[0]
                    let stream = try await client.fetchBlob(Repository("team/app0"), digest: Digest.sha256(of: layer), size: Int64(layer.count))
                    var received = Data()
                    for try await chunk in stream { received.append(contentsOf: chunk.readableBytesView) }
                    #expect(received == layer)
                    #expect(await cdnSawAuth.count("auth") == 0)
                    // Config through the in-memory helper (no redirect).
                    await fake.setBlobRedirect(nil)
                    let config = try await client.fetchBlobData(Repository("team/app0"), digest: Digest.sha256(of: image.config))
                    #expect(config == image.config)
                }
            }
        }
    }

    @Test func retriesRateLimitWithRetryAfter() async throws {
        let counter = Counter()
        let fake = await filledRegistry()
        let handler: FakeHandler = { r in
            if r.path.hasSuffix("/tags/list") {
                await counter.hit("tags")
                if await counter.count("tags") <= 2 {
                    return .status(429, headers: [("Retry-After", "0")])
                }
            }
            return await fake.handle(r)
        }
        try await withFakeServer(handler) { url in
            try await withHTTPClient { http in
                let client = try makeClient(http, url)
                #expect(try await client.listTags(Repository("team/app0")).count == 1)
                #expect(await counter.count("tags") == 3)
            }
        }
        let policy = RetryPolicy(maxAttempts: 5, baseDelay: .milliseconds(100), maxDelay: .seconds(2), maxTotalDelay: .seconds(10))
        let now = Date(timeIntervalSince1970: 1_700_000_000)
        #expect(RegistryClient.retryDelay("1", attempt: 1, policy: policy, now: now) == .seconds(1))
        #expect(RegistryClient.retryDelay("120", attempt: 1, policy: policy, now: now) == .seconds(2))
        #expect(RegistryClient.retryDelay("Tue, 14 Nov 2023 22:13:21 GMT", attempt: 1, policy: policy, now: now) == .seconds(1))
        for attempt in 1...6 {
            let d = RegistryClient.retryDelay(nil, attempt: attempt, policy: policy, now: now)
            #expect(d <= .seconds(2) && d >= .milliseconds(50))
        }
    }

    @Test func refusesPlainHttpRealmOnAnotherHost() async throws {
        let handler: FakeHandler = { r in
            if r.path == "/v2/" && r.header("authorization") == nil {
                return .status(401, headers: [("WWW-Authenticate", "Bearer realm=\"http://evil.example:8080/token\",service=\"x\"")])
            }
            return .status(200)
        }
        try await withFakeServer(handler) { url in
            try await withHTTPClient { http in
                let client = try makeClient(http, url, credentials: .usernamePassword(username: "u", password: "secret"))
                let result = await client.testConnection(timeout: .seconds(10))
                #expect(result.status == .authFailed)
                #expect(result.message.contains("must use https"))
                #expect(!result.message.contains("secret"))
            }
        }
    }

    @Test func plainHttpRealmMustShareTheRegistrysPort() async throws {
        let realmHits = Counter()
        try await withFakeServer({ _ in await realmHits.hit("token"); return .json(200, ["token": "t"]) }) { realmURL in
            let handler: FakeHandler = { r in
                if r.path == "/v2/" && r.header("authorization") == nil {
                    return .status(401, headers: [("WWW-Authenticate", "Bearer realm=\"\(realmURL)/token\",service=\"x\"")])
                }
                return .status(200)
            }
            try await withFakeServer(handler) { url in
                try await withHTTPClient { http in
                    let client = try makeClient(http, url, credentials: .usernamePassword(username: "u", password: "secret"))
                    let result = await client.testConnection(timeout: .seconds(10))
                    #expect(result.status == .authFailed)
                    #expect(result.message.contains("must use https"))
                }
            }
        }
        #expect(await realmHits.count("token") == 0)
    }

    @Test func testConnectionClassifiesFailures() async throws {
        try await withHTTPClient { http in
            // Nothing listens on port 1.
            let closed = try makeClient(http, "http://127.0.0.1:1")
            let refused = await closed.testConnection(timeout: .seconds(5))
            #expect(refused.status == .unreachable, "\(refused)")
            // A web server, not a registry.
            try await withFakeServer({ _ in FakeResponse(status: 200, headers: [("Content-Type", "text/html")], body: Data("<html>".utf8)) }) { url in
                let client = try makeClient(http, url)
                #expect(await client.testConnection(timeout: .seconds(10)).status == .notARegistry)
            }
            try await withFakeServer({ _ in .status(404) }) { url in
                let client = try makeClient(http, url)
                #expect(await client.testConnection(timeout: .seconds(10)).status == .notARegistry)
            }
            // A server that never answers: the result still comes within the timeout.
            try await withFakeServer({ _ in FakeResponse(status: 200, delay: .seconds(30)) }) { url in
                let client = try makeClient(http, url)
                let start = ContinuousClock.now
                let result = await client.testConnection(timeout: .milliseconds(700))
                #expect(result.status == .timeout)
                #expect(ContinuousClock.now - start < .seconds(3))
            }
        }
        #expect(throws: RegistryError.self) { try RegistryClient.Configuration(url: "http://x").validate() }
    }
}

extension RegistryClient.Configuration {
    func validate() throws { _ = try BaseURL(url, insecure: insecure) }
}
