import Foundation
public import NIOCore

/// Times `analyzeLayer` on a layer blob on disk, for comparing against `gzip -dc`.
public enum LayerBenchmark {
    public struct Measurement: Sendable {
        public var seconds: Double
        public var compressedBytes: Int64
        public var uncompressedBytes: Int64
        public var entries: Int
        public var packages: Int

        /// Decompressed megabytes per second.
        public var throughput: Double { Double(uncompressedBytes) / 1_048_576 / seconds }
    }

    /// Analyses the blob at `path` (read in 1 MiB chunks) and reports how long it took.
    public static func run(
        path: String, mediaType: String, limits: LayerLimits = .default, runtimes: Bool = true
    ) async throws -> Measurement {
        let clock = ContinuousClock()
        let start = clock.now
        let analysis = try await analyzeLayer(
            stream: FileByteStream(path: path, chunkSize: 1 << 20), mediaType: mediaType, expectedDigest: nil, limits: limits,
            runtimes: runtimes)
        let elapsed = clock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return Measurement(
            seconds: seconds, compressedBytes: analysis.compressedBytes, uncompressedBytes: analysis.uncompressedBytes,
            entries: analysis.entryCount, packages: analysis.findings.reduce(0) { $0 + $1.result.packages.count })
    }
}

/// A file's bytes as ByteBuffer chunks.
public struct FileByteStream: AsyncSequence, Sendable {
    public typealias Element = ByteBuffer
    public let path: String
    public let chunkSize: Int

    public init(path: String, chunkSize: Int = 1 << 20) {
        self.path = path
        self.chunkSize = chunkSize
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let handle: FileHandle?
        let path: String
        let chunkSize: Int

        public mutating func next() async throws -> ByteBuffer? {
            guard let handle else { throw CocoaError(.fileNoSuchFile, userInfo: [NSFilePathErrorKey: path]) }
            guard let data = try handle.read(upToCount: chunkSize), !data.isEmpty else { return nil }
            return ByteBuffer(bytes: data)
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(handle: FileHandle(forReadingAtPath: path), path: path, chunkSize: chunkSize)
    }
}
