import Foundation
import NIOCore
import Testing

@testable import Scan

private let gzipType = "application/vnd.oci.image.layer.v1.tar+gzip"
private let tarType = "application/vnd.oci.image.layer.v1.tar"

private func analyze(_ bytes: [UInt8], mediaType: String = gzipType, limits: LayerLimits = .default, chunk: Int = 65_536)
    async throws -> LayerAnalysis
{
    try await analyzeLayer(
        stream: ChunkedBytes(bytes, chunkSize: chunk), mediaType: mediaType, expectedDigest: try layerDigest(bytes),
        limits: limits)
}

/// A base layer built from this machine's real files.
private func baseLayer() throws -> [UInt8] {
    var tar = TarWriter()
    tar.directory("etc")
    tar.file("usr/lib/os-release", try HostFiles.read("/etc/os-release"))
    tar.symlink("etc/os-release", to: "../usr/lib/os-release")
    tar.file("var/lib/dpkg/status", try HostFiles.read("/var/lib/dpkg/status"))
    tar.end()
    return try Shell.gzip(tar.bytes)
}

@Suite struct LayerAnalysisTests {
    @Test func realDebianBaseLayer() async throws {
        let bytes = try baseLayer()
        let analysis = try await analyze(bytes)
        #expect(analysis.compression == "gzip")
        #expect(analysis.digest == (try layerDigest(bytes)))
        let inventory = ImageAnalyzer.merge(layers: [(analysis.digest, analysis)])
        #expect(inventory.os?.family == "debian")
        #expect(inventory.os?.version == "12")
        // Cross-check against dpkg-query on this very machine.
        let expected = String(decoding: try Shell.run("dpkg-query -W -f='${db:Status-Status}\\n' | grep -cx installed"), as: UTF8.self)
        #expect(inventory.packages.count == Int(expected.trimmingCharacters(in: .whitespacesAndNewlines)))
        let libc = try #require(inventory.packages.first { $0.name == "libc6" })
        let version = String(decoding: try Shell.run("dpkg-query -W -f='${Version}' libc6"), as: UTF8.self)
        #expect(libc.version == version)
        #expect(libc.sourceName == "glibc")
        #expect(libc.layer == analysis.digest)
        #expect(libc.path == "var/lib/dpkg/status")
        #expect(libc.purl == "pkg:deb/debian/libc6@\(PackageURL.encode(version, keepColon: true))?arch=amd64&distro=debian-12")
    }

    @Test func sameResultForAnyChunkingAndForPlainTar() async throws {
        var tar = TarWriter()
        tar.file("var/lib/dpkg/status", try HostFiles.read("/var/lib/dpkg/status"))
        tar.end()
        let gz = try Shell.gzip(tar.bytes)
        let reference = try await analyze(gz)
        for chunk in [1, 3, 4096] {
            let again = try await analyze(gz, chunk: chunk)
            #expect(again.findings == reference.findings)
        }
        let plain = try await analyze(tar.bytes, mediaType: tarType)
        #expect(plain.compression == "none")
        #expect(plain.findings == reference.findings)
        // Media type says gzip but the bytes are a plain tar: sniffed, still analysed.
        let mislabelled = try await analyze(tar.bytes, mediaType: gzipType)
        #expect(mislabelled.findings == reference.findings)
    }

    @Test func multiMemberGzip() async throws {
        var first = TarWriter()
        first.file("lib/apk/db/installed", "P:musl\nV:1.2.4-r2\nA:x86_64\no:musl\n\nP:busybox\nV:1.36.1-r15\nA:x86_64\n\n")
        var rest = TarWriter()
        rest.file("etc/os-release", "ID=alpine\nVERSION_ID=3.19.1\nPRETTY_NAME=\"Alpine Linux v3.19\"\n")
        rest.end()
        let bytes = try Shell.gzip(first.bytes) + (try Shell.gzip(rest.bytes))
        let analysis = try await analyze(bytes, chunk: 10)
        let inventory = ImageAnalyzer.merge(layers: [(analysis.digest, analysis)])
        #expect(inventory.os == OSInfo(family: "alpine", version: "3.19.1", prettyName: "Alpine Linux v3.19"))
        #expect(inventory.packages.map(\.purl) == [
            "pkg:apk/alpine/busybox@1.36.1-r15?arch=x86_64&distro=alpine-3.19.1",
            "pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64&distro=alpine-3.19.1",
        ])
    }

    @Test func truncatedAndCorruptGzip() async throws {
        var tar = TarWriter()
        tar.file("var/lib/dpkg/status", try HostFiles.read("/var/lib/dpkg/status"))
        tar.end()
        let gz = try Shell.gzip(tar.bytes)
        let cut = Array(gz.prefix(gz.count / 2))
        await #expect(throws: LayerError.truncatedGzip(compressedBytes: Int64(cut.count))) {
            try await analyzeLayer(stream: ChunkedBytes(cut), mediaType: gzipType, expectedDigest: nil)
        }
        // Only the 8-byte trailer missing: still truncated.
        let noTrailer = Array(gz.dropLast(8))
        await #expect(throws: LayerError.self) {
            try await analyzeLayer(stream: ChunkedBytes(noTrailer), mediaType: gzipType, expectedDigest: nil)
        }
        var corrupt = gz
        corrupt[gz.count / 2] ^= 0xFF
        await #expect(throws: LayerError.self) {
            try await analyzeLayer(stream: ChunkedBytes(corrupt), mediaType: gzipType, expectedDigest: nil)
        }
    }

    @Test func digestMismatchAndZstd() async throws {
        let bytes = try baseLayer()
        let wrong = "sha256:" + String(repeating: "0", count: 64)
        await #expect(throws: LayerError.digestMismatch(expected: wrong, actual: try layerDigest(bytes))) {
            try await analyzeLayer(stream: ChunkedBytes(bytes), mediaType: gzipType, expectedDigest: wrong)
        }
        await #expect(throws: LayerError.invalidDigest("md5:abc")) {
            try await analyzeLayer(stream: ChunkedBytes(bytes), mediaType: gzipType, expectedDigest: "md5:abc")
        }
        await #expect(throws: LayerError.unsupportedCompression(mediaType: "application/vnd.oci.image.layer.v1.tar+zstd")) {
            try await analyzeLayer(
                stream: ChunkedBytes(bytes), mediaType: "application/vnd.oci.image.layer.v1.tar+zstd", expectedDigest: nil)
        }
        let zstd = try Shell.run("printf 'hello' | zstd -q -c")
        await #expect(throws: LayerError.self) {
            try await analyzeLayer(stream: ChunkedBytes(zstd), mediaType: gzipType, expectedDigest: nil)
        }
    }

    @Test func gzipBombIsCutQuickly() async throws {
        // 1 GiB of zeros inside a tar entry, compressed to about 1 MiB.
        var header = TarWriter()
        header.header(name: "bomb", type: .file, size: 1 << 30, mode: 0o644)
        let headerFile = FileManager.default.temporaryDirectory.appendingPathComponent("hg-bomb-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: headerFile) }
        try Data(header.bytes).write(to: headerFile)
        let bomb = try Shell.run("{ cat '\(headerFile.path)'; head -c 1073741824 /dev/zero; } | gzip -9 -c")
        #expect(bomb.count < 2 << 20)
        let clock = ContinuousClock()
        let start = clock.now
        await #expect {
            try await analyzeLayer(
                stream: ChunkedBytes(bomb), mediaType: gzipType, expectedDigest: nil,
                limits: LayerLimits(ratioCheckThreshold: 64 << 20))
        } throws: { error in
            guard case .compressionRatioExceeded(let ratio, 100)? = error as? LayerError else { return false }
            return ratio > 100
        }
        await #expect(throws: LayerError.decompressedSizeLimitExceeded(limit: 100 << 20)) {
            try await analyzeLayer(
                stream: ChunkedBytes(bomb), mediaType: gzipType, expectedDigest: nil,
                limits: LayerLimits(maxDecompressedBytes: 100 << 20, maxCompressionRatio: 1_000_000))
        }
        let elapsed = clock.now - start
        #expect(elapsed < .seconds(20), "bomb took \(elapsed)")
    }

    @Test func hundredThousandEmptyEntriesAreFast() async throws {
        var tar = TarWriter()
        for i in 0..<100_000 { tar.file("d\(i % 100)/f\(i)", "") }
        tar.file("etc/os-release", "ID=debian\nVERSION_ID=12\n")
        tar.end()
        let gz = try Shell.gzip(tar.bytes, level: 1)
        let clock = ContinuousClock()
        let start = clock.now
        let analysis = try await analyze(gz)
        let elapsed = clock.now - start
        #expect(analysis.entryCount == 100_001)
        #expect(analysis.findings.count == 1)
        // Debug build on a shared 2-core machine; release is several times faster.
        #expect(elapsed < .seconds(30), "100k entries took \(elapsed)")
        print("100,000 empty entries analysed in \(elapsed)")
        await #expect(throws: LayerError.tooManyEntries(limit: 50_000)) {
            try await analyzeLayer(
                stream: ChunkedBytes(gz), mediaType: gzipType, expectedDigest: nil, limits: LayerLimits(maxEntries: 50_000))
        }
    }

    @Test func hugeWantedFileIsSkippedWithANoteNotBuffered() async throws {
        var header = TarWriter()
        header.header(name: "var/lib/dpkg/status", type: .file, size: 2 << 30, mode: 0o644)
        let headerFile = FileManager.default.temporaryDirectory.appendingPathComponent("hg-huge-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: headerFile) }
        try Data(header.bytes).write(to: headerFile)
        var trailer = TarWriter()
        trailer.file("etc/os-release", "ID=debian\nVERSION_ID=12\n")
        trailer.end()
        let trailerFile = headerFile.appendingPathExtension("trailer")
        defer { try? FileManager.default.removeItem(at: trailerFile) }
        try Data(trailer.bytes).write(to: trailerFile)
        // 2 GiB declared; stream it from gzip so nothing that size exists anywhere.
        let gz = try Shell.run(
            "{ cat '\(headerFile.path)'; head -c \(2 << 30) /dev/zero; cat '\(trailerFile.path)'; } | gzip -1 -c")
        let analysis = try await analyzeLayer(
            stream: ChunkedBytes(gz), mediaType: gzipType, expectedDigest: nil,
            limits: LayerLimits(maxCompressionRatio: 10_000))
        #expect(analysis.notes.contains { $0.contains("var/lib/dpkg/status") && $0.contains("over the") })
        #expect(analysis.findings.map(\.path) == ["etc/os-release"])
        #expect(analysis.replacedPaths == ["var/lib/dpkg/status"])
    }

    @Test func symlinkEscapesAreNotFollowed() async throws {
        var tar = TarWriter()
        tar.symlink("etc/os-release", to: "../../../../../../etc/os-release")
        tar.symlink("var/lib/dpkg", to: "/../../../var/lib/dpkg")
        tar.end()
        let analysis = try await analyze(try Shell.gzip(tar.bytes))
        #expect(analysis.findings.isEmpty)
        let inventory = ImageAnalyzer.merge(layers: [(analysis.digest, analysis)])
        #expect(inventory.os == nil && inventory.packages.isEmpty)
    }

    @Test func hostilePathFailsTheLayer() async throws {
        var tar = TarWriter()
        tar.file("../../etc/cron.d/evil", "* * * * * root sh")
        tar.end()
        await #expect(throws: LayerError.unsafePath(entry: "../../etc/cron.d/evil")) {
            try await analyzeLayer(stream: ChunkedBytes(try Shell.gzip(tar.bytes)), mediaType: gzipType, expectedDigest: nil)
        }
    }

    @Test func analysisIsCodableForTheCache() async throws {
        let analysis = try await analyze(try baseLayer())
        let data = try JSONEncoder().encode(analysis)
        #expect(try JSONDecoder().decode(LayerAnalysis.self, from: data) == analysis)
        #expect(analysis.analyzerVersion == LayerAnalysis.analyzerVersion)
    }
}

@Suite struct HostileStreamTests {
    /// Bit-flipped and truncated real tar and gzip streams end in a `LayerError` or a
    /// result, never a crash or a hang.
    @Test func mangledStreamsFailCleanly() async throws {
        var tar = TarWriter()
        tar.file("etc/os-release", try HostFiles.read("/etc/os-release"))
        tar.gnuLongNameFile("usr/" + String(repeating: "x", count: 120), Array("long".utf8))
        tar.paxFile("opt/päx", Array("pax".utf8))
        tar.file("var/lib/dpkg/status", Array(try HostFiles.read("/var/lib/dpkg/status").prefix(30_000)))
        tar.end()
        let gz = try Shell.gzip(tar.bytes)
        var generator = SystemRandomNumberGenerator()
        for (bytes, type) in [(tar.bytes, "application/vnd.oci.image.layer.v1.tar"), (gz, "application/vnd.oci.image.layer.v1.tar+gzip")] {
            for round in 0..<60 {
                var mangled = bytes
                if round % 3 == 0 { mangled = Array(mangled.prefix(Int.random(in: 1..<mangled.count, using: &generator))) }
                for _ in 0..<(round % 5) {
                    let index = Int.random(in: 0..<min(mangled.count, 2048), using: &generator)
                    mangled[index] = UInt8.random(in: 0...255, using: &generator)
                }
                do {
                    _ = try await analyzeLayer(
                        stream: ChunkedBytes(mangled, chunkSize: 1 + round * 97), mediaType: type, expectedDigest: nil)
                } catch is LayerError {
                    continue
                }
            }
        }
    }
}
