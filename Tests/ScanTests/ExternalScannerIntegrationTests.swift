import AsyncHTTPClient
import Foundation
import Logging
import Testing

@testable import Registry
@testable import Scan

// ImageScanner with external scanners against the real CNCF distribution registry (Debian
// `docker-registry`) and the real syft; skipped when either is missing.

private let registryPath = "/usr/bin/docker-registry"
private let canRun = FileManager.default.isExecutableFile(atPath: registryPath) && BinaryLocator.fromEnvironment().locate("syft") != nil

/// Layer analyses kept in memory.
private actor MemoryCache: LayerAnalysisCache {
    var entries: [String: LayerAnalysis] = [:]
    func get(digest: String) async -> LayerAnalysis? { entries[digest] }
    func put(_ analysis: LayerAnalysis, digest: String) async { entries[digest] = analysis }
}

/// Progress lines, collected.
private final class Lines: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    func add(_ line: String) { lock.lock(); lines.append(line); lock.unlock() }
    var all: [String] { lock.lock(); defer { lock.unlock() }; return lines }
}

/// Runs `docker-registry serve` on a free port for the duration of `body`.
private func withRegistry<T>(_ dir: URL, _ body: (RegistryClient) async throws -> T) async throws -> T {
    let probe = try ServerSocketProbe.freePort()
    let config: [String: Any] = [
        "version": 0.1,
        "log": ["level": "error", "accesslog": ["disabled": true]],
        "storage": ["filesystem": ["rootdirectory": dir.appendingPathComponent("data").path]],
        "http": ["addr": "127.0.0.1:\(probe)", "secret": "external-scanner-test"],
    ]
    let file = dir.appendingPathComponent("config.yml")
    try JSONSerialization.data(withJSONObject: config, options: [.withoutEscapingSlashes]).write(to: file)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: registryPath)
    process.arguments = ["serve", file.path]
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    try process.run()
    defer {
        process.terminate()
        process.waitUntilExit()
    }
    let client = try RegistryClient(
        configuration: .init(url: "http://127.0.0.1:\(probe)", insecure: true, retry: RetryPolicy(maxAttempts: 1)),
        httpClient: HTTPClient.shared, logger: Logger(label: "test"))
    for _ in 0..<150 {
        if (try? await client.listRepositories()) != nil { return try await body(client) }
        try await Task.sleep(for: .milliseconds(100))
    }
    throw ServerSocketProbe.Failure(description: "docker-registry did not start")
}

private enum ServerSocketProbe {
    struct Failure: Error, CustomStringConvertible { var description: String }

    /// A port nothing listens on right now.
    static func freePort() throws -> Int {
        let out = try Shell.run(#"python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'"#)
        guard let port = Int(String(decoding: out, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw Failure(description: "no free port")
        }
        return port
    }
}

@Suite("External scanners in the image scanner", .serialized, .enabled(if: canRun, "docker-registry or syft not installed"))
struct ExternalScannerIntegrationTests {
    @Test("cached layers are fetched for the layout only; syft ok, a missing scanner unavailable, findings merged", .timeLimit(.minutes(5)))
    func cachedLayersAndSyft() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hg-ext-int-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        // Only syft is on this scan's search path (a link to the real one); grype is not.
        let bin = dir.appendingPathComponent("bin")
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(at: bin.appendingPathComponent("syft"), withDestinationURL: BinaryLocator.fromEnvironment().locate("syft")!)
        let work = dir.appendingPathComponent("work")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)

        var base = TarWriter()
        base.file("etc/os-release", "NAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\nID=debian\n")
        base.file("var/lib/dpkg/status", "Package: tar\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.34+dfsg-1.2+deb12u1\nDescription: GNU tar\n\n")
        base.end()
        var app = TarWriter()
        app.file("usr/lib/python3/dist-packages/requests-2.19.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: requests\nVersion: 2.19.0\n\n")
        app.file("usr/lib/python3/dist-packages/requests-2.19.0.dist-info/RECORD", "")
        app.end()
        let tars = [base.bytes, app.bytes]
        let blobs = try tars.map { Data(try Shell.gzip($0)) }
        let config = Data(#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["\#(tars.map { Digest.sha256(of: $0).description }.joined(separator: #"",""#))"]},"config":{}}"#.utf8)
        let layerJSON = blobs.map { #"{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"\#(Digest.sha256(of: $0))","size":\#($0.count)}"# }
        let manifest = Data(#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"\#(Digest.sha256(of: config))","size":\#(config.count)},"layers":[\#(layerJSON.joined(separator: ","))]}"#.utf8)

        let db = try VulnerabilityDatabase(path: dir.appendingPathComponent("vulndb.sqlite").path)
        var r = OSVRecord(id: "PYSEC-2018-28", modified: "2024-11-21T03:55:28Z")
        r.aliases = ["CVE-2018-18074", "GHSA-x84v-xcm2-53pg"]
        r.affected = [OSVAffected(
            package: OSVPackage(ecosystem: "PyPI", name: "requests"),
            ranges: [OSVRange(type: "ECOSYSTEM", events: [OSVEvent(.introduced, "0"), OSVEvent(.fixed, "2.20.0")])])]
        _ = try db.import(records: [r], source: "test")

        try await withRegistry(dir) { client in
            let repo = try Repository("apps/ext")
            _ = try await client.pushBlob(repo, config)
            for b in blobs { _ = try await client.pushBlob(repo, b) }
            _ = try await client.putManifest(repo, reference: "1.0", manifest, mediaType: MediaType.ociManifest)
            let image = try ImageReference("\(client.registryHost)/apps/ext:1.0")

            // First scan, native only, fills the cache.
            let cache = MemoryCache()
            let first = try await ImageScanner(cache: cache).scan(image, client: client, database: db)
            #expect(first.scanners.map(\.name) == ["native"])
            #expect(first.findings.map(\.sources) == [["native"]])

            var scanner = ImageScanner(cache: cache)
            scanner.externalScanners = ["native", "syft", "grype", "syft"]
            scanner.binaryLocator = BinaryLocator(searchPath: [bin.path])
            scanner.workDirectory = work
            scanner.scannerTimeout = .seconds(240)
            let lines = Lines()
            let report = try await scanner.scan(image, client: client, database: db, progress: { lines.add($0.description) })
            #expect(report.layers.allSatisfy { $0.cached })
            // Every layer came from the cache, so each was fetched once for the layout.
            #expect(lines.all.filter { $0.hasSuffix("fetched for external scanners") }.count == 2)
            #expect(report.scanners.map(\.name) == ["native", "syft", "grype"])
            #expect(report.scanners[0].status == .ok && report.scanners[0].version == String(LayerAnalysis.analyzerVersion))
            #expect(report.scanners[1].status == .ok, "\(report.scanners[1])")
            #expect(report.scanners[1].version != nil)
            #expect(report.scanners[2].status == .unavailable)
            #expect(report.scanners[2].error == "grype not found on the search path")
            let finding = try #require(report.findings.first)
            #expect(report.findings.count == 1)
            #expect(finding.vulnerabilityId == "CVE-2018-18074" && finding.sources == ["native", "syft"])
            #expect(report.packages.count == 2)
            #expect(report.notes.contains("syft inventory: 2 packages (2 of modelled types), 2 also found natively, 0 only in syft, 0 only in native"))
            // The layout is gone.
            #expect(try FileManager.default.contentsOfDirectory(atPath: work.path).isEmpty)
        }
    }
}
