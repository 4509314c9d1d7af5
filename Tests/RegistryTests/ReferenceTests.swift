import Foundation
import Testing
@testable import Registry

@Suite struct ImageReferenceTests {
    @Test(arguments: [
        ("nginx", "registry-1.docker.io", "library/nginx", "latest", nil as String?),
        ("nginx:1.25", "registry-1.docker.io", "library/nginx", "1.25", nil),
        ("docker.io/nginx", "registry-1.docker.io", "library/nginx", "latest", nil),
        ("index.docker.io/library/nginx:alpine", "registry-1.docker.io", "library/nginx", "alpine", nil),
        ("docker.io/bitnami/redis:7", "registry-1.docker.io", "bitnami/redis", "7", nil),
        ("user/app", "registry-1.docker.io", "user/app", "latest", nil),
        ("localhost:5000/x", "localhost:5000", "x", "latest", nil),
        ("localhost/x:t", "localhost", "x", "t", nil),
        ("ghcr.io/owner/repo/sub:v1.2.3", "ghcr.io", "owner/repo/sub", "v1.2.3", nil),
        ("registry.example.com:8443/team/app:dev_1", "registry.example.com:8443", "team/app", "dev_1", nil),
        ("127.0.0.1:5000/a/b", "127.0.0.1:5000", "a/b", "latest", nil),
        ("[::1]:5000/a", "[::1]:5000", "a", "latest", nil),
        ("quay.io/a/b__c.d-e---f", "quay.io", "a/b__c.d-e---f", "latest", nil),
    ])
    func parses(input: String, registry: String, repository: String, tag: String, digest: String?) throws {
        let ref = try ImageReference(input)
        #expect(ref.registry == registry)
        #expect(ref.repository.name == repository)
        #expect(ref.tag?.name == tag)
        #expect(ref.digest?.description == digest)
    }

    @Test func digestOnlyAndTagPlusDigest() throws {
        let hex = String(repeating: "ab", count: 32)
        let byDigest = try ImageReference("alpine@sha256:\(hex)")
        #expect(byDigest.tag == nil)
        #expect(byDigest.digest?.hex == hex)
        #expect(byDigest.manifestReference == .digest(try Digest("sha256:\(hex)")))
        #expect(byDigest.description == "registry-1.docker.io/library/alpine@sha256:\(hex)")
        let both = try ImageReference("localhost:5000/team/app:1.0@sha256:\(hex)")
        #expect(both.tag?.name == "1.0")
        #expect(both.digest?.algorithm == .sha256)
        #expect(both.manifestReference.description == "sha256:\(hex)")
        #expect(try ImageReference("nginx:1.25").manifestReference == .tag(Tag("1.25")))
        #expect(try ManifestReference("v1") == .tag(Tag("v1")))
        #expect(try ManifestReference("sha256:\(hex)") == .digest(Digest("sha256:\(hex)")))
        #expect(throws: RegistryError.self) { try ManifestReference("sha256:short") }
        #expect(throws: RegistryError.self) { try ManifestReference("bad tag") }
        // Printing and parsing again gives the same reference.
        for text in ["nginx", "localhost:5000/a/b:c", "ghcr.io/o/r@sha256:\(hex)", "quay.io/x/y:1@sha256:\(hex)"] {
            let ref = try ImageReference(text)
            #expect(try ImageReference(ref.description) == ref)
        }
        #expect(both.description == "localhost:5000/team/app:1.0@sha256:\(hex)")
    }

    @Test(arguments: [
        "", "Nginx", "nginx:", "nginx:-bad", ":tag", "a//b", "a/", "/a", "a__-b", "a..b", "-a", "a-",
        "nginx@sha256:abc", "nginx@md5:" + String(repeating: "a", count: 32), "host:99999/a",
        "nginx:" + String(repeating: "t", count: 129), "UPPER.example.com/Repo", "a b", "a/b:c:d",
        "exa_mple.com/x", String(repeating: "a/", count: 200) + "a",
    ])
    func rejects(input: String) {
        #expect(throws: RegistryError.self) { try ImageReference(input) }
    }
}

@Suite struct DigestTests {
    @Test func validates() throws {
        let d = try Digest("sha256:" + String(repeating: "0", count: 64))
        #expect(d.algorithm == .sha256)
        _ = try Digest("sha512:" + String(repeating: "f", count: 128))
        for bad in ["sha256:" + String(repeating: "0", count: 63), "sha256:" + String(repeating: "G", count: 64),
                    "sha256:" + String(repeating: "A", count: 64), "sha512:" + String(repeating: "0", count: 64),
                    "sha1:" + String(repeating: "0", count: 40), "sha256", ""] {
            #expect(throws: RegistryError.self) { try Digest(bad) }
        }
    }

    @Test func computesAndEncodes() throws {
        let d = Digest.sha256(of: Data("hello".utf8))
        #expect(d.description == "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824")
        let json = try JSONEncoder().encode([d])
        #expect(try JSONDecoder().decode([Digest].self, from: json) == [d])
        #expect(throws: DecodingError.self) { try JSONDecoder().decode([Digest].self, from: Data("[\"sha256:zz\"]".utf8)) }
        let d512 = try Digest("sha512:" + String(repeating: "0", count: 128))
        #expect(d512.recomputed(over: Data("hello".utf8)).hex.hasPrefix("9b71d224bd62f378"))
    }

    @Test func repositoryAndTag() throws {
        #expect(try Repository("a/b-c/d_e.f").name == "a/b-c/d_e.f")
        #expect(throws: RegistryError.self) { try Repository("A") }
        #expect(throws: RegistryError.self) { try Repository("a___b") }
        #expect(throws: RegistryError.self) { try Repository(String(repeating: "a", count: 256)) }
        #expect(try Tag("_under.score-1").name == "_under.score-1")
        #expect(throws: RegistryError.self) { try Tag(".dot") }
        #expect(throws: RegistryError.self) { try Tag("a/b") }
    }
}

@Suite struct PlatformTests {
    @Test func normalises() {
        #expect(Platform(parsing: "linux/x86_64") == Platform(os: "linux", architecture: "amd64"))
        #expect(Platform(parsing: "linux/aarch64")?.description == "linux/arm64/v8")
        #expect(Platform(parsing: "linux/arm64/v8") == Platform(os: "linux", architecture: "arm64"))
        #expect(Platform(parsing: "linux/arm64/v8") == Platform(parsing: "LINUX/AARCH64"))
        #expect(Platform(parsing: "linux/arm/v6")?.variant == "v6")
        #expect(Platform(parsing: "linux") == nil)
        #expect(Platform(parsing: "linux//") == nil)
    }

    @Test func selectsFromIndex() throws {
        let amd = TestImage(seed: "amd")
        let arm = TestImage(seed: "arm")
        let armv7 = TestImage(seed: "armv7")
        let bytes = TestImage.index([(amd, "linux", "amd64", nil), (arm, "linux", "arm64", "v8"), (armv7, "linux", "arm", "v7"),
                                     (amd, "unknown", "unknown", nil)])
        let (decoded, type) = try Manifest.decode(bytes, contentType: nil)
        #expect(type == MediaType.ociIndex)
        guard case let .index(index) = decoded else { Issue.record("not an index"); return }
        #expect(index.manifest()?.digest == amd.manifestDigest)
        #expect(index.manifest(for: Platform(parsing: "linux/aarch64")!)?.digest == arm.manifestDigest)
        #expect(index.manifest(for: Platform(parsing: "linux/arm/v7")!)?.digest == armv7.manifestDigest)
        #expect(index.manifest(for: Platform(parsing: "linux/s390x")!) == nil)
        #expect(index.manifest(for: Platform(parsing: "windows/amd64")!) == nil)
        #expect(index.platforms.count == 3)
    }
}

@Suite struct ManifestDecodingTests {
    @Test func decodesByContentTypeOrBody() throws {
        let image = TestImage(seed: "x", mediaType: MediaType.dockerManifest)
        let (m, type) = try Manifest.decode(image.manifest, contentType: "application/vnd.docker.distribution.manifest.v2+json; charset=utf-8")
        #expect(type == MediaType.dockerManifest)
        guard case let .image(im) = m else { Issue.record("expected image"); return }
        #expect(im.layers.count == 1)
        // No header: the body's mediaType decides.
        let (_, t2) = try Manifest.decode(image.manifest, contentType: nil)
        #expect(t2 == MediaType.dockerManifest)
        // OCI manifest without mediaType field nor header: detected by shape.
        let bare = Data("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"a\",\"digest\":\"\(Digest.sha256(of: Data()))\",\"size\":0},\"layers\":[]}".utf8)
        #expect(try Manifest.decode(bare, contentType: "application/json").1 == MediaType.ociManifest)
    }

    @Test func refusesSchema1UnknownAndMalformed() {
        let v1 = Data("{\"schemaVersion\":1,\"name\":\"x\",\"tag\":\"latest\",\"fsLayers\":[]}".utf8)
        #expect(throws: RegistryError.unsupportedMediaType("Docker schema 1 manifests are not supported")) {
            try Manifest.decode(v1, contentType: MediaType.dockerSchema1Signed)
        }
        #expect(throws: RegistryError.unsupportedMediaType("application/vnd.example+json")) {
            try Manifest.decode(Data("{\"schemaVersion\":2}".utf8), contentType: "application/vnd.example+json")
        }
        #expect(throws: RegistryError.invalidResponse("manifest is not valid JSON")) {
            try Manifest.decode(Data("{not json".utf8), contentType: MediaType.ociManifest)
        }
        let badDigest = Data("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"a\",\"digest\":\"sha256:nothex\",\"size\":0},\"layers\":[]}".utf8)
        #expect(throws: RegistryError.self) { try Manifest.decode(badDigest, contentType: MediaType.ociManifest) }
        #expect(throws: RegistryError.invalidResponse("manifest is not a JSON object")) {
            try Manifest.decode(Data("[1, 2, 3]".utf8), contentType: MediaType.ociManifest)
        }
    }

    @Test func malformedLayerDescriptorsNameTheirField() {
        let config = "{\"mediaType\":\"a\",\"digest\":\"sha256:\(String(repeating: "a", count: 64))\",\"size\":2}"
        func manifest(_ layer: String) -> Data {
            Data("{\"schemaVersion\":2,\"config\":\(config),\"layers\":[\(config),\(layer)]}".utf8)
        }
        let type = MediaType.ociManifest
        func refusal(_ detail: String) -> RegistryError { .invalidResponse("manifest does not fit its media type \(type): \(detail)") }
        #expect(throws: refusal("bad field layers[1].size")) {
            try Manifest.decode(manifest(config.replacingOccurrences(of: "\"size\":2", with: "\"size\":-1")), contentType: type)
        }
        #expect(throws: refusal("bad field layers[1].size")) {
            try Manifest.decode(manifest(config.replacingOccurrences(of: "\"size\":2", with: "\"size\":\"2\"")), contentType: type)
        }
        #expect(throws: refusal("bad field layers[1].digest")) {
            try Manifest.decode(manifest(config.replacingOccurrences(of: "sha256:aaaa", with: "sha256:../../")), contentType: type)
        }
        #expect(throws: refusal("missing field layers[1].digest")) {
            try Manifest.decode(manifest("{\"mediaType\":\"a\",\"size\":2}"), contentType: type)
        }
        #expect(throws: refusal("bad field layers")) {
            try Manifest.decode(Data("{\"schemaVersion\":2,\"config\":\(config),\"layers\":null}".utf8), contentType: type)
        }
    }
}
