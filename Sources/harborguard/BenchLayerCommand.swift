import ArgumentParser
import Foundation
import Scan

/// `harborguard bench-layer FILE`: times the analyser on a layer blob on disk and prints one
/// JSON object. Not in the help: `make bench` uses it to measure what the runtime search costs
/// on a layer with no runtime in it (`--no-runtimes` against the default), in the release binary.
struct BenchLayerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-layer",
        abstract: "Time the layer analyser on a layer file (for benchmarks).",
        shouldDisplay: false)

    @Argument(help: "A layer blob: a tar, or a gzip-compressed tar.") var path: String
    @Option(help: "The layer's media type.") var mediaType = "application/vnd.oci.image.layer.v1.tar+gzip"
    @Flag(help: "Leave out the runtime search (versions of runtimes read from their own files).") var noRuntimes = false

    func run() async throws {
        guard FileManager.default.isReadableFile(atPath: path) else { fail("\(path) is not a readable file", code: 64) }
        let m: LayerBenchmark.Measurement
        do {
            m = try await LayerBenchmark.run(path: path, mediaType: mediaType, runtimes: !noRuntimes)
        } catch {
            fail("\(path): \(error)")
        }
        struct Output: Encodable {
            var seconds: Double, compressedBytes: Int64, uncompressedBytes: Int64, entries: Int, packages: Int, runtimes: Bool
        }
        let output = Output(
            seconds: m.seconds, compressedBytes: m.compressedBytes, uncompressedBytes: m.uncompressedBytes, entries: m.entries,
            packages: m.packages, runtimes: !noRuntimes)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        print(String(decoding: try encoder.encode(output), as: UTF8.self))
    }
}
