/// Why a layer could not be analysed. Each case names what was wrong so an operator can
/// tell a hostile or broken layer from a bug.
public enum LayerError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The media type names a compression this analyser does not implement (e.g. zstd).
    case unsupportedCompression(mediaType: String)
    /// The compressed bytes do not hash to the digest the manifest promised.
    case digestMismatch(expected: String, actual: String)
    /// The expected digest is not a `sha256:<64 hex>` string.
    case invalidDigest(String)
    /// The gzip stream is corrupt (bad header, bad deflate data, bad CRC).
    case corruptGzip(String)
    /// The gzip stream ended in the middle of a member.
    case truncatedGzip(compressedBytes: Int64)
    /// Decompressed size passed the absolute cap.
    case decompressedSizeLimitExceeded(limit: Int64)
    /// Decompressed/compressed ratio passed the cap (a decompression bomb).
    case compressionRatioExceeded(ratio: Int64, limit: Int64)
    /// A tar header is malformed (bad checksum, bad number field, …).
    case corruptTar(offset: Int64, reason: String)
    /// The tar stream ended before an entry's header or contents were complete.
    case truncatedTar(offset: Int64)
    /// An entry's path (or hard link target) is absolute or climbs out of the root.
    case unsafePath(entry: String)
    /// The layer has more entries than the configured cap.
    case tooManyEntries(limit: Int)
    /// A PAX or GNU long-name header is larger than the configured cap.
    case extensionHeaderTooLarge(entry: String, size: Int64)
    /// The image's manifest lists more layers than the configured cap.
    case tooManyLayers(count: Int, limit: Int)
    /// The image configuration does not fit the manifest (not JSON, wrong `rootfs.diff_ids` count).
    case invalidConfig(String)

    public var description: String {
        switch self {
        case .unsupportedCompression(let mediaType):
            "unsupported layer compression: \(mediaType) (only gzip and uncompressed tar are analysed)"
        case .digestMismatch(let expected, let actual):
            "layer digest mismatch: expected \(expected), got \(actual)"
        case .invalidDigest(let digest):
            "invalid layer digest \(digest): expected sha256:<64 hex digits>"
        case .corruptGzip(let reason):
            "corrupt gzip stream: \(reason)"
        case .truncatedGzip(let bytes):
            "truncated gzip stream: ended inside a member after \(bytes) compressed bytes"
        case .decompressedSizeLimitExceeded(let limit):
            "decompression stopped: layer inflates past the \(limit)-byte limit"
        case .compressionRatioExceeded(let ratio, let limit):
            "decompression stopped: compression ratio \(ratio):1 exceeds the \(limit):1 limit (decompression bomb?)"
        case .corruptTar(let offset, let reason):
            "corrupt tar at byte \(offset): \(reason)"
        case .truncatedTar(let offset):
            "truncated tar: stream ended at byte \(offset) inside an entry"
        case .unsafePath(let entry):
            "unsafe path in layer: \(entry) (absolute paths and ../ escapes are rejected)"
        case .tooManyEntries(let limit):
            "layer has more than \(limit) entries"
        case .extensionHeaderTooLarge(let entry, let size):
            "tar extension header for \(entry) is \(size) bytes, over the limit"
        case .tooManyLayers(let count, let limit):
            "image has \(count) layers, over the \(limit)-layer limit"
        case .invalidConfig(let reason):
            "image config \(reason)"
        }
    }
}

/// Limits that keep a hostile layer from exhausting memory, disk or time.
public struct LayerLimits: Sendable, Hashable, Codable {
    /// Absolute cap on decompressed bytes for one layer.
    public var maxDecompressedBytes: Int64
    /// Cap on decompressed/compressed ratio, checked once `ratioCheckThreshold` bytes are out.
    public var maxCompressionRatio: Int64
    /// Decompressed size below which the ratio is not checked (small files compress well).
    public var ratioCheckThreshold: Int64
    /// Cap on tar entries in one layer.
    public var maxEntries: Int
    /// Cap on a PAX / GNU long-name header's size.
    public var maxExtensionHeaderBytes: Int
    /// Cap on a text database or manifest a detector buffers (dpkg status, METADATA, …).
    public var maxMetadataFileBytes: Int
    /// Cap on a binary or archive a detector buffers (ELF for Go/Rust, jars).
    public var maxBinaryFileBytes: Int
    /// Cap on the layers of one image. overlayfs stacks at most 500 and Docker builds stop
    /// at 125; a manifest of thousands of tiny layers would hold a scan slot for minutes.
    public var maxLayers: Int

    public init(
        maxDecompressedBytes: Int64 = 64 << 30,
        maxCompressionRatio: Int64 = 100,
        ratioCheckThreshold: Int64 = 256 << 20,
        maxEntries: Int = 1_000_000,
        maxExtensionHeaderBytes: Int = 1 << 20,
        maxMetadataFileBytes: Int = 64 << 20,
        maxBinaryFileBytes: Int = 256 << 20,
        maxLayers: Int = 1000
    ) {
        self.maxDecompressedBytes = maxDecompressedBytes
        self.maxCompressionRatio = maxCompressionRatio
        self.ratioCheckThreshold = ratioCheckThreshold
        self.maxEntries = maxEntries
        self.maxExtensionHeaderBytes = maxExtensionHeaderBytes
        self.maxMetadataFileBytes = maxMetadataFileBytes
        self.maxBinaryFileBytes = maxBinaryFileBytes
        self.maxLayers = maxLayers
    }

    public static let `default` = LayerLimits()
}
