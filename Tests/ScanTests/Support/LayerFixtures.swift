import Foundation
import NIOCore

/// Writes tar archives byte by byte, including the hostile shapes real tools refuse to make.
struct TarWriter {
    var bytes: [UInt8] = []

    enum EntryType: UInt8 {
        case file = 0x30, hardLink = 0x31, symlink = 0x32, directory = 0x35
        case gnuLongName = 0x4C, pax = 0x78, globalPax = 0x67
    }

    mutating func file(_ name: String, _ contents: [UInt8], mode: Int = 0o644) {
        header(name: name, type: .file, size: contents.count, mode: mode)
        append(contents)
    }

    mutating func file(_ name: String, _ text: String, mode: Int = 0o644) {
        file(name, Array(text.utf8), mode: mode)
    }

    mutating func directory(_ name: String) { header(name: name, type: .directory, size: 0, mode: 0o755) }

    mutating func symlink(_ name: String, to target: String) {
        header(name: name, type: .symlink, size: 0, mode: 0o777, link: target)
    }

    mutating func hardLink(_ name: String, to target: String) {
        header(name: name, type: .hardLink, size: 0, mode: 0o644, link: target)
    }

    /// A file whose name goes in a PAX `path` record (the ustar name is a stand-in).
    mutating func paxFile(_ name: String, _ contents: [UInt8]) {
        let record = Self.paxRecord("path", name)
        header(name: "PaxHeaders/x", type: .pax, size: record.count, mode: 0o644)
        append(record)
        file("placeholder-name", contents)
    }

    /// A file whose name goes in a GNU `././@LongLink` entry.
    mutating func gnuLongNameFile(_ name: String, _ contents: [UInt8]) {
        let data = Array(name.utf8) + [0]
        header(name: "././@LongLink", type: .gnuLongName, size: data.count, mode: 0o644)
        append(data)
        file("truncated-name", contents)
    }

    /// A file whose size is written in GNU base-256 form.
    mutating func base256File(_ name: String, _ contents: [UInt8]) {
        header(name: name, type: .file, size: contents.count, mode: 0o644, base256: true)
        append(contents)
    }

    mutating func end() { bytes += [UInt8](repeating: 0, count: 1024) }

    static func paxRecord(_ key: String, _ value: String) -> [UInt8] {
        let body = " \(key)=\(value)\n"
        var length = body.utf8.count + 1
        while String(length).utf8.count + body.utf8.count != length { length += 1 }
        return Array("\(length)\(body)".utf8)
    }

    mutating func header(name: String, type: EntryType, size: Int, mode: Int, link: String = "", base256: Bool = false) {
        var block = [UInt8](repeating: 0, count: 512)
        func put(_ text: String, _ offset: Int, _ length: Int) {
            for (i, byte) in text.utf8.prefix(length).enumerated() { block[offset + i] = byte }
        }
        func octal(_ value: Int, _ offset: Int, _ length: Int) {
            put(String(String(value, radix: 8).suffix(length - 1)).leftPadded(to: length - 1), offset, length - 1)
        }
        put(name, 0, 100)
        octal(mode, 100, 8)
        octal(0, 108, 8)
        octal(0, 116, 8)
        if base256 {
            block[124] = 0x80
            var value = size
            for i in stride(from: 135, to: 124, by: -1) {
                block[i] = UInt8(value & 0xFF)
                value >>= 8
            }
        } else {
            octal(size, 124, 12)
        }
        octal(1_700_000_000, 136, 12)
        block[156] = type.rawValue
        put(link, 157, 100)
        put("ustar", 257, 6)
        put("00", 263, 2)
        for i in 148..<156 { block[i] = 0x20 }
        let sum = block.reduce(0) { $0 + Int($1) }
        put(String(String(sum, radix: 8)).leftPadded(to: 6), 148, 6)
        block[154] = 0
        bytes += block
    }

    private mutating func append(_ contents: [UInt8]) {
        bytes += contents
        let padding = (512 - contents.count % 512) % 512
        bytes += [UInt8](repeating: 0, count: padding)
    }
}

extension String {
    fileprivate func leftPadded(to length: Int) -> String {
        String(repeating: "0", count: max(0, length - count)) + self
    }
}

/// Feeds bytes as ByteBuffers of a fixed size, like an HTTP body.
struct ChunkedBytes: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let bytes: [UInt8]
    let chunkSize: Int

    init(_ bytes: [UInt8], chunkSize: Int = 64 * 1024) {
        self.bytes = bytes
        self.chunkSize = chunkSize
    }

    struct AsyncIterator: AsyncIteratorProtocol {
        let bytes: [UInt8]
        let chunkSize: Int
        var offset = 0
        mutating func next() async -> ByteBuffer? {
            guard offset < bytes.count else { return nil }
            let end = Swift.min(offset + chunkSize, bytes.count)
            defer { offset = end }
            return ByteBuffer(bytes: bytes[offset..<end])
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(bytes: bytes, chunkSize: chunkSize) }
}


enum Shell {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Runs `/bin/sh -c script`, returning stdout (written to a temp file, so large outputs don't block).
    @discardableResult
    static func run(_ script: String) throws -> [UInt8] {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("hg-shell-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: out) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "{ \(script)\n} > '\(out.path)'"]
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw Failure(description: "shell failed (\(process.terminationStatus)): \(script)")
        }
        return [UInt8](try Data(contentsOf: out))
    }

    /// gzip-compresses bytes with the system gzip (real gzip framing, CRCs and all).
    static func gzip(_ bytes: [UInt8], level: Int = 6) throws -> [UInt8] {
        let input = FileManager.default.temporaryDirectory.appendingPathComponent("hg-gz-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: input) }
        try Data(bytes).write(to: input)
        return try run("gzip -\(level) -n -c '\(input.path)'")
    }
}

/// Host files the tests carry into layers.
enum HostFiles {
    static func read(_ path: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    }

    /// A dist-info METADATA file of this machine's Python (pip's own, found through importlib).
    static func pythonDistInfo() throws -> (directory: String, metadata: [UInt8]) {
        let found = try Shell.run(#"python3 -c 'import importlib.metadata as m; print(m.distribution("pip")._path)'"#)
        let directory = String(decoding: found, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return ((directory as NSString).lastPathComponent, try read(directory + "/METADATA"))
    }
}

func layerDigest(_ bytes: [UInt8]) throws -> String {
    let input = FileManager.default.temporaryDirectory.appendingPathComponent("hg-sha-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: input) }
    try Data(bytes).write(to: input)
    let output = try Shell.run("sha256sum '\(input.path)' | cut -d' ' -f1")
    return "sha256:" + String(decoding: output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
}

/// A minimal little-endian ELF64 file with named sections (and no code), for detectors
/// that look binaries up by section.
enum ELFBuilder {
    /// Sections start at `firstSectionOffset(loadAddress:)`, one after another; with a
    /// `loadAddress`, one PT_LOAD segment maps the whole file there.
    static func firstSectionOffset(loadAddress: Int?) -> Int { loadAddress == nil ? 64 : 64 + 56 }

    static func make(sections: [(name: String, contents: [UInt8])], loadAddress: Int? = nil) -> [UInt8] {
        var data = [UInt8](repeating: 0, count: firstSectionOffset(loadAddress: loadAddress))
        data[0...3] = [0x7F, 0x45, 0x4C, 0x46]
        data[4] = 2  // 64-bit
        data[5] = 1  // little-endian
        data[6] = 1
        var names: [UInt8] = [0]
        var placed: [(nameOffset: Int, offset: Int, size: Int)] = []
        for section in sections {
            let nameOffset = names.count
            names += Array(section.name.utf8) + [0]
            placed.append((nameOffset, data.count, section.contents.count))
            data += section.contents
        }
        let shstrtabName = names.count
        names += Array(".shstrtab".utf8) + [0]
        let namesOffset = data.count
        data += names
        while data.count % 8 != 0 { data.append(0) }
        let sectionHeaders = data.count
        func le(_ value: Int, _ width: Int) -> [UInt8] { (0..<width).map { UInt8((value >> (8 * $0)) & 0xFF) } }
        data += [UInt8](repeating: 0, count: 64)  // the null section
        for section in placed {
            data += le(section.nameOffset, 4) + le(1, 4) + le(0, 8) + le(0, 8) + le(section.offset, 8) + le(section.size, 8)
                + le(0, 4) + le(0, 4) + le(1, 8) + le(0, 8)
        }
        data += le(shstrtabName, 4) + le(3, 4) + le(0, 8) + le(0, 8) + le(namesOffset, 8) + le(names.count, 8)
            + le(0, 4) + le(0, 4) + le(1, 8) + le(0, 8)
        data.replaceSubrange(0x28..<0x30, with: le(sectionHeaders, 8))
        data.replaceSubrange(0x3A..<0x3C, with: le(64, 2))
        data.replaceSubrange(0x3C..<0x3E, with: le(placed.count + 2, 2))
        data.replaceSubrange(0x3E..<0x40, with: le(placed.count + 1, 2))
        if let loadAddress {
            let header = le(1, 4) + le(5, 4) + le(0, 8) + le(loadAddress, 8) + le(loadAddress, 8) + le(data.count, 8)
                + le(data.count, 8) + le(0x1000, 8)
            data.replaceSubrange(64..<120, with: header)
            data.replaceSubrange(0x20..<0x28, with: le(64, 8))
            data.replaceSubrange(0x36..<0x38, with: le(56, 2))
            data.replaceSubrange(0x38..<0x3A, with: le(1, 2))
        }
        return data
    }

    /// zlib-compresses with Python's zlib (the format cargo-auditable writes).
    static func zlib(_ bytes: [UInt8]) throws -> [UInt8] {
        let input = FileManager.default.temporaryDirectory.appendingPathComponent("hg-zlib-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: input) }
        try Data(bytes).write(to: input)
        return try Shell.run(
            "python3 -c 'import sys, zlib; sys.stdout.buffer.write(zlib.compress(open(sys.argv[1], \"rb\").read()))' '\(input.path)'")
    }
}
