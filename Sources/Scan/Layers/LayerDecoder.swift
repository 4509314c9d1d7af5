import Crypto
import NIOCore
import Registry

/// How a layer blob is compressed, from its media type and its first bytes.
public enum LayerCompression: Sendable, Hashable {
    case gzip
    case none

    /// Rejects media types this analyser cannot read (zstd); otherwise nil means "sniff the bytes".
    static func declared(by mediaType: String) throws -> LayerCompression? {
        let lowered = mediaType.lowercased()
        if lowered.hasSuffix("zstd") { throw LayerError.unsupportedCompression(mediaType: mediaType) }
        if lowered.hasSuffix("gzip") { return .gzip }
        if lowered.hasSuffix(".tar") || lowered.hasSuffix("tar") { return LayerCompression.none }
        return nil
    }
}

/// Turns a layer blob, fed chunk by chunk, into tar bytes: hashes the compressed bytes
/// (sha256, for the layer digest), inflates gzip (including multi-member streams) and
/// enforces the decompression-bomb limits.
///
/// The compression is sniffed from the first bytes (gzip magic, zstd magic, else plain
/// tar), because registries do serve layers whose media type is wrong; a zstd media type
/// is refused up front.
final class LayerDecoder {
    private enum State {
        /// Waiting for the first bytes to sniff the compression.
        case sniffing
        case plain
        /// Inside a gzip member.
        case inMember
        /// A member ended; only another member or zero padding may follow.
        case betweenMembers
    }

    private let limits: LayerLimits
    private let mediaType: String
    private var state: State = .sniffing
    private var sniffBuffer: [UInt8] = []
    private var hasher = SHA256()
    private var inflater: GzipInflater?
    /// Inflated bytes, handed to the sink before the next call refills it.
    private let output: UnsafeMutableRawBufferPointer
    private(set) var compressedBytes: Int64 = 0
    private(set) var decompressedBytes: Int64 = 0
    private(set) var gzipMembers = 0

    init(mediaType: String, limits: LayerLimits) throws {
        self.limits = limits
        self.mediaType = mediaType
        _ = try LayerCompression.declared(by: mediaType)
        self.output = .allocate(byteCount: 256 * 1024, alignment: 64)
    }

    deinit { output.deallocate() }

    /// The compression this stream turned out to use (nil until the first bytes arrive).
    var compression: LayerCompression? {
        switch state {
        case .sniffing: nil
        case .plain: LayerCompression.none
        case .inMember, .betweenMembers: .gzip
        }
    }

    /// Feeds compressed bytes; `sink` receives decompressed tar bytes, in order.
    func feed(_ chunk: ByteBuffer, sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        guard chunk.readableBytes > 0 else { return }
        chunk.withUnsafeReadableBytes { hasher.update(bufferPointer: $0) }
        compressedBytes += Int64(chunk.readableBytes)
        var input = chunk
        if case .sniffing = state {
            let needed = 4 - sniffBuffer.count
            sniffBuffer.append(contentsOf: input.readableBytesView.prefix(needed))
            guard sniffBuffer.count >= 4 else { return }
            input.moveReaderIndex(forwardBy: needed)
            var head = ByteBuffer(bytes: sniffBuffer)
            try sniff()
            try process(&head, sink: sink)
        }
        try process(&input, sink: sink)
    }

    /// Ends the stream: flushes a short plain stream and detects truncated gzip.
    /// Returns the `sha256:` digest of every byte fed.
    func finish(sink: (UnsafeRawBufferPointer) throws -> Void) throws -> String {
        if case .sniffing = state {
            guard !sniffBuffer.isEmpty else { throw LayerError.truncatedGzip(compressedBytes: 0) }
            var head = ByteBuffer(bytes: sniffBuffer)
            try sniff()
            try process(&head, sink: sink)
        }
        if case .inMember = state { throw LayerError.truncatedGzip(compressedBytes: compressedBytes) }
        return "sha256:" + hasher.finalize().hexString
    }

    private func sniff() throws {
        if sniffBuffer.starts(with: [0x28, 0xB5, 0x2F, 0xFD]) {
            throw LayerError.unsupportedCompression(mediaType: mediaType + " (zstd magic)")
        }
        if sniffBuffer.starts(with: [0x1F, 0x8B]) {
            inflater = try GzipInflater()
            state = .inMember
        } else {
            state = .plain
        }
    }

    private func process(_ input: inout ByteBuffer, sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        switch state {
        case .sniffing:
            return
        case .plain:
            try account(Int64(input.readableBytes))
            try input.withUnsafeReadableBytes { try sink($0) }
            input.moveReaderIndex(to: input.writerIndex)
        case .inMember, .betweenMembers:
            try inflate(&input, sink: sink)
        }
    }

    private func inflate(_ input: inout ByteBuffer, sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        guard let inflater else { return }
        while true {
            if case .betweenMembers = state {
                // gzip(1) and Go's reader accept zero padding after the last member.
                while let byte = input.getInteger(at: input.readerIndex, as: UInt8.self), byte == 0 {
                    input.moveReaderIndex(forwardBy: 1)
                }
                guard input.readableBytes > 0 else { return }
                guard input.getInteger(at: input.readerIndex, as: UInt8.self) == 0x1F else {
                    throw LayerError.corruptGzip("unexpected data after gzip member \(gzipMembers)")
                }
                try inflater.reset()
                state = .inMember
            }
            let step = try input.withUnsafeReadableBytes { try inflater.inflate($0, into: output) }
            input.moveReaderIndex(forwardBy: step.consumed)
            if step.produced > 0 {
                try account(Int64(step.produced))
                try sink(UnsafeRawBufferPointer(rebasing: output[0..<step.produced]))
            }
            if step.memberEnded {
                gzipMembers += 1
                state = .betweenMembers
                continue
            }
            // Not ended and the output has room: the inflater used all it was given.
            if step.produced < output.count {
                guard input.readableBytes == 0 else {
                    throw LayerError.corruptGzip("inflater stopped with \(input.readableBytes) bytes unread")
                }
                return
            }
        }
    }

    private func account(_ bytes: Int64) throws {
        decompressedBytes += bytes
        if decompressedBytes > limits.maxDecompressedBytes {
            throw LayerError.decompressedSizeLimitExceeded(limit: limits.maxDecompressedBytes)
        }
        if case .plain = state { return }
        if decompressedBytes >= limits.ratioCheckThreshold {
            let ratio = decompressedBytes / max(compressedBytes, 1)
            if ratio > limits.maxCompressionRatio {
                throw LayerError.compressionRatioExceeded(ratio: ratio, limit: limits.maxCompressionRatio)
            }
        }
    }
}
