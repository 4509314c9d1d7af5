public import Foundation
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
    /// Every scanner of the scan: `native` first, then each requested external scanner with
    /// its status (`ok`, `failed`, `unavailable`).
    public var scanners: [ScannerRun]
    /// Findings left out by `scan --vex` (nil: no VEX document was given). Not stored.
    public var vexSuppressed: Int? = nil

    public struct LayerSummary: Sendable, Codable {
        public var digest: String
        public var mediaType: String
        public var compressedBytes: Int64
        public var uncompressedBytes: Int64
        public var entries: Int
        /// True when the analysis came from the layer cache.
        public var cached: Bool
        /// True when a cached layer was still downloaded, for the external scanners' layout.
        public var fetchedForScanners: Bool? = nil
        /// Whether this scan downloaded the layer's bytes.
        public var downloaded: Bool { !cached || fetchedForScanners == true }
    }

    public init(
        reference: String, digest: String, manifestDigest: String, platform: String, os: OSInfo?, layers: [LayerSummary],
        packages: [InstalledPackage], findings: [Finding], notes: [String], durationMs: Int, scanners: [ScannerRun]
    ) {
        self.reference = reference
        self.digest = digest
        self.manifestDigest = manifestDigest
        self.platform = platform
        self.os = os
        self.layers = layers
        self.packages = packages
        self.findings = findings
        self.notes = notes
        self.durationMs = durationMs
        self.scanners = scanners
    }

    enum CodingKeys: String, CodingKey {
        case reference, digest, manifestDigest, platform, os, layers, packages, findings, notes, durationMs, scanners
    }

    /// Reports written before scanners were recorded (and sensors that send none) decode
    /// with an empty `scanners`.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        reference = try c.decode(String.self, forKey: .reference)
        digest = try c.decode(String.self, forKey: .digest)
        manifestDigest = try c.decode(String.self, forKey: .manifestDigest)
        platform = try c.decode(String.self, forKey: .platform)
        os = try c.decodeIfPresent(OSInfo.self, forKey: .os)
        layers = try c.decode([LayerSummary].self, forKey: .layers)
        packages = try c.decode([InstalledPackage].self, forKey: .packages)
        findings = try c.decode([Finding].self, forKey: .findings)
        notes = try c.decode([String].self, forKey: .notes)
        durationMs = try c.decode(Int.self, forKey: .durationMs)
        scanners = try c.decodeIfPresent([ScannerRun].self, forKey: .scanners) ?? []
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
///
/// With `externalScanners` set, each named scanner found by `binaryLocator` also runs, on
/// an OCI image layout written from the bytes the native pass downloads (each layer is
/// teed to disk as it streams: no second pull, and no registry credential reaches the
/// scanner). A layer whose analysis came from `cache` is not streamed by the native pass,
/// so it is fetched once for the layout when an external scanner runs; the image config
/// (a few KB) is fetched for the layout too. The layout lives in a temporary directory
/// under `workDirectory` and is removed when the scan ends. A scanner that is not
/// installed is `unavailable`, one that fails or outlives `scannerTimeout` is `failed`;
/// neither fails the scan. A full disk under `workDirectory` (ENOSPC) does: the scan
/// throws ``ExternalScannerError/diskFull(directory:detail:)`` rather than report less
/// than was asked for.
public struct ImageScanner: Sendable {
    public var limits: LayerLimits
    public var cache: (any LayerAnalysisCache)?
    /// External scanners to run besides the native engine: `syft`, `trivy`, `grype`
    /// (`native` is ignored here: it always runs). Unknown names are reported `failed`.
    public var externalScanners: [String] = []
    /// How long each external scanner may run before it is stopped (SIGTERM, then SIGKILL).
    public var scannerTimeout: Duration = .seconds(600)
    /// Parent of the temporary OCI layout directory (default: the system temp directory).
    public var workDirectory: URL?
    /// Where external scanners are looked for (default: this process's `PATH`).
    public var binaryLocator: BinaryLocator = .fromEnvironment()
    /// Database cache and offline settings for the external scanners.
    public var externalOptions: ExternalScannerOptions = .init()
    /// How many layers are fetched and analysed at once. Each layer's analysis is
    /// independent (a pure function of its bytes); the image is assembled from them in
    /// manifest order afterwards, so order and whiteouts do not depend on this. One
    /// gzip stream inflates on one core: a scan of an image whose bytes are spread over
    /// several layers is faster with more. The CLI uses the machine's cores (at most 4);
    /// the server keeps 1, its scan workers already run in parallel.
    public var layerConcurrency = 1

    public init(limits: LayerLimits = .default, cache: (any LayerAnalysisCache)? = nil) {
        self.limits = limits
        self.cache = cache
    }

    public func scan(
        _ image: ImageReference, client: RegistryClient, platform: Platform = .linuxAmd64,
        database: VulnerabilityDatabase?, progress: (@Sendable (ScanProgress) -> Void)? = nil
    ) async throws -> ImageScanReport {
        let start = ContinuousClock.now
        progress?(.resolving(image: "\(image)"))
        let resolved = try await client.resolveImage(image, platform: platform)
        guard resolved.manifest.layers.count <= limits.maxLayers else {
            throw LayerError.tooManyLayers(count: resolved.manifest.layers.count, limit: limits.maxLayers)
        }

        // External scanners: which are wanted, which are installed. A layout is written only
        // when at least one can run.
        var external: [(name: String, scanner: ExternalScanner?, binary: URL?)] = []
        var seen = Set<String>()
        for raw in externalScanners {
            let name = raw.trimmingCharacters(in: .whitespaces).lowercased()
            guard !name.isEmpty, name != "native", seen.insert(name).inserted else { continue }
            let scanner = ExternalScanner(rawValue: name)
            external.append((name, scanner, scanner.flatMap { binaryLocator.locate($0.rawValue) }))
        }
        var work: URL?
        var layout: OCILayoutWriter?
        var layoutError: String?
        let parent = workDirectory ?? FileManager.default.temporaryDirectory
        /// A full disk under the layout fails the scan (a scanner's own failure does not).
        func checkDiskFull() throws {
            if let layout, layout.diskFull {
                throw ExternalScannerError.diskFull(directory: parent.path, detail: layout.error ?? "no space left on device")
            }
        }
        if external.contains(where: { $0.binary != nil }) {
            let dir = parent.appendingPathComponent("harborguard-scan-\(UUID().uuidString)")
            do {
                try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
                work = dir
                layout = try OCILayoutWriter(directory: dir.appendingPathComponent("layout"))
            } catch {
                if OCILayoutWriter.isDiskFull(error) {
                    if let work { try? FileManager.default.removeItem(at: work) }
                    throw ExternalScannerError.diskFull(directory: parent.path, detail: "creating \(dir.lastPathComponent)")
                }
                layoutError = "\(dir.path): \(error.localizedDescription)"
            }
        }
        defer { if let work { try? FileManager.default.removeItem(at: work) } }

        let layers = resolved.manifest.layers
        var results: [(analysis: LayerAnalysis, summary: ImageScanReport.LayerSummary)?] = Array(repeating: nil, count: layers.count)
        var uncached: [Int] = []
        for (i, layer) in layers.enumerated() {
            let digest = layer.digest.description
            guard let cached = await cache?.get(digest: digest) else {
                uncached.append(i)
                continue
            }
            var summary = ImageScanReport.LayerSummary(
                digest: digest, mediaType: layer.mediaType, compressedBytes: cached.compressedBytes,
                uncompressedBytes: cached.uncompressedBytes, entries: cached.entryCount, cached: true)
            progress?(.layer(index: i + 1, count: layers.count, digest: String(digest.prefix(19)), detail: "cached"))
            if let layout, !layout.contains(layer.digest) {
                // Only the external scanners need these bytes.
                progress?(.layer(index: i + 1, count: layers.count, digest: String(digest.prefix(19)), detail: "fetched for external scanners"))
                do {
                    try await layout.copy(try await client.fetchBlob(image.repository, digest: layer.digest, size: layer.size), digest: layer.digest)
                    summary.fetchedForScanners = true
                } catch {
                    layoutError = layoutError ?? "layer \(digest): \(error)"
                }
            }
            results[i] = (cached, summary)
        }
        // The layers not cached: fetched and analysed `layerConcurrency` at a time, the largest
        // first (so a big layer is not left to run alone at the end); the first failure cancels
        // the others and fails the scan, as it would one at a time.
        if layerConcurrency > 1 { uncached.sort { layers[$0].size > layers[$1].size } }
        let (limits, cache, repository) = (limits, cache, image.repository)
        let analyse: @Sendable (Int) async throws -> (Int, LayerAnalysis) = { [layout] i in
            let layer = layers[i]
            let digest = layer.digest.description
            progress?(.layer(
                index: i + 1, count: layers.count, digest: String(digest.prefix(19)),
                detail: ByteCountFormatter.string(fromByteCount: layer.size, countStyle: .binary)))
            let stream = try await client.fetchBlob(repository, digest: layer.digest, size: layer.size)
            let analysis: LayerAnalysis
            if let layout, !layout.contains(layer.digest) {
                analysis = try await analyzeLayer(
                    stream: layout.tee(stream, digest: layer.digest), mediaType: layer.mediaType, expectedDigest: digest, limits: limits)
            } else {
                analysis = try await analyzeLayer(stream: stream, mediaType: layer.mediaType, expectedDigest: digest, limits: limits)
            }
            await cache?.put(analysis, digest: digest)
            return (i, analysis)
        }
        try await withThrowingTaskGroup(of: (Int, LayerAnalysis).self) { group in
            var next = uncached.makeIterator()
            for _ in 0..<max(1, layerConcurrency) {
                guard let i = next.next() else { break }
                group.addTask { try await analyse(i) }
            }
            while let (i, analysis) = try await group.next() {
                let layer = layers[i]
                results[i] = (analysis, .init(
                    digest: layer.digest.description, mediaType: layer.mediaType, compressedBytes: analysis.compressedBytes,
                    uncompressedBytes: analysis.uncompressedBytes, entries: analysis.entryCount, cached: false))
                if let j = next.next() { group.addTask { try await analyse(j) } }
            }
        }
        let analyses = zip(layers, results).map { layer, r in (digest: layer.digest.description, analysis: r!.analysis) }
        let summaries = results.map { $0!.summary }
        try checkDiskFull()
        let merged = ImageAnalyzer.mergeWithNotes(layers: analyses)
        var findings: [Finding] = []
        if let database {
            progress?(.matching(packages: merged.inventory.packages.count))
            findings = try await VulnerabilityMatcher(database: database).match(merged.inventory)
        }
        var runs = [ScannerRun(
            name: "native", status: .ok, version: String(LayerAnalysis.analyzerVersion),
            durationMs: (ContinuousClock.now - start).wholeMilliseconds)]
        var notes = merged.notes + analyses.flatMap { $0.analysis.notes }

        // The config (a few KB) is fetched only for the external scanners' layout. Bytes that
        // do not match its digest or size, or a config that does not fit the manifest, fail
        // the scan like a bad layer would; a network failure only fails the scanners.
        var config: Data?
        var configDiffIDs: [String] = []
        if layout != nil, work != nil, layoutError == nil {
            let descriptor = resolved.manifest.config
            do {
                config = try await client.fetchBlobData(image.repository, digest: descriptor.digest, size: descriptor.size)
            } catch {
                switch error {
                case .digestMismatch, .sizeMismatch, .tooLarge, .invalidDigest:
                    throw LayerError.invalidConfig("does not match its descriptor: \(error)")
                default: layoutError = "image config: \(error)"
                }
            }
            if let config { configDiffIDs = try Self.checkConfig(config, layers: layers.count) }
        }

        if !external.isEmpty {
            let outcome = await runExternal(
                external, layout: layout, layoutError: layoutError, config: config, configDiffIDs: configDiffIDs, work: work,
                resolved: resolved, image: image,
                client: client, nativeInventory: merged.inventory, database: database, progress: progress)
            try checkDiskFull()
            runs += outcome.runs
            notes += outcome.notes
            if !outcome.findings.isEmpty {
                findings = FindingMerger.merge([findings] + outcome.findings)
            }
        }
        return ImageScanReport(
            reference: image.description, digest: resolved.digest.description,
            manifestDigest: resolved.manifestDigest.description,
            platform: resolved.platform?.description ?? platform.description, os: merged.inventory.os,
            layers: summaries, packages: merged.inventory.packages, findings: findings,
            notes: notes, durationMs: (ContinuousClock.now - start).wholeMilliseconds, scanners: runs)
    }

    /// Finishes the layout, runs the installed scanners concurrently, and turns what they
    /// said into runs, finding lists (one per scanner, in request order) and notes.
    func runExternal(
        _ external: [(name: String, scanner: ExternalScanner?, binary: URL?)], layout: OCILayoutWriter?, layoutError: String?,
        config: Data?, configDiffIDs: [String], work: URL?, resolved: ResolvedImage, image: ImageReference, client: RegistryClient, nativeInventory: ImageInventory,
        database: VulnerabilityDatabase?, progress: (@Sendable (ScanProgress) -> Void)?
    ) async -> (runs: [ScannerRun], findings: [[Finding]], notes: [String]) {
        var layoutError = layoutError ?? layout?.error
        // Layer ids as syft/grype/trivy report them (uncompressed diff ids) → layer digests.
        var diffIDs: [String: String] = [:]
        if let layout, let config, work != nil, layoutError == nil {
            do {
                let manifest = resolved.manifest
                for (id, layer) in zip(configDiffIDs, manifest.layers) { diffIDs[id] = layer.digest.description }
                try layout.finish(manifest: manifest, config: config, platform: resolved.platform)
            } catch {
                layoutError = "\(error)"
            }
        }
        let layoutFailure = layoutError.map { ExternalScannerError.layout($0).description }
        let layerIDs = diffIDs
        var outcomes: [Int: ExternalScanner.Outcome] = [:]
        await withTaskGroup(of: (Int, ExternalScanner.Outcome).self) { group in
            for (index, entry) in external.enumerated() {
                guard let scanner = entry.scanner, let binary = entry.binary, let layout, let work, layoutFailure == nil else { continue }
                let timeout = scannerTimeout
                let options = externalOptions
                progress?(.running(scanner: scanner.rawValue))
                group.addTask {
                    let outcome = await scanner.run(
                        binary: binary, layout: layout.directory, home: work.appendingPathComponent("home-\(scanner.rawValue)"),
                        layers: layerIDs, timeout: timeout, options: options)
                    return (index, outcome)
                }
            }
            for await (index, outcome) in group { outcomes[index] = outcome }
        }
        var runs: [ScannerRun] = []
        var lists: [[Finding]] = []
        var notes: [String] = []
        for (index, entry) in external.enumerated() {
            guard let scanner = entry.scanner else {
                runs.append(ScannerRun(
                    name: entry.name, status: .failed,
                    error: "unknown scanner; known: \(ExternalScanner.allCases.map(\.rawValue).joined(separator: ", "))"))
                continue
            }
            guard entry.binary != nil else {
                runs.append(ScannerRun(name: entry.name, status: .unavailable, error: "\(entry.name) not found on the search path"))
                continue
            }
            guard let outcome = outcomes[index] else {
                runs.append(ScannerRun(name: entry.name, status: .failed, error: layoutFailure ?? "not run"))
                continue
            }
            runs.append(outcome.run)
            guard let result = outcome.result else { continue }
            if result.skipped > 0 {
                notes.append("\(entry.name): \(result.skipped) entries of package types harborguard does not model were left out")
            }
            var found = result.findings
            if scanner == .syft {
                notes.append(Self.inventoryDifference(native: nativeInventory.packages, syft: result.packages, skipped: result.skipped))
                if let database {
                    // syft lists packages; the native matcher turns them into findings.
                    let inventory = ImageInventory(os: nativeInventory.os ?? outcome.os, packages: result.packages)
                    do {
                        found = try await VulnerabilityMatcher(database: database).match(inventory).map { f in
                            var f = f
                            f.sources = ["syft"]
                            return f
                        }
                    } catch {
                        notes.append("syft: matching its packages failed: \(error)")
                    }
                }
            }
            lists.append(found)
        }
        return (runs, lists, notes)
    }

    /// Refuses an image config that is not a JSON object, or whose `rootfs.diff_ids` (when
    /// present) do not list one id per layer, as `docker pull` does. Returns those ids (none
    /// when the config has no list).
    @discardableResult
    static func checkConfig(_ data: Data, layers: Int) throws -> [String] {
        guard let config = try? JSONDecoder().decode(ConfigRootFS.self, from: data) else {
            throw LayerError.invalidConfig("is not a JSON object")
        }
        guard let diffIDs = config.diffIDs else { return [] }
        guard let list = diffIDs else { throw LayerError.invalidConfig("has a malformed rootfs.diff_ids") }
        guard list.count == layers else {
            throw LayerError.invalidConfig("lists \(list.count) rootfs.diff_ids for \(layers) layers")
        }
        return list
    }

    /// The part of an image config the scan checks: `rootfs.diff_ids`. Decoding fails only
    /// when the config is not a JSON object; `diffIDs` is nil when there is no list (no
    /// `rootfs` object, or no `diff_ids` in it), `.some(nil)` when the list is not strings.
    struct ConfigRootFS: Decodable {
        var diffIDs: [String]??

        enum Keys: String, CodingKey {
            case rootfs
            case diffIDs = "diff_ids"
        }

        init(from decoder: any Decoder) throws {
            let config = try decoder.container(keyedBy: Keys.self)
            guard let rootfs = try? config.nestedContainer(keyedBy: Keys.self, forKey: .rootfs), rootfs.contains(.diffIDs) else {
                diffIDs = nil
                return
            }
            diffIDs = .some(try? rootfs.decode([String].self, forKey: .diffIDs))
        }
    }

    /// One line comparing syft's inventory with the native one (counts only).
    static func inventoryDifference(native: [InstalledPackage], syft: [InstalledPackage], skipped: Int) -> String {
        struct Key: Hashable {
            var type: PackageType
            var name: String
            var version: String
        }
        func key(_ p: InstalledPackage) -> Key {
            Key(type: p.type, name: p.type == .python ? OSVEcosystem.pep503(p.name) : p.name.lowercased(), version: p.version)
        }
        let n = Set(native.map(key))
        let s = Set(syft.map(key))
        return "syft inventory: \(syft.count + skipped) packages (\(syft.count) of modelled types), \(s.intersection(n).count) also found natively, "
            + "\(s.subtracting(n).count) only in syft, \(n.subtracting(s).count) only in native"
    }
}
