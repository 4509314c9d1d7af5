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
}
