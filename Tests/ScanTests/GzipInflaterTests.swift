import Crypto
import Foundation
import NIOCore
import Testing

@testable import Scan

/// The vendored zlib-ng inflater behind `LayerDecoder`, against gzip(1) and Python's zlib as
/// oracles, on real files from this machine.
@Suite struct GzipInflaterTests {
    /// Decodes `gz` fed in `chunk`-sized pieces; returns the SHA-256 of the output and its size.
    private func decode(_ gz: [UInt8], chunk: Int) throws -> (sha256: String, bytes: Int, members: Int) {
        let decoder = try LayerDecoder(mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", limits: .default)
        var hasher = SHA256()
        var total = 0
        let sink: (UnsafeRawBufferPointer) throws -> Void = { piece in
            hasher.update(bufferPointer: piece)
            total += piece.count
        }
        var offset = 0
        while offset < gz.count {
            let end = min(offset + chunk, gz.count)
            try decoder.feed(ByteBuffer(bytes: gz[offset..<end]), sink: sink)
            offset = end
        }
        _ = try decoder.finish(sink: sink)
        return (hasher.finalize().map { String(format: "%02x", $0) }.joined(), total, decoder.gzipMembers)
    }

    private func sha256(_ bytes: [UInt8]) -> String {
        SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
    }

    @Test func matchesGzipOnRealFilesAtEveryLevelAndChunking() throws {
        // A real tar of real libraries and text (about 20 MB), compressed by gzip(1) at three
        // levels; the output must be byte-identical to `gzip -dc` whatever the read sizes.
        let tar = try Shell.run("tar cf - -C / usr/lib/x86_64-linux-gnu/libsqlite3.so.0 var/lib/dpkg/status usr/bin/gzip usr/bin/tar 2>/dev/null")
        #expect(tar.count > 1 << 20)
        let expected = sha256(tar)
        for level in [1, 6, 9] {
            let gz = try Shell.gzip(tar, level: level)
            for chunk in [1_000_003, 65_536, 4_093] {
                let result = try decode(gz, chunk: chunk)
                #expect(result.sha256 == expected, "level \(level), chunk \(chunk)")
                #expect(result.bytes == tar.count)
                #expect(result.members == 1)
            }
        }
        // Stored (uncompressed) deflate blocks, which gzip never writes: Python's zlib at level 0.
        let stored = try Shell.run("python3 -c 'import sys,zlib; d=sys.stdin.buffer.read(); c=zlib.compressobj(0,zlib.DEFLATED,31); sys.stdout.buffer.write(c.compress(d)+c.flush())' < /var/lib/dpkg/status")
        let status = try HostFiles.read("/var/lib/dpkg/status")
        #expect(try decode(stored, chunk: 7_777).sha256 == sha256(status))
    }

    @Test func membersAndPaddingAtEveryBoundary() throws {
        let a = try HostFiles.read("/etc/os-release")
        let b = try HostFiles.read("/var/lib/dpkg/status")
        let gz = try Shell.gzip(a) + (try Shell.gzip(b)) + [UInt8](repeating: 0, count: 512)
        // Every chunk size from 1 to 40 puts the member boundary at a different place in a read.
        for chunk in 1...40 {
            let result = try decode(gz, chunk: chunk * 97)
            #expect(result.sha256 == sha256(a + b), "chunk \(chunk * 97)")
            #expect(result.members == 2)
        }
    }

    @Test func trailerAndBlockCorruptionAreNamed() throws {
        let data = try HostFiles.read("/var/lib/dpkg/status")
        let gz = try Shell.gzip(data)
        // CRC-32 of the member (the trailer's first 4 bytes).
        var badCRC = gz
        badCRC[gz.count - 8] ^= 0x01
        #expect(throws: LayerError.corruptGzip(GzipInflater.describe("incorrect data check"))) { try decode(badCRC, chunk: 65_536) }
        // ISIZE (the trailer's last 4 bytes).
        var badLength = gz
        badLength[gz.count - 1] ^= 0x01
        #expect(throws: LayerError.corruptGzip(GzipInflater.describe("incorrect length check"))) { try decode(badLength, chunk: 65_536) }
        #expect(GzipInflater.describe("incorrect data check").contains("checksum"))
        // A reserved block type right after the 10-byte header.
        var badBlock = gz
        badBlock[10] = 0x07
        #expect(throws: LayerError.corruptGzip("invalid deflate data (invalid block type)")) { try decode(badBlock, chunk: 65_536) }
        // Garbage after a member that is neither padding nor another member.
        #expect(throws: LayerError.corruptGzip("unexpected data after gzip member 1")) {
            try decode(gz + [0x50, 0x4B], chunk: 65_536)
        }
    }
}
