public import Foundation
public import NIOCore
public import Registry
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes an OCI image layout (image-spec `image-layout.md`): `oci-layout`, `index.json`
/// and `blobs/<algorithm>/<hex>`, for `syft oci-dir:<dir>`, `grype oci-dir:<dir>` and
/// `trivy image --input <dir>`.
///
/// Layer blobs are written while the native analysis streams them (``tee(_:digest:)``), so
/// the external scanners read the very bytes harborguard verified, from one download. The
/// manifest is written re-encoded from the resolved manifest (its digest in the layout is
/// the digest of those bytes, not necessarily the registry's).
public final class OCILayoutWriter: Sendable {
    /// The layout directory.
    public let directory: URL
    /// What the tees (one per layer, concurrently) have written and the first failure.
    private struct State {
        var written: Set<String> = []
        var failure: String?
        var outOfSpace = false
    }

    private let state = Mutex(State())

    public init(directory: URL) throws {
        self.directory = directory
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("blobs"), withIntermediateDirectories: true)
        try Data(#"{"imageLayoutVersion":"1.0.0"}"#.utf8).write(to: directory.appendingPathComponent("oci-layout"))
    }

    /// The first write error, if any: the layout is then unusable.
    public var error: String? {
        state.withLock { $0.failure }
    }

    /// Whether a write failed because the disk is full (ENOSPC).
    public var diskFull: Bool {
        state.withLock { $0.outOfSpace }
    }

    func fail(_ message: String, diskFull: Bool = false) {
        state.withLock { state in
            if state.failure == nil { state.failure = message }
            if diskFull { state.outOfSpace = true }
        }
    }

    /// Whether `error` (POSIX or Foundation) is ENOSPC.
    static func isDiskFull(_ error: any Error) -> Bool {
        if let e = error as? CocoaError, e.code == .fileWriteOutOfSpace { return true }
        let ns = error as NSError
        if ns.domain == NSPOSIXErrorDomain, ns.code == Int(ENOSPC) { return true }
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError {
            return underlying.domain == NSPOSIXErrorDomain && underlying.code == Int(ENOSPC)
        }
        return false
    }

    /// Whether the blob `digest` is complete in the layout.
    public func contains(_ digest: Digest) -> Bool {
        state.withLock { $0.written.contains(digest.description) }
    }

    func markWritten(_ digest: Digest) {
        _ = state.withLock { $0.written.insert(digest.description) }
    }

    /// Where blob `digest` lives in the layout.
    public func blobURL(_ digest: Digest) -> URL {
        directory.appendingPathComponent("blobs").appendingPathComponent(digest.algorithm.rawValue).appendingPathComponent(digest.hex)
    }

    /// Writes a small blob whole.
    public func writeBlob(_ data: Data, digest: Digest) throws {
        let url = blobURL(digest)
        do {
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try data.write(to: url)
        } catch {
            if Self.isDiskFull(error) { fail("writing \(digest): \(String(cString: strerror(ENOSPC)))", diskFull: true) }
            throw error
        }
        markWritten(digest)
    }

    /// `stream`, with every chunk also appended to the blob file of `digest`. The file is
    /// marked complete only when the stream ended; a write error is recorded in ``error``
    /// and never fails the consumer (the native analysis goes on without the layout).
    public func tee<S: AsyncSequence>(_ stream: S, digest: Digest) -> TeeSequence<S> where S.Element == ByteBuffer {
        TeeSequence(base: stream, sink: BlobSink(writer: self, digest: digest))
    }

    /// Copies a whole stream into the blob file of `digest` (layers whose analysis came from
    /// the cache, so no native pass read them).
    public func copy<S: AsyncSequence>(_ stream: S, digest: Digest) async throws where S.Element == ByteBuffer {
        for try await _ in tee(stream, digest: digest) {}
    }

    /// Writes the config and manifest blobs, then `index.json` naming the manifest. The
    /// manifest keeps its media types (Docker v2 or OCI); both are read by the scanners.
    public func finish(manifest: ImageManifest, config: Data, platform: Platform?) throws {
        try writeBlob(config, digest: manifest.config.digest)
        // Descriptors keep media type, digest, size and annotations (no URLs or platform).
        func descriptor(_ d: Descriptor) -> Descriptor {
            Descriptor(mediaType: d.mediaType, digest: d.digest, size: d.size, annotations: Self.nonEmpty(d.annotations))
        }
        let mediaType = manifest.mediaType ?? MediaType.ociManifest
        let written = ImageManifest(
            mediaType: mediaType, config: descriptor(manifest.config), layers: manifest.layers.map(descriptor),
            annotations: Self.nonEmpty(manifest.annotations))
        let bytes = try Self.json(written)
        let manifestDigest = Digest.sha256(of: bytes)
        try writeBlob(bytes, digest: manifestDigest)
        try writeIndex(
            Descriptor(
                mediaType: mediaType, digest: manifestDigest, size: Int64(bytes.count), platform: platform.map(Self.indexPlatform),
                annotations: ["org.opencontainers.image.ref.name": "latest"]))
        for layer in manifest.layers where !contains(layer.digest) {
            throw ExternalScannerError.layout("layer \(layer.digest) was not written")
        }
    }

    /// Writes `index.json` naming the one manifest `entry` (atomically: a layout without it
    /// is incomplete). Both the scanners' layout and `harborguard pull` write it here.
    func writeIndex(_ entry: Descriptor) throws {
        let index = ImageIndex(mediaType: MediaType.ociIndex, manifests: [entry])
        try Self.json(index).write(to: directory.appendingPathComponent("index.json"), options: .atomic)
    }

    /// OCI JSON as the layout's readers expect it: compact, sorted keys, slashes unescaped.
    static func json(_ value: some Encodable) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(value)
    }

    /// An index entry's platform: os, architecture and variant (as the layouts always held).
    static func indexPlatform(_ p: Platform) -> Platform {
        Platform(os: p.os, architecture: p.architecture, variant: p.variant)
    }

    static func nonEmpty(_ annotations: [String: String]?) -> [String: String]? {
        annotations.flatMap { $0.isEmpty ? nil : $0 }
    }

    /// One blob file being written by a tee. One consumer drives it; the descriptor lives in
    /// a `Mutex` (uncontended: one lock per chunk) so the sink is `Sendable` without
    /// `@unchecked`.
    final class BlobSink: Sendable {
        let writer: OCILayoutWriter
        let digest: Digest

        private struct File {
            var fd: Int32 = -1
            var broken = false
        }

        private let file = Mutex(File())

        init(writer: OCILayoutWriter, digest: Digest) {
            self.writer = writer
            self.digest = digest
        }

        deinit {
            file.withLock { f in
                if f.fd >= 0 { close(f.fd) }
            }
        }

        func write(_ buffer: ByteBuffer) {
            let failure = file.withLock { f in write(buffer, &f) }
            if let failure { writer.fail(failure.message, diskFull: failure.diskFull) }
        }

        func finish() {
            let failure = file.withLock { f -> (message: String, diskFull: Bool)? in
                guard !f.broken else { return nil }
                if f.fd < 0 {
                    // An empty blob: still a file.
                    if let failure = write(ByteBuffer(), &f) { return failure }
                    if f.fd < 0 { return nil }
                }
                close(f.fd)
                f.fd = -1
                return nil
            }
            if let failure { return writer.fail(failure.message, diskFull: failure.diskFull) }
            if file.withLock({ !$0.broken }) { writer.markWritten(digest) }
        }

        /// Appends `buffer` to the file (opened on the first chunk); on an error the file is
        /// closed, the sink broken, and the failure returned for the writer.
        private func write(_ buffer: ByteBuffer, _ f: inout File) -> (message: String, diskFull: Bool)? {
            guard !f.broken else { return nil }
            func broken(_ message: String, diskFull: Bool) -> (message: String, diskFull: Bool) {
                f.broken = true
                if f.fd >= 0 { close(f.fd); f.fd = -1 }
                return (message, diskFull)
            }
            if f.fd < 0 {
                let url = writer.blobURL(digest)
                do {
                    try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                } catch {
                    return broken("\(url.path): \(error.localizedDescription)", diskFull: OCILayoutWriter.isDiskFull(error))
                }
                f.fd = open(url.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
                guard f.fd >= 0 else {
                    let code = errno
                    return broken("\(url.path): \(String(cString: strerror(code)))", diskFull: code == ENOSPC)
                }
            }
            let fd = f.fd
            let code = buffer.withUnsafeReadableBytes { bytes -> Int32 in
                var offset = 0
                while offset < bytes.count {
                    let n = posixWrite(fd, bytes.baseAddress! + offset, bytes.count - offset)
                    if n < 0 {
                        if errno == EINTR { continue }
                        return errno
                    }
                    offset += n
                }
                return 0
            }
            if code != 0 { return broken("writing \(digest): \(String(cString: strerror(code)))", diskFull: code == ENOSPC) }
            return nil
        }
    }
}

private func posixWrite(_ fd: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int {
    #if canImport(Glibc)
    Glibc.write(fd, bytes, count)
    #else
    Darwin.write(fd, bytes, count)
    #endif
}

/// An async sequence that hands each element to a blob file as it passes.
public struct TeeSequence<Base: AsyncSequence>: AsyncSequence where Base.Element == ByteBuffer {
    public typealias Element = ByteBuffer
    let base: Base
    let sink: OCILayoutWriter.BlobSink

    public func makeAsyncIterator() -> Iterator {
        Iterator(inner: base.makeAsyncIterator(), sink: sink)
    }

    public struct Iterator: AsyncIteratorProtocol {
        var inner: Base.AsyncIterator
        let sink: OCILayoutWriter.BlobSink

        public mutating func next() async throws -> ByteBuffer? {
            guard let chunk = try await inner.next() else {
                // The base verified size and digest before ending without error.
                sink.finish()
                return nil
            }
            sink.write(chunk)
            return chunk
        }
    }
}
