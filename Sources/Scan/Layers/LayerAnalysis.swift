public import NIOCore

/// What one detector found in one file of a layer.
public struct FileFinding: Sendable, Codable, Hashable {
    /// Normalised path of the file in the image.
    public var path: String
    /// `PackageDetector.name` of the detector that read it.
    public var detector: String
    public var result: DetectorResult

    public init(path: String, detector: String, result: DetectorResult) {
        self.path = path
        self.detector = detector
        self.result = result
    }
}

/// Everything harborguard keeps about one layer: detector findings plus the file facts
/// needed to apply it over lower layers. It depends only on the layer's bytes and the
/// analyser, so it is cached by (layer digest, `LayerAnalysis.analyzerVersion`).
public struct LayerAnalysis: Sendable, Codable, Hashable {
    /// Bump whenever detectors or the facts recorded change, so cached analyses are redone.
    public static let analyzerVersion = 2

    public var analyzerVersion: Int
    /// `sha256:` digest of the blob as received (compressed).
    public var digest: String
    /// "gzip" or "none".
    public var compression: String
    public var compressedBytes: Int64
    public var uncompressedBytes: Int64
    public var entryCount: Int
    /// Findings, sorted by path.
    public var findings: [FileFinding]
    /// Paths deleted from lower layers by `.wh.<name>` entries (with everything under them).
    public var whiteouts: [String]
    /// Directories whose lower-layer contents are hidden by `.wh..wh..opq`.
    public var opaqueDirectories: [String]
    /// Non-directory entries without a finding that hide a lower layer's file at the same
    /// path (or a directory's contents): symlinks, hard links, devices, and files a detector
    /// read without finding anything or skipped.
    public var replacedPaths: [String]
    /// Things an operator should know: unsupported databases, files over the size caps,
    /// files a detector could not parse.
    public var notes: [String]

    public init(
        analyzerVersion: Int = LayerAnalysis.analyzerVersion, digest: String, compression: String,
        compressedBytes: Int64, uncompressedBytes: Int64, entryCount: Int, findings: [FileFinding],
        whiteouts: [String], opaqueDirectories: [String], replacedPaths: [String], notes: [String]
    ) {
        self.analyzerVersion = analyzerVersion
        self.digest = digest
        self.compression = compression
        self.compressedBytes = compressedBytes
        self.uncompressedBytes = uncompressedBytes
        self.entryCount = entryCount
        self.findings = findings
        self.whiteouts = whiteouts
        self.opaqueDirectories = opaqueDirectories
        self.replacedPaths = replacedPaths
        self.notes = notes
    }
}

/// Analyses one layer blob in a single streaming pass: sha256 of the compressed bytes,
/// gzip inflate (or plain tar), tar reading, detectors on the few files they want.
/// Throws `LayerError` for corrupt, truncated, hostile or mismatching layers.
///
/// - Parameters:
///   - stream: the blob's bytes, in order, in chunks of any size.
///   - mediaType: the layer's media type from the manifest (zstd is refused).
///   - expectedDigest: `sha256:<hex>` from the manifest; nil skips the check.
///   - runtimes: whether to search candidate files for runtime versions (`RuntimeDetector`).
public func analyzeLayer<Stream: AsyncSequence>(
    stream: Stream, mediaType: String, expectedDigest: String?, limits: LayerLimits = .default,
    detectors: [any PackageDetector] = Detectors.all, runtimes: Bool = true
) async throws -> LayerAnalysis where Stream.Element == ByteBuffer {
    if let expectedDigest {
        let hex = expectedDigest.dropFirst("sha256:".count)
        guard expectedDigest.hasPrefix("sha256:"), hex.utf8.count == 64,
            hex.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) })
        else { throw LayerError.invalidDigest(expectedDigest) }
    }
    let decoder = try LayerDecoder(mediaType: mediaType, limits: limits)
    var reader = TarReader(maxEntries: limits.maxEntries, maxExtensionBytes: limits.maxExtensionHeaderBytes)
    var collector = LayerCollector(detectors: detectors, limits: limits, runtimes: runtimes)
    for try await chunk in stream {
        try Task.checkCancellation()
        try decoder.feed(chunk) { bytes in try reader.feed(bytes, to: &collector) }
    }
    let digest = try decoder.finish { bytes in try reader.feed(bytes, to: &collector) }
    if let expectedDigest, digest != expectedDigest {
        throw LayerError.digestMismatch(expected: expectedDigest, actual: digest)
    }
    try reader.finish()
    return LayerAnalysis(
        digest: digest, compression: decoder.compression == .gzip ? "gzip" : "none",
        compressedBytes: decoder.compressedBytes, uncompressedBytes: decoder.decompressedBytes,
        entryCount: reader.entryCount, findings: collector.findings.values.sorted { $0.path < $1.path },
        whiteouts: collector.whiteouts.sorted(), opaqueDirectories: collector.opaqueDirectories.sorted(),
        replacedPaths: collector.replacedPaths.sorted(), notes: collector.notes)
}

/// Routes tar entries: records whiteouts and replacements, buffers files detectors want
/// (within the size caps) and runs the detector when the contents are complete.
struct LayerCollector: TarEntryHandler {
    let detectors: [any PackageDetector]
    let limits: LayerLimits
    var findings: [String: FileFinding] = [:]
    var whiteouts: Set<String> = []
    var opaqueDirectories: Set<String> = []
    var replacedPaths: Set<String> = []
    var notes: [String] = []
    private var pendingDetector: Int?
    /// The runtime search of the current entry, fed while it streams.
    private var runtimeScan: RuntimeScan?
    /// Executables go to a temporary file while they stream, for the binary detector.
    private let spool = BinarySpool()
    private var spooling = false
    let runtimes: Bool
    /// Small captured files, kept so a hard link to one can be read too.
    private var kept: [String: [UInt8]] = [:]
    private var keptBytes = 0
    private static let keptBytesLimit = 32 << 20

    init(detectors: [any PackageDetector], limits: LayerLimits, runtimes: Bool = true) {
        self.detectors = detectors
        self.limits = limits
        self.runtimes = runtimes
    }

    mutating func entryData(_ bytes: UnsafeRawBufferPointer) {
        if runtimeScan != nil { runtimeScan!.feed(bytes) }
        if spooling { spool.feed(bytes) }
    }

    mutating func entryStarted(_ entry: TarEntry) throws -> Bool {
        pendingDetector = nil
        runtimeScan = nil
        spooling = false
        guard !entry.path.isEmpty else { return false }
        let base = TarPath.basename(entry.path)
        if base.hasPrefix(".wh.") {
            let parent = TarPath.parent(entry.path)
            if base == ".wh..wh..opq" {
                opaqueDirectories.insert(parent)
            } else if !base.hasPrefix(".wh..wh.") {  // other `.wh..wh.` names are aufs bookkeeping
                whiteouts.insert(TarPath.join(parent, base.dropFirst(4)))
            }
            return false
        }
        // A later entry for the same path in this layer wins, as when extracting.
        findings[entry.path] = nil
        replacedPaths.remove(entry.path)
        switch entry.kind {
        case .directory:
            return false
        case .symlink, .other:
            replacedPaths.insert(entry.path)
            return false
        case .hardLink:
            replacedPaths.insert(entry.path)
            guard let target = entry.linkTarget else { return false }
            if let finding = findings[target] {
                // Same bytes as the target (a binary or jar, say): same finding, at this path too.
                var copy = finding
                copy.path = entry.path
                copy.result.packages = finding.result.packages.map { package in
                    var package = package
                    if package.path == target { package.path = entry.path }
                    return package
                }
                findings[entry.path] = copy
                replacedPaths.remove(entry.path)
            } else if let index = wantingDetector(entry), let contents = kept[target] {
                record(entry.path, detector: index, contents: contents)
            }
            return false
        case .file:
            if runtimes, entry.size > 0, let rule = RuntimeDetector.rule(for: entry.path) {
                runtimeScan = RuntimeScan(path: entry.path, rule: rule)
            }
            guard let index = wantingDetector(entry) else { return false }
            let detector = detectors[index]
            let interest = detector.interest(in: entry.path, size: entry.size, executable: entry.mode & 0o111 != 0)
            let cap: Int
            switch interest {
            case .presence?:
                record(entry.path, detector: index, contents: [])
                return false
            case .metadata?: cap = limits.maxMetadataFileBytes
            case .binary?, nil: cap = limits.maxBinaryFileBytes
            }
            guard entry.size <= Int64(cap) else {
                notes.append("\(entry.path): \(entry.size) bytes, over the \(cap)-byte limit; not read by \(detector.name)")
                replacedPaths.insert(entry.path)
                return false
            }
            pendingDetector = index
            if interest == .binary, detector is BinaryDetector {
                spool.begin()
                spooling = true
                return false
            }
            return true
        }
    }

    mutating func entryEnded(_ entry: TarEntry, contents: [UInt8]?) throws {
        if spooling {
            spooling = false
            if let index = pendingDetector { recordSpooled(entry.path, detector: index) }
            pendingDetector = nil
        }
        if var scan = runtimeScan {
            runtimeScan = nil
            defer { recordRuntime(&scan) }
            guard let index = pendingDetector, let contents else { return }
            pendingDetector = nil
            record(entry.path, detector: index, contents: contents)
            return
        }
        guard let index = pendingDetector, let contents else { return }
        pendingDetector = nil
        record(entry.path, detector: index, contents: contents)
        if contents.count <= limits.maxMetadataFileBytes, keptBytes + contents.count <= Self.keptBytesLimit,
            detectors[index].interest(in: entry.path, size: entry.size, executable: false) == .metadata
        {
            kept[entry.path] = contents
            keptBytes += contents.count
        }
    }

    /// Adds a runtime found while the entry streamed to the file's finding (a detector may have
    /// read the same file, e.g. the binary detector an executable).
    private mutating func recordRuntime(_ scan: inout RuntimeScan) {
        if scan.gaveUp {
            notes.append("\(scan.path): searched for a runtime version in the first \(RuntimeDetector.maxSearchedBytes) bytes only")
        }
        guard let package = scan.finish() else { return }
        if var finding = findings[scan.path] {
            finding.result.packages.append(package)
            findings[scan.path] = finding
        } else {
            findings[scan.path] = FileFinding(path: scan.path, detector: RuntimeDetector.name, result: DetectorResult(packages: [package]))
            replacedPaths.remove(scan.path)
        }
    }

    /// Runs the binary detector on the executable spooled while the entry streamed.
    private mutating func recordSpooled(_ path: String, detector index: Int) {
        if let failure = spool.failure {
            notes.append("\(path): not read by \(detectors[index].name): \(failure)")
            replacedPaths.insert(path)
            return
        }
        guard let source = spool.source, let detector = detectors[index] as? BinaryDetector else {
            replacedPaths.insert(path)  // not ELF: nothing in it for the binary detector
            return
        }
        store(path, detector: detector.name) { try detector.detect(path: path, source: source) }
    }

    private func wantingDetector(_ entry: TarEntry) -> Int? {
        let executable = entry.mode & 0o111 != 0
        return detectors.firstIndex { $0.interest(in: entry.path, size: entry.size, executable: executable) != nil }
    }

    private mutating func record(_ path: String, detector index: Int, contents: [UInt8]) {
        let detector = detectors[index]
        store(path, detector: detector.name) { try detector.detect(path: path, contents: contents) }
    }

    /// Keeps what a detector found in a file, or notes why it could not read it.
    private mutating func store(_ path: String, detector name: String, _ detect: () throws -> DetectorResult) {
        do {
            let result = try detect()
            if result.isEmpty {
                replacedPaths.insert(path)
            } else {
                findings[path] = FileFinding(path: path, detector: name, result: result)
            }
        } catch {
            notes.append("\(path): \(name) could not parse it: \(error)")
            replacedPaths.insert(path)
        }
    }
}
