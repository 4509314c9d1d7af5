public import Foundation
public import Registry

/// Copies one image from a registry into an OCI image layout directory (`harborguard pull`):
/// the registry's own manifest bytes (so the layout's manifest digest is the registry's),
/// the config, and every layer streamed to disk with its digest verified as it arrives,
/// several layers at once. `index.json` is written last: a layout without it is a pull
/// that did not finish.
public struct ImagePull: Sendable {
    /// Layers downloaded at the same time.
    public var concurrency: Int

    public init(concurrency: Int = 4) {
        self.concurrency = max(1, concurrency)
    }

    public struct Report: Sendable, Encodable {
        public var reference: String
        /// The digest the reference resolved to (the index's for a multi-platform image).
        public var digest: String
        /// The digest of the image manifest written to the layout.
        public var manifestDigest: String
        public var platform: String?
        public var layers: Int
        /// Bytes of config and layers written.
        public var bytes: Int64
    }

    public enum PullError: Error, CustomStringConvertible {
        case destination(String)
        case write(String)

        public var description: String {
            switch self {
            case let .destination(m): "destination: \(m)"
            case let .write(m): "writing the layout failed: \(m)"
            }
        }
    }

    /// Pulls `image` (the `platform` entry of a multi-platform image) into `directory`, which
    /// must be absent or empty.
    public func pull(
        _ image: ImageReference, client: RegistryClient, platform: Platform = .linuxAmd64, into directory: URL,
        progress: @escaping @Sendable (String) -> Void = { _ in }
    ) async throws -> Report {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        if fm.fileExists(atPath: directory.path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw PullError.destination("\(directory.path) is a file") }
            let entries = (try? fm.contentsOfDirectory(atPath: directory.path)) ?? []
            guard entries.isEmpty else { throw PullError.destination("\(directory.path) is not empty") }
        }
        let resolved = try await client.resolveImage(image, platform: platform)
        // The exact bytes the registry served for the image manifest, so its digest stays the registry's.
        let manifest = resolved.served
        let layout: OCILayoutWriter
        do { layout = try OCILayoutWriter(directory: directory) } catch { throw PullError.destination("\(directory.path): \(error.localizedDescription)") }
        let m = resolved.manifest
        let config = try await client.fetchBlobData(image.repository, digest: m.config.digest, size: m.config.size)
        do { try layout.writeBlob(config, digest: m.config.digest) } catch { throw PullError.write("\(error.localizedDescription)") }

        let layers = m.layers
        let total = layers.count
        let width = concurrency
        try await withThrowingTaskGroup(of: Int.self) { group in
            var next = 0
            var done = 0
            func start(_ i: Int) {
                let layer = layers[i]
                group.addTask {
                    if layout.contains(layer.digest) { return i }  // the same blob twice in one manifest
                    try await layout.copy(
                        try await client.fetchBlob(image.repository, digest: layer.digest, size: layer.size), digest: layer.digest)
                    if let error = layout.error { throw PullError.write(error) }
                    return i
                }
            }
            while next < min(width, total) { start(next); next += 1 }
            while let i = try await group.next() {
                done += 1
                progress("layer \(done)/\(total) \(layers[i].digest) \(layers[i].size) bytes")
                if next < total { start(next); next += 1 }
            }
        }
        do {
            try layout.finish(
                manifestBytes: manifest.bytes, digest: manifest.digest, mediaType: manifest.mediaType,
                platform: resolved.platform, refName: image.tag?.name)
        } catch {
            throw PullError.write("\(error)")
        }
        return Report(
            reference: image.description, digest: resolved.digest.description, manifestDigest: manifest.digest.description,
            platform: resolved.platform?.description, layers: total,
            bytes: m.config.size + layers.reduce(0) { $0 + $1.size })
    }
}

extension OCILayoutWriter {
    /// Writes the manifest as the registry served it and then `index.json` naming it; fails
    /// when a layer of the manifest is not complete in the layout.
    public func finish(manifestBytes: Data, digest: Digest, mediaType: String, platform: Platform?, refName: String?) throws {
        guard case let .image(m) = try Manifest.decode(manifestBytes, contentType: mediaType).0 else {
            throw ExternalScannerError.layout("\(digest) is not an image manifest")
        }
        for blob in [m.config] + m.layers where !contains(blob.digest) {
            throw ExternalScannerError.layout("blob \(blob.digest) was not written")
        }
        try writeBlob(manifestBytes, digest: digest)
        try writeIndex(
            Descriptor(
                mediaType: mediaType, digest: digest, size: Int64(manifestBytes.count), platform: platform.map(Self.indexPlatform),
                annotations: refName.map { ["org.opencontainers.image.ref.name": $0] }))
    }
}
