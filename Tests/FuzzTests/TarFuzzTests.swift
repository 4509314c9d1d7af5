import CompressNIO
import NIOCore
import PropertyBased
import Testing

@testable import Scan

/// Builds tar bytes field by field, including fields no honest writer produces.
struct RawTar {
    var bytes: [UInt8] = []

    /// One 512-byte header; `size` is the raw 12-byte size field. The checksum is computed
    /// unless `badChecksum`.
    mutating func header(
        name: [UInt8], type: UInt8, size: [UInt8], link: [UInt8] = [], prefix: [UInt8] = [], mode: Int64 = 0o644,
        badChecksum: Bool = false
    ) {
        var block = [UInt8](repeating: 0, count: 512)
        for (i, b) in name.prefix(100).enumerated() { block[i] = b }
        for (i, b) in Self.octal(mode, width: 8).enumerated() { block[100 + i] = b }
        for (i, b) in Self.octal(0, width: 8).enumerated() { block[108 + i] = b; block[116 + i] = b }
        for (i, b) in size.prefix(12).enumerated() { block[124 + i] = b }
        for (i, b) in Self.octal(0, width: 12).enumerated() { block[136 + i] = b }
        block[156] = type
        for (i, b) in link.prefix(100).enumerated() { block[157 + i] = b }
        for (i, b) in Array("ustar\u{0}00".utf8).enumerated() { block[257 + i] = b }
        for (i, b) in prefix.prefix(155).enumerated() { block[345 + i] = b }
        for i in 148..<156 { block[i] = 0x20 }
        var sum = block.reduce(0) { $0 + Int($1) }
        if badChecksum { sum += 1 }
        for (i, b) in Self.octal(Int64(sum), width: 7).enumerated() { block[148 + i] = b }
        block[155] = 0x20
        bytes += block
    }

    /// A header and its contents padded to 512.
    mutating func entry(name: String, type: UInt8 = UInt8(ascii: "0"), contents: [UInt8] = [], link: String = "") {
        header(name: Array(name.utf8), type: type, size: Self.octal(Int64(contents.count), width: 12), link: Array(link.utf8))
        data(contents)
    }

    mutating func data(_ contents: [UInt8]) {
        bytes += contents
        bytes += [UInt8](repeating: 0, count: (512 - contents.count % 512) % 512)
    }

    /// A GNU `L` long name or a PAX `x` path, as writers do for names over 100 bytes.
    mutating func longName(_ name: String, pax: Bool) {
        if pax {
            let record = Self.paxRecord("path", name)
            entry(name: "PaxHeaders/x", type: UInt8(ascii: "x"), contents: record)
        } else {
            entry(name: "././@LongLink", type: UInt8(ascii: "L"), contents: Array(name.utf8) + [0])
        }
    }

    mutating func end() { bytes += [UInt8](repeating: 0, count: 1024) }

    /// `width - 1` octal digits and a NUL.
    static func octal(_ value: Int64, width: Int) -> [UInt8] {
        let digits = Array(String(value, radix: 8).utf8)
        let pad = max(0, width - 1 - digits.count)
        return Array(([UInt8](repeating: UInt8(ascii: "0"), count: pad) + digits).suffix(width - 1)) + [0]
    }

    /// A GNU base-256 field: 0x80 then big-endian bytes (negative when `raw` sets 0x40).
    static func base256(_ value: UInt64, width: Int = 12, first: UInt8 = 0x80) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: width)
        out[0] = first
        var v = value
        for i in stride(from: width - 1, to: 0, by: -1) {
            out[i] = UInt8(v & 0xFF)
            v >>= 8
        }
        return out
    }

    /// `"<len> key=value\n"` where len counts the whole record.
    static func paxRecord(_ key: String, _ value: String) -> [UInt8] {
        let body = " \(key)=\(value)\n"
        var length = body.utf8.count + 1
        while String(length).utf8.count + body.utf8.count != length { length += 1 }
        return Array((String(length) + body).utf8)
    }
}

/// Keeps every entry and the contents of every file (so huge size claims reach the reader's
/// buffering, unlike the analyser's handler which refuses them by its caps).
private struct Recorder: TarEntryHandler {
    var entries: [TarEntry] = []
    var contents: [String: [UInt8]] = [:]
    var captured = 0
    /// Entries whose captured contents differ in length from their size.
    var mismatched: [String] = []
    mutating func entryStarted(_ entry: TarEntry) throws -> Bool {
        entries.append(entry)
        return entry.kind == .file
    }
    mutating func entryEnded(_ entry: TarEntry, contents: [UInt8]?) throws {
        if let contents {
            self.contents[entry.path] = contents
            captured += contents.count
            if Int64(contents.count) != entry.size { mismatched.append(entry.path) }
        }
    }
}

/// Feeds `bytes` in chunks whose sizes cycle through `chunks`.
private func read(_ bytes: [UInt8], chunks: [Int], maxEntries: Int = 10_000, maxExtension: Int = 64 << 10) throws -> Recorder {
    var reader = TarReader(maxEntries: maxEntries, maxExtensionBytes: maxExtension)
    var recorder = Recorder()
    var offset = 0
    var turn = 0
    while offset < bytes.count {
        let end = min(offset + max(1, chunks[turn % chunks.count]), bytes.count)
        turn += 1
        try bytes[offset..<end].withUnsafeBytes { try reader.feed($0, to: &recorder) }
        offset = end
    }
    try reader.finish()
    return recorder
}

/// True when a normalised path stays inside the image root.
private func isContained(_ path: String) -> Bool {
    !path.hasPrefix("/") && !path.split(separator: "/").contains("..") && !path.split(separator: "/").contains(".")
}

/// Builds a hostile archive from a list of random words: each word picks one kind of part
/// and drives its details, so the library's generator (and its seed) decides everything.
enum HostileTar {
    static let names = ["a", "etc/passwd", "../../etc/shadow", "/etc/passwd", "a/../../b", "./x/./y", "x//y", "..", ".",
                        "", "usr/lib/os-release", "var/lib/dpkg/status", "lib/apk/db/installed", "a/.wh.b", ".wh..wh..opq",
                        "\u{0}hidden", "é/\u{301}", "x/" + String(repeating: "n", count: 120)]

    static func build(_ words: [UInt64]) -> [UInt8] {
        var tar = RawTar()
        for word in words {
            var r = SplitMix(state: word)
            let pick = { (n: Int) -> Int in Int(r.next() % UInt64(n)) }
            let name = names[pick(names.count)]
            switch pick(14) {
            case 0, 1:
                let count = pick(1500)
                tar.entry(name: name, contents: (0..<count).map { _ in UInt8(truncatingIfNeeded: r.next()) })
            case 2:
                // A size field no honest writer emits.
                let fields: [[UInt8]] = [
                    Array("77777777777\u{0}".utf8), RawTar.base256(UInt64(Int64.max)), RawTar.base256(1 << 40),
                    RawTar.base256(0, first: 0xFF), [0x80] + [UInt8](repeating: 0xFF, count: 11), Array("-1\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}".utf8),
                    Array("9999\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}".utf8), [UInt8](repeating: 0, count: 12), Array("   17 \u{0}\u{0}\u{0}\u{0}\u{0}\u{0}".utf8),
                ]
                let types: [UInt8] = [0x30, 0x35, 0x4C, 0x78, 0x67, 0x4B, 0x31, 0x37, 0x53]
                tar.header(name: Array(name.utf8), type: types[pick(types.count)], size: fields[pick(fields.count)])
                tar.data((0..<pick(700)).map { _ in UInt8(truncatingIfNeeded: r.next()) })
            case 3:
                // GNU long name or link: maybe unterminated, maybe huge, maybe never followed.
                let length = [0, 1, 99, 512, 4096, 70_000][pick(6)]
                let body = (0..<length).map { _ in UInt8(ascii: "a") + UInt8(r.next() % 26) }
                tar.header(name: Array("././@LongLink".utf8), type: pick(2) == 0 ? 0x4C : 0x4B,
                           size: RawTar.octal(Int64(length), width: 12))
                tar.data(body)
            case 4:
                // PAX records with lying lengths, huge numbers and odd keys.
                let records: [[UInt8]] = [
                    RawTar.paxRecord("path", name), RawTar.paxRecord("linkpath", "../../../root"),
                    RawTar.paxRecord("size", "9223372036854775807"), RawTar.paxRecord("size", "-1"),
                    RawTar.paxRecord("size", "99999999999999999999"), RawTar.paxRecord("size", "1e9"),
                    Array("99999999999999999999 path=x\n".utf8), Array("0 path=x\n".utf8), Array("5 path=x\n".utf8),
                    Array("-3 path=x\n".utf8), Array("12 noequals\n".utf8), Array("8 path=\u{FF}\n".utf8),
                    Array("30 path=unterminated".utf8),
                ]
                var body: [UInt8] = []
                for _ in 0..<(1 + pick(3)) { body += records[pick(records.count)] }
                tar.header(name: Array("PaxHeaders/p".utf8), type: pick(3) == 0 ? 0x67 : 0x78,
                           size: RawTar.octal(Int64(body.count), width: 12))
                tar.data(body)
            case 5:
                tar.entry(name: name, type: 0x31, link: ["../../etc/passwd", "/etc/passwd", "a", "etc/passwd", ""][pick(5)])
            case 6:
                tar.entry(name: name, type: 0x32, link: ["/", "../../../", "a", String(repeating: "../", count: 30)][pick(4)])
            case 7:
                tar.entry(name: name, type: 0x35)
            case 8:
                // A ustar prefix that climbs out.
                tar.header(name: Array("file".utf8), type: 0x30, size: RawTar.octal(0, width: 12),
                           prefix: Array(["..", "/abs", "a/b", String(repeating: "p", count: 155)][pick(4)].utf8))
            case 9:
                tar.header(name: Array(name.utf8), type: 0x30, size: RawTar.octal(3, width: 12), badChecksum: true)
                tar.data([1, 2, 3])
            case 10:
                tar.bytes += (0..<512).map { _ in UInt8(truncatingIfNeeded: r.next()) }
            case 11:
                tar.bytes += [UInt8](repeating: 0, count: 512)
            case 12:
                tar.longName(name + "/" + String(repeating: "z", count: 90 + pick(200)), pax: pick(2) == 0)
                tar.entry(name: "short", contents: [0x41])
            default:
                // Odd type flags: devices, FIFOs, sparse, vendor letters.
                tar.header(name: Array(name.utf8), type: [0x33, 0x34, 0x36, 0x53, 0x56, 0x41, 0xFF, 0x00][pick(8)],
                           size: RawTar.octal(Int64(pick(600)), width: 12))
                tar.data((0..<pick(600)).map { _ in 0 })
            }
        }
        if words.first.map({ $0 & 1 == 0 }) ?? true { tar.end() }
        return tar.bytes
    }
}

/// A finite sequence of byte chunks for `analyzeLayer`.
struct Chunks: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let bytes: [UInt8]
    let sizes: [Int]

    struct AsyncIterator: AsyncIteratorProtocol {
        let bytes: [UInt8]
        let sizes: [Int]
        var offset = 0
        var turn = 0
        mutating func next() async -> ByteBuffer? {
            guard offset < bytes.count else { return nil }
            let end = Swift.min(offset + Swift.max(1, sizes[turn % sizes.count]), bytes.count)
            turn += 1
            defer { offset = end }
            return ByteBuffer(bytes: bytes[offset..<end])
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(bytes: bytes, sizes: sizes) }
}

func gzip(_ bytes: [UInt8]) throws -> [UInt8] {
    var input = ByteBuffer(bytes: bytes)
    let output = try input.compress(with: .gzip)
    return Array(output.readableBytesView)
}

@Suite("Fuzz: tar reader and layer decoder")
struct TarFuzzTests {
    private static let chunkSizes = Gen<Int>.int(in: 1...4096).array(of: 1...4)

    @Test("arbitrary bytes: the reader returns or throws LayerError, never crashes")
    func arbitraryBytes() {
        // Half the inputs start with a valid header so the bytes after it get parsed too.
        var valid = RawTar()
        valid.entry(name: "etc/hostname", contents: Array("box\n".utf8))
        let prefix = valid.bytes
        FuzzRun.run("tar.arbitrary", count: 1000, zip(Gens.bytes(0...3000), Gen<Bool>.bool, Self.chunkSizes)) { input, run in
            let (bytes, prefixed, chunks) = input
            do {
                let recorder = try read(prefixed ? prefix + bytes : bytes, chunks: chunks)
                run.check(recorder.entries.allSatisfy { isContained($0.path) }, "escaping path in \(recorder.entries)")
            } catch let error as LayerError {
                _ = error.description
            }
        }
    }

    @Test("hostile archives: bounded buffers, contained paths, every failure a LayerError")
    func hostileArchives() {
        let words = Gen<UInt64>.value(in: 0...UInt64.max).array(of: 1...10)
        FuzzRun.run("tar.hostile", count: 800, zip(words, Self.chunkSizes, Gen<Int>.int(in: 0...3), Gen<UInt64>.value(in: 0...UInt64.max))) {
            input, run in
            let (words, chunks, mutation, where_) = input
            var bytes = HostileTar.build(words)
            switch mutation {
            case 1 where !bytes.isEmpty: bytes = Array(bytes.prefix(Int(where_ % UInt64(bytes.count))))  // truncated
            case 2 where !bytes.isEmpty: bytes[Int(where_ % UInt64(bytes.count))] ^= UInt8(truncatingIfNeeded: where_ >> 32 | 1)
            default: break
            }
            do {
                let recorder = try read(bytes, chunks: chunks, maxEntries: 50, maxExtension: 8 << 10)
                run.check(recorder.entries.count <= 50, "more entries than the cap")
                run.check(recorder.captured <= bytes.count, "captured \(recorder.captured) bytes from a \(bytes.count)-byte stream")
                for entry in recorder.entries {
                    run.check(isContained(entry.path), "escaping path \(entry.path)")
                    run.check(entry.size >= 0, "negative size for \(entry.path)")
                    if entry.kind == .hardLink {
                        run.check(entry.linkTarget.map(isContained) ?? false, "escaping hard link \(entry)")
                    }
                }
                run.check(recorder.mismatched.isEmpty, "contents differ from the size of \(recorder.mismatched)")
            } catch let error as LayerError {
                run.check(!error.description.isEmpty, "an error without a reason")
            }
        }
    }

    @Test("round trip: generated archives read back entry for entry in any chunking")
    func roundTrip() {
        let component = Gens.string("abcxyz019._-", 1...12).filter { $0 != "." && $0 != ".." }
        let path = component.array(of: 1...4).map { $0.joined(separator: "/") }
        let entry = zip(path, Gen<Int>.int(in: 0...3), Gens.bytes(0...1200))
        FuzzRun.run("tar.roundtrip", count: 400, zip(entry.array(of: 0...8), Self.chunkSizes, Gen<Int>.int(in: 0...200))) { input, run in
            let (specs, chunks, padding) = input
            var tar = RawTar()
            var expected: [(String, TarEntry.Kind, [UInt8])] = []
            for (index, (path, style, contents)) in specs.enumerated() {
                // Distinct paths; long ones through GNU or PAX headers.
                let name = "e\(index)/" + path + (style == 3 ? "/" + String(repeating: "L", count: 100 + padding) : "")
                if name.utf8.count > 99 { tar.longName(name, pax: padding % 2 == 0) }
                if style == 1 {
                    tar.entry(name: name, type: 0x35)
                    expected.append((name, .directory, []))
                } else {
                    tar.entry(name: name, contents: contents)
                    expected.append((name, .file, contents))
                }
            }
            tar.end()
            let recorder = try read(tar.bytes, chunks: chunks)
            run.check(recorder.entries.map(\.path) == expected.map(\.0), "paths \(recorder.entries.map(\.path)) != \(expected.map(\.0))")
            run.check(recorder.entries.map(\.kind) == expected.map(\.1), "kinds differ")
            for (name, kind, contents) in expected where kind == .file {
                run.check(recorder.contents[name] == contents, "contents of \(name) differ")
            }
        }
    }

    @Test("layer decoder: mangled gzip around hostile tars fails with a LayerError or succeeds")
    func mangledLayers() async throws {
        let words = Gen<UInt64>.value(in: 0...UInt64.max).array(of: 1...6)
        let cases = zip(words, Gen<Int>.int(in: 0...7), Gen<UInt64>.value(in: 0...UInt64.max), Gens.bytes(1...64), Self.chunkSizes)
        var rng = FuzzConfig.rng(for: "layer.mangled")
        let total = 300 * FuzzConfig.scale
        let limits = LayerLimits(maxDecompressedBytes: 4 << 20, ratioCheckThreshold: 1 << 20, maxEntries: 200,
                                 maxExtensionHeaderBytes: 16 << 10, maxMetadataFileBytes: 64 << 10, maxBinaryFileBytes: 256 << 10)
        var failures = 0
        for i in 0..<total where failures < 5 {
            let (words, mutation, position, garbage, chunks) = cases.run(using: &rng)
            let tar = HostileTar.build(words)
            var blob = try gzip(tar)
            let at = Int(position % UInt64(max(blob.count, 1)))
            switch mutation {
            case 0: break
            case 1: blob = Array(blob.prefix(at))  // truncated member
            case 2: blob[at] ^= 0x5A  // corrupt deflate data or CRC
            case 3: blob += garbage  // garbage after the member
            case 4: blob += try gzip(tar)  // concatenated members
            case 5: blob += [UInt8](repeating: 0, count: garbage.count)  // zero padding (accepted)
            case 6: blob = [0x1F, 0x8B] + garbage + blob  // a gzip magic on nonsense
            default: blob = tar  // plain tar
            }
            do {
                _ = try await analyzeLayer(stream: Chunks(bytes: blob, sizes: chunks), mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
                                           expectedDigest: nil, limits: limits)
            } catch let error as LayerError {
                if error.description.isEmpty { failures += 1; Issue.record("layer.mangled #\(i): an error without a reason") }
            } catch {
                failures += 1
                Issue.record("layer.mangled #\(i) (mutation \(mutation)): \(error) is not a LayerError (HARBORGUARD_FUZZ_SEED=\(FuzzConfig.seed))")
            }
        }
    }

    @Test("a gzip bomb of 1 GiB of zeros stops at the ratio limit with a reason, quickly")
    func gzipBombOfOneGiB() async throws {
        // Built once as repeated deflate of zeros: 1 GiB inflates from ~1 MiB.
        let zeros = [UInt8](repeating: 0, count: 8 << 20)
        let member = try gzip(zeros)
        var blob: [UInt8] = []
        for _ in 0..<128 { blob += member }  // 128 members × 8 MiB = 1 GiB inflated
        let clock = ContinuousClock()
        let start = clock.now
        do {
            _ = try await analyzeLayer(stream: Chunks(bytes: blob, sizes: [64 << 10]), mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
                                       expectedDigest: nil)
            Issue.record("a 1 GiB bomb from \(blob.count) bytes was analysed to the end")
        } catch let error as LayerError {
            guard case .compressionRatioExceeded = error else {
                Issue.record("expected the ratio limit, got \(error)")
                return
            }
        }
        #expect(clock.now - start < .seconds(30))
    }
}
