import Foundation
import Registry
import Testing

@testable import Scan

/// The layout's JSON comes from Registry's Codable manifest and index types; these pin it to
/// the bytes the `[String: Any]` writers produced (syft, grype, trivy and skopeo read them,
/// and the manifest's digest is the digest of those bytes).
@Suite struct OCILayoutTests {
    private static func legacy(_ object: [String: Any]) throws -> Data {
        try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
    }

    private static func legacyEntry(mediaType: String, digest: Digest, size: Int, refName: String?, platform: Platform?) -> [String: Any] {
        var entry: [String: Any] = ["mediaType": mediaType, "digest": digest.description, "size": size]
        if let refName { entry["annotations"] = ["org.opencontainers.image.ref.name": refName] }
        if let platform {
            entry["platform"] = ["os": platform.os, "architecture": platform.architecture]
                .merging(platform.variant.map { ["variant": $0] } ?? [:]) { a, _ in a }
        }
        return entry
    }

    private static func directory() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("hg-layout-\(UUID().uuidString)")
    }

    @Test func scannerLayoutBytesAreUnchanged() throws {
        let dir = Self.directory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let layout = try OCILayoutWriter(directory: dir)
        let layer = Data("layer/bytes".utf8)
        let layerDigest = Digest.sha256(of: layer)
        try layout.writeBlob(layer, digest: layerDigest)
        let config = Data(#"{"os":"linux"}"#.utf8)
        let manifestJSON = """
            {"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",
            "config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"\(Digest.sha256(of: config))","size":\(config.count),"annotations":{}},
            "layers":[{"mediaType":"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip","digest":"\(layerDigest)","size":\(layer.count),
            "urls":["https://example.test/l"],"annotations":{"a/b":"c/d"}}],"annotations":{"org.example/x":"y"}}
            """
        guard case let .image(manifest) = try Manifest.decode(Data(manifestJSON.utf8), contentType: nil).0 else {
            Issue.record("not an image manifest")
            return
        }
        let platform = Platform(os: "windows", architecture: "amd64", osVersion: "10.0.20348")
        try layout.finish(manifest: manifest, config: config, platform: platform)

        let expectedManifest = try Self.legacy([
            "schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": ["mediaType": "application/vnd.docker.container.image.v1+json", "digest": Digest.sha256(of: config).description, "size": config.count],
            "layers": [[
                "mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", "digest": layerDigest.description, "size": layer.count,
                "annotations": ["a/b": "c/d"],
            ]],
            "annotations": ["org.example/x": "y"],
        ])
        let manifestDigest = Digest.sha256(of: expectedManifest)
        #expect(try Data(contentsOf: layout.blobURL(manifestDigest)) == expectedManifest)
        let expectedIndex = try Self.legacy([
            "schemaVersion": 2, "mediaType": MediaType.ociIndex,
            "manifests": [Self.legacyEntry(
                mediaType: "application/vnd.docker.distribution.manifest.v2+json", digest: manifestDigest, size: expectedManifest.count,
                refName: "latest", platform: platform)],
        ])
        #expect(try Data(contentsOf: dir.appendingPathComponent("index.json")) == expectedIndex)
    }

    @Test func pullLayoutIndexBytesAreUnchanged() throws {
        for (refName, platform) in [("v1.2", Platform(os: "linux", architecture: "arm64")), (nil, nil)] as [(String?, Platform?)] {
            let dir = Self.directory()
            defer { try? FileManager.default.removeItem(at: dir) }
            let layout = try OCILayoutWriter(directory: dir)
            let config = Data("{}".utf8)
            try layout.writeBlob(config, digest: Digest.sha256(of: config))
            // As the registry served it: key order and spacing are kept, never re-encoded.
            let served = Data("""
                {"schemaVersion": 2, "mediaType": "\(MediaType.ociManifest)", "layers": [],
                 "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "\(Digest.sha256(of: config))", "size": 2}}
                """.utf8)
            let digest = Digest.sha256(of: served)
            try layout.finish(manifestBytes: served, digest: digest, mediaType: MediaType.ociManifest, platform: platform, refName: refName)
            #expect(try Data(contentsOf: layout.blobURL(digest)) == served)
            let expected = try Self.legacy([
                "schemaVersion": 2, "mediaType": MediaType.ociIndex,
                "manifests": [Self.legacyEntry(mediaType: MediaType.ociManifest, digest: digest, size: served.count, refName: refName, platform: platform)],
            ])
            #expect(try Data(contentsOf: dir.appendingPathComponent("index.json")) == expected)
        }
    }
}
