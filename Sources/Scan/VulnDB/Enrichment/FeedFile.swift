import Foundation
import NIOCore

/// Reading a downloaded or mirrored feed file: gzip (one or several members) or plain,
/// told apart by its first bytes, inflated in 1 MiB steps through the same decoder as image
/// layers (truncation and decompression-bomb limits included).
enum FeedFile {
    /// Feeds are large but not layer-large: 8 GiB uncompressed at most, 100:1 at most.
    static let limits = LayerLimits(maxDecompressedBytes: 8 << 30, maxCompressionRatio: 100)

    struct Unreadable: Error, CustomStringConvertible {
        var description: String
    }

    /// Calls `body` with the file's decompressed bytes, in order.
    static func stream(_ file: URL, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        guard let handle = FileHandle(forReadingAtPath: file.path) else {
            throw Unreadable(description: "cannot open \(file.path)")
        }
        defer { try? handle.close() }
        let decoder = try LayerDecoder(mediaType: "", limits: limits)
        do {
            while let data = try handle.read(upToCount: 1 << 20), !data.isEmpty {
                try decoder.feed(ByteBuffer(bytes: data), sink: body)
            }
            _ = try decoder.finish(sink: body)
        } catch let error as LayerError {
            throw Unreadable(description: "\(file.lastPathComponent): \(error)")
        }
    }

    /// The whole decompressed file (for the small feeds: KEV, the EPSS CSV is streamed by lines).
    static func contents(_ file: URL, max: Int) throws -> Data {
        var out = Data()
        try stream(file) { chunk in
            out.append(contentsOf: chunk)
            if out.count > max { throw Unreadable(description: "\(file.lastPathComponent) is larger than \(max >> 20) MiB") }
        }
        return out
    }
}
