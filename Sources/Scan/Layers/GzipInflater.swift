import CZlibNG

/// One gzip member at a time, inflated by zlib-ng (vendored, about twice the system zlib's
/// speed on layers: see Sources/Scan/zlib-ng/VENDORED.md).
///
/// The stream lives at a fixed address for its whole life (zlib checks that the state's
/// back-pointer still matches), so it is allocated here and never copied.
final class GzipInflater {
    struct Step {
        /// Input bytes used.
        var consumed: Int
        /// Output bytes written at the start of the output buffer.
        var produced: Int
        /// The member's trailer was read and its CRC-32 and length matched.
        var memberEnded: Bool
    }

    private let stream: UnsafeMutablePointer<zng_stream>

    init() throws {
        stream = .allocate(capacity: 1)
        stream.initialize(to: zng_stream())
        // 16 + 15: a gzip wrapper (header and CRC-32 trailer checked), 32 KiB window.
        let status = zng_inflateInit2(stream, 16 + 15)
        guard status == Z_OK else {
            stream.deinitialize(count: 1)
            stream.deallocate()
            throw LayerError.corruptGzip("inflater could not start (zlib-ng status \(status))")
        }
    }

    deinit {
        zng_inflateEnd(stream)
        stream.deinitialize(count: 1)
        stream.deallocate()
    }

    /// zlib's terse reasons, said so that a reader knows which check failed.
    static func describe(_ message: String?) -> String {
        switch message {
        case "incorrect data check"?: "CRC-32 checksum mismatch: the inflated data does not match the gzip trailer"
        case "incorrect length check"?: "length mismatch: the inflated size does not match the gzip trailer"
        case let message?: "invalid deflate data (\(message))"
        case nil: "invalid deflate data"
        }
    }

    /// Starts the next gzip member (multi-member layers).
    func reset() throws {
        let status = zng_inflateReset(stream)
        guard status == Z_OK else { throw LayerError.corruptGzip("inflater reset failed (zlib-ng status \(status))") }
    }

    /// Inflates from `input` into `output` until the input is used, the output is full or the
    /// member ends. A corrupt stream (bad block, bad CRC-32 or length in the trailer) throws.
    func inflate(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) throws -> Step {
        guard let outBase = output.baseAddress, output.count > 0 else { return Step(consumed: 0, produced: 0, memberEnded: false) }
        let inCount = UInt32(clamping: input.count)
        let outCount = UInt32(clamping: output.count)
        stream.pointee.next_in = input.baseAddress?.assumingMemoryBound(to: UInt8.self)
        stream.pointee.avail_in = inCount
        stream.pointee.next_out = outBase.assumingMemoryBound(to: UInt8.self)
        stream.pointee.avail_out = outCount
        let status = zng_inflate(stream, Z_NO_FLUSH)
        let step = Step(
            consumed: Int(inCount - stream.pointee.avail_in),
            produced: Int(outCount - stream.pointee.avail_out),
            memberEnded: status == Z_STREAM_END
        )
        stream.pointee.next_in = nil
        stream.pointee.next_out = nil
        switch status {
        case Z_OK, Z_STREAM_END, Z_BUF_ERROR:
            // Z_BUF_ERROR: no progress possible, the input is used up (more is needed).
            return step
        case Z_DATA_ERROR:
            throw LayerError.corruptGzip(Self.describe(stream.pointee.msg.map { String(cString: $0) }))
        case Z_MEM_ERROR:
            throw LayerError.corruptGzip("inflater out of memory")
        default:
            throw LayerError.corruptGzip("inflater failed (zlib-ng status \(status))")
        }
    }
}
