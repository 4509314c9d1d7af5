import Foundation
import Scan
import Testing

/// Opt-in: `HARBORGUARD_BENCH_LAYER=/path/layer.tar.gz swift test -c release -Xswiftc -enable-testing
/// --filter LayerBenchmark` prints the analyser's time next to `gzip -dc`'s for the same blob.
@Suite struct LayerBenchmarkTests {
    static let layer = ProcessInfo.processInfo.environment["HARBORGUARD_BENCH_LAYER"]

    @Test(.enabled(if: layer != nil)) func analyseALocalLayer() async throws {
        let path = try #require(Self.layer)
        let gzipStart = ContinuousClock.now
        try Shell.run("gzip -dc '\(path)' > /dev/null")
        let gzipTime = ContinuousClock.now - gzipStart
        let measurement = try await LayerBenchmark.run(path: path, mediaType: "application/vnd.oci.image.layer.v1.tar+gzip")
        print(
            "layer benchmark: \(measurement.compressedBytes) → \(measurement.uncompressedBytes) bytes, "
                + "\(measurement.entries) entries, \(measurement.packages) packages; "
                + "analyzeLayer \(measurement.seconds) s (\(Int(measurement.throughput)) MiB/s), gzip -dc \(gzipTime)")
    }

    /// The runtime search on a layer with no runtime in it (Debian's docs, locales, terminfo and
    /// Perl modules from this machine: many files, none a candidate) finds nothing and changes
    /// nothing. What it costs is measured by `make bench` (`harborguard bench-layer`, release
    /// binary), not here.
    @Test func runtimeSearchChangesNothingWithoutRuntimes() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hg-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("layer.tar.gz").path
        try Shell.run("tar -C / -cf - usr/share/doc usr/share/locale usr/share/terminfo usr/share/perl 2>/dev/null | gzip -1 > '\(path)'")
        let type = "application/vnd.oci.image.layer.v1.tar+gzip"
        let without = try await LayerBenchmark.run(path: path, mediaType: type, runtimes: false)
        let with = try await LayerBenchmark.run(path: path, mediaType: type, runtimes: true)
        #expect(with.packages == without.packages)
        #expect(with.entries == without.entries)
        #expect(with.entries > 10_000)
    }
}
