import Foundation
public import Registry

/// What one scan of one image found.
public struct ImageScanReport: Sendable, Codable {
    public var reference: String
    public var digest: String
    public var manifestDigest: String
    public var platform: String
    public var os: OSInfo?
    public var layers: [LayerSummary]
    public var packages: [InstalledPackage]
    public var findings: [Finding]
    public var notes: [String]
    public var durationMs: Int

    public struct LayerSummary: Sendable, Codable {
        public var digest: String
        public var mediaType: String
        public var compressedBytes: Int64
        public var uncompressedBytes: Int64
        public var entries: Int
        /// True when the analysis came from the layer cache and no byte was downloaded.
        public var cached: Bool
    }
}

/// A place to keep layer analyses by (layer digest, analyser version), so a rescan of an
/// image whose layers were seen downloads nothing.
public protocol LayerAnalysisCache: Sendable {
    func get(digest: String) async -> LayerAnalysis?
    func put(_ analysis: LayerAnalysis, digest: String) async
}

/// The native scanning pipeline: resolve the reference, stream each layer once through the
/// analyser, merge layers with whiteouts, match the inventory against the vulnerability
/// database. Needs no other binary and no database of the server.
public struct ImageScanner: Sendable {
    public var limits: LayerLimits
    public var cache: (any LayerAnalysisCache)?

    public init(limits: LayerLimits = .default, cache: (any LayerAnalysisCache)? = nil) {
        self.limits = limits
        self.cache = cache
    }

    public func scan(
        _ image: ImageReference, client: RegistryClient, platform: Platform = .linuxAmd64,
        database: VulnerabilityDatabase?, progress: (@Sendable (String) -> Void)? = nil
    ) async throws -> ImageScanReport {
        let start = ContinuousClock.now
        progress?("resolving \(image)")
        let resolved = try await client.resolveImage(image, platform: platform)
        var analyses: [(digest: String, analysis: LayerAnalysis)] = []
        var summaries: [ImageScanReport.LayerSummary] = []
        let layers = resolved.manifest.layers
        for (i, layer) in layers.enumerated() {
            let digest = layer.digest.description
            if let cached = await cache?.get(digest: digest) {
                analyses.append((digest, cached))
                summaries.append(.init(
                    digest: digest, mediaType: layer.mediaType, compressedBytes: cached.compressedBytes,
                    uncompressedBytes: cached.uncompressedBytes, entries: cached.entryCount, cached: true))
                progress?("layer \(i + 1)/\(layers.count) \(digest.prefix(19)) cached")
                continue
            }
            progress?("layer \(i + 1)/\(layers.count) \(digest.prefix(19)) \(ByteCountFormatter.string(fromByteCount: layer.size, countStyle: .binary))")
            let stream = try await client.fetchBlob(image.repository, digest: layer.digest, size: layer.size)
            let analysis = try await analyzeLayer(stream: stream, mediaType: layer.mediaType, expectedDigest: digest, limits: limits)
            await cache?.put(analysis, digest: digest)
            analyses.append((digest, analysis))
            summaries.append(.init(
                digest: digest, mediaType: layer.mediaType, compressedBytes: analysis.compressedBytes,
                uncompressedBytes: analysis.uncompressedBytes, entries: analysis.entryCount, cached: false))
        }
        let merged = ImageAnalyzer.mergeWithNotes(layers: analyses)
        var findings: [Finding] = []
        if let database {
            progress?("matching \(merged.inventory.packages.count) packages")
            findings = try VulnerabilityMatcher(database: database).match(merged.inventory)
        }
        let elapsed = ContinuousClock.now - start
        return ImageScanReport(
            reference: image.description, digest: resolved.digest.description,
            manifestDigest: resolved.manifestDigest.description,
            platform: resolved.platform?.description ?? platform.description, os: merged.inventory.os,
            layers: summaries, packages: merged.inventory.packages, findings: findings,
            notes: merged.notes + analyses.flatMap { $0.analysis.notes },
            durationMs: Int(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000))
    }
}
