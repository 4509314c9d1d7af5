import Foundation
import Testing

@testable import Scan

/// Collects every entry and the contents of every file.
private struct Recorder: TarEntryHandler {
    var entries: [TarEntry] = []
    var contents: [String: [UInt8]] = [:]
    mutating func entryStarted(_ entry: TarEntry) throws -> Bool {
        entries.append(entry)
        return entry.kind == .file
    }
    mutating func entryEnded(_ entry: TarEntry, contents: [UInt8]?) throws {
        if let contents { self.contents[entry.path] = contents }
    }
}

private func read(_ bytes: [UInt8], chunk: Int = 7) throws -> Recorder {
    var reader = TarReader(maxEntries: 1_000_000, maxExtensionBytes: 1 << 20)
    var recorder = Recorder()
    var offset = 0
    while offset < bytes.count {
        let end = min(offset + chunk, bytes.count)
        try bytes[offset..<end].withUnsafeBytes { try reader.feed($0, to: &recorder) }
        offset = end
    }
    try reader.finish()
    return recorder
}

@Suite struct TarReaderTests {
    @Test func readsUstarGnuPaxAndBase256InOddChunks() throws {
        var tar = TarWriter()
        tar.directory("./etc/")
        tar.file("./etc//hostname", "box\n")
        let longName = "usr/" + String(repeating: "deep/", count: 40) + "file.txt"
        tar.gnuLongNameFile(longName, Array("long".utf8))
        tar.paxFile("opt/pax/ünïcode name.txt", Array("pax".utf8))
        tar.base256File("big/size", Array(repeating: 7, count: 1000))
        tar.symlink("etc/os-release", to: "../usr/lib/os-release")
        tar.hardLink("etc/hostname2", to: "./etc/hostname")
        tar.end()
        for chunk in [1, 7, 512, 100_000] {
            let result = try read(tar.bytes, chunk: chunk)
            #expect(result.entries.map(\.path) == [
                "etc", "etc/hostname", longName, "opt/pax/ünïcode name.txt", "big/size", "etc/os-release", "etc/hostname2",
            ])
            #expect(result.contents["etc/hostname"] == Array("box\n".utf8))
            #expect(result.contents[longName] == Array("long".utf8))
            #expect(result.contents["opt/pax/ünïcode name.txt"] == Array("pax".utf8))
            #expect(result.contents["big/size"]?.count == 1000)
            #expect(result.entries[5].kind == .symlink && result.entries[5].linkTarget == "../usr/lib/os-release")
            #expect(result.entries[6].kind == .hardLink && result.entries[6].linkTarget == "etc/hostname")
        }
    }

    @Test func paxGlobalHeaderAndSizeOverride() throws {
        var tar = TarWriter()
        let global = TarWriter.paxRecord("comment", "made by a test")
        tar.header(name: "pax_global_header", type: .globalPax, size: global.count, mode: 0o644)
        tar.bytes += global + [UInt8](repeating: 0, count: 512 - global.count)
        // The ustar size field says 0; the PAX `size` record (how tar stores > 8 GiB) says 5.
        let local = TarWriter.paxRecord("size", "5") + TarWriter.paxRecord("linkpath", "ignored-for-files")
        tar.header(name: "PaxHeaders/f", type: .pax, size: local.count, mode: 0o644)
        tar.bytes += local + [UInt8](repeating: 0, count: 512 - local.count)
        tar.header(name: "f", type: .file, size: 0, mode: 0o644)
        tar.bytes += Array("hello".utf8) + [UInt8](repeating: 0, count: 507)
        tar.file("g", "after")
        tar.end()
        let result = try read(tar.bytes, chunk: 3)
        #expect(result.entries.map(\.path) == ["f", "g"])
        #expect(result.contents["f"] == Array("hello".utf8))
        #expect(result.contents["g"] == Array("after".utf8))
    }

    @Test func readsRealGnuTarOutput() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hg-tar-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        // 129 characters: GNU and PAX use their long-name records, ustar its prefix field.
        let long = String(repeating: "n", count: 60) + "/" + String(repeating: "m", count: 60)
        try FileManager.default.createDirectory(
            at: directory.appendingPathComponent("root/a/\(long)"), withIntermediateDirectories: true)
        try Data("hello".utf8).write(to: directory.appendingPathComponent("root/a/\(long)/f.txt"))
        for format in ["gnu", "pax", "ustar"] {
            let bytes = try Shell.run("cd '\(directory.path)/root' && tar --format=\(format) -cf - .")
            let result = try read(bytes, chunk: 4096)
            #expect(result.contents["a/\(long)/f.txt"] == Array("hello".utf8), "format \(format)")
        }
    }

    @Test func rejectsEscapesAndAbsolutePaths() throws {
        for name in ["../etc/passwd", "a/../../b", "/etc/passwd"] {
            var tar = TarWriter()
            tar.file("ok", "x")
            tar.file(name, "evil")
            tar.end()
            #expect(throws: LayerError.unsafePath(entry: name)) { try read(tar.bytes) }
        }
        var tar = TarWriter()
        tar.hardLink("x", to: "../../etc/shadow")
        tar.end()
        #expect(throws: LayerError.self) { try read(tar.bytes) }
        // `..` that stays inside the root is resolved, not rejected.
        var inside = TarWriter()
        inside.file("a/b/../c", "x")
        inside.end()
        #expect(try read(inside.bytes).entries.map(\.path) == ["a/c"])
    }

    @Test func detectsTruncationAndCorruption() throws {
        var tar = TarWriter()
        tar.file("a", Array(repeating: 1, count: 3000))
        tar.end()
        #expect(throws: LayerError.truncatedTar(offset: 2000)) { try read(Array(tar.bytes.prefix(2000))) }
        #expect(throws: LayerError.truncatedTar(offset: 300)) { try read(Array(tar.bytes.prefix(300))) }
        var corrupt = tar.bytes
        corrupt[10] ^= 0x55
        #expect(throws: LayerError.corruptTar(offset: 0, reason: "header checksum mismatch")) { try read(corrupt) }
        // Whole blocks at once take another path through the reader: the same offsets.
        #expect(throws: LayerError.corruptTar(offset: 0, reason: "header checksum mismatch")) { try read(corrupt, chunk: 4096) }
        var second = TarWriter()
        second.file("a", Array(repeating: 1, count: 600))
        second.file("b", "x")
        second.end()
        var bytes = second.bytes
        bytes[1536 + 10] ^= 0x55
        for chunk in [7, 512, 1 << 16] {
            #expect(throws: LayerError.corruptTar(offset: 1536, reason: "header checksum mismatch")) { try read(bytes, chunk: chunk) }
        }
    }

    @Test func capsEntryCount() throws {
        var tar = TarWriter()
        for i in 0..<20 { tar.file("f\(i)", "") }
        tar.end()
        var reader = TarReader(maxEntries: 10, maxExtensionBytes: 1024)
        var recorder = Recorder()
        #expect(throws: LayerError.tooManyEntries(limit: 10)) {
            try tar.bytes.withUnsafeBytes { try reader.feed($0, to: &recorder) }
        }
    }

    @Test func normalisesPaths() {
        #expect(TarPath.normalize("./a//b/./c/") == "a/b/c")
        #expect(TarPath.normalize("./") == "")
        #expect(TarPath.normalize("a/..") == "")
        #expect(TarPath.normalize("..") == nil)
        #expect(TarPath.normalize("/x") == nil)
        #expect(TarPath.isWithin("var/lib/dpkg/status", "var/lib/dpkg"))
        #expect(!TarPath.isWithin("var/lib/dpkgx", "var/lib/dpkg"))
    }
}
