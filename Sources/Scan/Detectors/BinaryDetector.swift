import CompressNIO
import Foundation
import NIOCore

/// ELF binaries: Go build info (`.go.buildinfo`, both the pointer format of Go < 1.18 and
/// the inline-string format of Go ≥ 1.18) and Rust cargo-auditable (`.dep-v0`, zlib JSON).
/// Wants executable regular files; non-ELF bytes are ignored cheaply.
public struct BinaryDetector: PackageDetector {
    public init() {}
    public var name: String { "binary" }

    public func interest(in path: String, size: Int64, executable: Bool) -> FileInterest? {
        executable && size >= 1024 ? .binary : nil
    }

    public func detect(path: String, contents: [UInt8]) throws -> DetectorResult {
        try detect(path: path, source: .memory(contents))
    }

    /// The same on a file the layer analysis spooled the executable to (``ELFSource/file``):
    /// only the headers and the sections that matter are read from it.
    func detect(path: String, source: ELFSource) throws -> DetectorResult {
        guard let elf = ELFFile(source) else { return DetectorResult() }
        var packages: [InstalledPackage] = []
        if let info = GoBuildInfo(elf: elf) {
            packages += info.packages(path: path)
        }
        if let section = elf.section(named: ".dep-v0") {
            guard section.size <= CargoAuditable.maxCompressedBytes else {
                throw DetectorError("\(path): cargo-auditable section of \(section.size) bytes, over the \(CargoAuditable.maxCompressedBytes)-byte limit")
            }
            packages += try CargoAuditable.packages(compressed: elf.bytes(section.offset, section.size)[...], path: path)
        }
        return DetectorResult(packages: packages)
    }
}

/// Where an ELF file's bytes are: in memory, or in a file read at offsets (`pread`), so a large
/// executable costs the few kilobytes of headers and sections read from it, not its size.
enum ELFSource {
    case memory([UInt8])
    /// An open descriptor and the file's size; the caller closes it.
    case file(descriptor: Int32, size: Int)

    var count: Int {
        switch self {
        case .memory(let bytes): bytes.count
        case .file(_, let size): size
        }
    }

    /// Up to `size` bytes at `offset` (fewer at the end of the file; none when out of range).
    func read(_ offset: Int, _ size: Int) -> [UInt8] {
        guard offset >= 0, size > 0, offset < count else { return [] }
        let n = min(size, count - offset)
        switch self {
        case .memory(let bytes):
            return Array(bytes[offset..<(offset + n)])
        case .file(let fd, _):
            var out = [UInt8](repeating: 0, count: n)
            var done = 0
            while done < n {
                let got = out.withUnsafeMutableBytes { buffer in
                    pread(fd, buffer.baseAddress! + done, n - done, off_t(offset + done))
                }
                if got < 0 && errno == EINTR { continue }
                guard got > 0 else { break }
                done += got
            }
            if done < n { out.removeLast(n - done) }
            return out
        }
    }
}

/// Just enough ELF to find sections by name and map virtual addresses to file offsets. Reads
/// the header, the program and section header tables and the section-name table; everything
/// else is read on demand (``bytes(_:_:)``).
struct ELFFile {
    struct Section {
        var name: String
        var address: UInt64
        var offset: Int
        var size: Int
    }

    struct Segment {
        var address: UInt64
        var offset: Int
        var size: Int
    }

    let source: ELFSource
    let is64: Bool
    let bigEndian: Bool
    private(set) var sections: [Section] = []
    private(set) var segments: [Segment] = []

    /// Table sizes beyond these are hostile (65,535 entries of 64 bytes is 4 MiB).
    static let maxTableBytes = 4 << 20
    static let maxNameTableBytes = 1 << 20

    var count: Int { source.count }

    init?(_ data: [UInt8]) { self.init(.memory(data)) }

    init?(_ source: ELFSource) {
        let header = source.read(0, 64)
        guard header.count >= 64, header[0] == 0x7F, header[1] == 0x45, header[2] == 0x4C, header[3] == 0x46 else { return nil }
        guard header[4] == 1 || header[4] == 2, header[5] == 1 || header[5] == 2 else { return nil }
        self.source = source
        is64 = header[4] == 2
        bigEndian = header[5] == 2
        let is64 = self.is64, bigEndian = self.bigEndian
        func uint(_ b: [UInt8], _ offset: Int, _ width: Int) -> UInt64 { ELFFile.uint(b, offset, width, bigEndian: bigEndian) }
        let phoff = Int(clamping: is64 ? uint(header, 0x20, 8) : uint(header, 0x1C, 4))
        let shoff = Int(clamping: is64 ? uint(header, 0x28, 8) : uint(header, 0x20, 4))
        let phentsize = Int(uint(header, is64 ? 0x36 : 0x2A, 2))
        let phnum = Int(uint(header, is64 ? 0x38 : 0x2C, 2))
        let shentsize = Int(uint(header, is64 ? 0x3A : 0x2E, 2))
        let shnum = Int(uint(header, is64 ? 0x3C : 0x30, 2))
        let shstrndx = Int(uint(header, is64 ? 0x3E : 0x32, 2))
        if phentsize >= (is64 ? 56 : 32), phoff < source.count {
            let table = source.read(phoff, min(phnum * phentsize, Self.maxTableBytes))
            for i in 0..<phnum {
                let base = i * phentsize
                guard base + phentsize <= table.count else { break }
                guard uint(table, base, 4) == 1 else { continue }  // PT_LOAD
                let offset = Int(clamping: is64 ? uint(table, base + 8, 8) : uint(table, base + 4, 4))
                let address = is64 ? uint(table, base + 16, 8) : uint(table, base + 8, 4)
                let size = Int(clamping: is64 ? uint(table, base + 32, 8) : uint(table, base + 16, 4))
                segments.append(Segment(address: address, offset: offset, size: size))
            }
        }
        var raw: [(nameOffset: Int, section: Section)] = []
        if shentsize >= (is64 ? 64 : 40), shoff < source.count {
            let table = source.read(shoff, min(shnum * shentsize, Self.maxTableBytes))
            for i in 0..<shnum {
                let base = i * shentsize
                guard base + shentsize <= table.count else { break }
                let nameOffset = Int(uint(table, base, 4))
                let address = is64 ? uint(table, base + 16, 8) : uint(table, base + 12, 4)
                let offset = Int(clamping: is64 ? uint(table, base + 24, 8) : uint(table, base + 16, 4))
                let size = Int(clamping: is64 ? uint(table, base + 32, 8) : uint(table, base + 20, 4))
                raw.append((nameOffset, Section(name: "", address: address, offset: offset, size: size)))
            }
        }
        if shstrndx < raw.count {
            let table = raw[shstrndx].section
            let names = source.read(table.offset, min(max(table.size, 0), Self.maxNameTableBytes))
            for (nameOffset, section) in raw {
                var named = section
                if nameOffset >= 0, nameOffset < names.count {
                    var end = nameOffset
                    while end < names.count, names[end] != 0 { end += 1 }
                    named.name = String(decoding: names[nameOffset..<end], as: UTF8.self)
                }
                sections.append(named)
            }
        }
    }

    static func uint(_ bytes: [UInt8], _ offset: Int, _ width: Int, bigEndian: Bool) -> UInt64 {
        guard offset >= 0, offset + width <= bytes.count else { return 0 }
        var value: UInt64 = 0
        for i in 0..<width {
            let byte = UInt64(bytes[bigEndian ? offset + i : offset + width - 1 - i])
            value = value << 8 | byte
        }
        return value
    }

    func section(named name: String) -> Section? {
        sections.first { $0.name == name }
    }

    /// `size` bytes at `offset`, or none when they are not all in the file.
    func bytes(_ offset: Int, _ size: Int) -> [UInt8] {
        guard offset >= 0, size >= 0, offset <= count, size <= count - offset else { return [] }
        return source.read(offset, size)
    }

    /// The file offset of a virtual address, via the loadable segments.
    func fileOffset(of address: UInt64) -> Int? {
        for segment in segments where address >= segment.address && address - segment.address < UInt64(segment.size) {
            let delta = Int(address - segment.address)
            guard segment.offset < count, delta < count - segment.offset else { return nil }
            return segment.offset + delta
        }
        return nil
    }
}

/// Go's build information, as `debug/buildinfo` reads it.
struct GoBuildInfo {
    var goVersion: String
    var mainPath: String?
    var modules: [(path: String, version: String)]
    var main: (path: String, version: String)?

    static let magic: [UInt8] = [0xFF] + Array(" Go buildinf:".utf8)

    init?(elf: ELFFile) {
        var start: Int?
        if let section = elf.section(named: ".go.buildinfo"), section.size >= 32,
            elf.bytes(section.offset, 14) == Self.magic
        {
            start = section.offset
        } else if !elf.sections.contains(where: { !$0.name.isEmpty }) {
            // No section table (sstrip): search the file. With one, Go's linker always names
            // `.go.buildinfo`, so an ELF without it is not a Go binary and is not read further.
            start = Self.findMagic(elf)
        }
        guard let start else { return nil }
        let header = elf.bytes(start, 32)
        guard header.count == 32 else { return nil }
        let pointerSize = Int(header[14])
        let flags = header[15]
        var version: String?
        var modInfo: String?
        if flags & 2 != 0 {
            var cursor = start + 32
            version = Self.varintString(elf, &cursor)
            modInfo = Self.varintString(elf, &cursor)
        } else {
            guard pointerSize == 4 || pointerSize == 8 else { return nil }
            let bigEndian = flags & 1 != 0
            func pointer(_ bytes: [UInt8], _ offset: Int) -> UInt64 {
                ELFFile.uint(bytes, offset, pointerSize, bigEndian: bigEndian)
            }
            // Each pointer leads to a Go string header (data pointer, length) in memory.
            func goString(at address: UInt64) -> String? {
                guard let offset = elf.fileOffset(of: address) else { return nil }
                let stringHeader = elf.bytes(offset, 2 * pointerSize)
                guard stringHeader.count == 2 * pointerSize else { return nil }
                let length = Int(clamping: pointer(stringHeader, pointerSize))
                guard length > 0, length < 16 << 20, let data = elf.fileOffset(of: pointer(stringHeader, 0)) else { return nil }
                let bytes = elf.bytes(data, length)
                return bytes.count == length ? String(decoding: bytes, as: UTF8.self) : nil
            }
            version = goString(at: pointer(header, 16))
            modInfo = goString(at: pointer(header, 16 + pointerSize))
        }
        guard let version, version.hasPrefix("go") || version.hasPrefix("devel") else { return nil }
        goVersion = version
        modules = []
        guard var info = modInfo else { return }
        // Module info is wrapped in 16-byte sentinels.
        let bytes = Array(info.utf8)
        if bytes.count >= 33, bytes[bytes.count - 17] == UInt8(ascii: "\n") {
            info = String(decoding: bytes[16..<(bytes.count - 16)], as: UTF8.self)
        }
        for line in info.split(separator: "\n") {
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard let kind = fields.first else { continue }
            switch kind {
            case "path" where fields.count >= 2:
                mainPath = fields[1]
            case "mod" where fields.count >= 3:
                main = (fields[1], fields[2])
            case "dep" where fields.count >= 3:
                modules.append((fields[1], fields[2]))
            case "=>" where fields.count >= 3 && !fields[2].isEmpty:
                if !modules.isEmpty { modules[modules.count - 1] = (fields[1], fields[2]) }
            default:
                continue
            }
        }
    }

    /// A binary without a section table: the header is 16-byte aligned in the file; read in
    /// 1 MiB pieces (aligned, so no candidate straddles two).
    static func findMagic(_ elf: ELFFile) -> Int? {
        let piece = 1 << 20
        var base = 0
        while base + 32 <= elf.count {
            let bytes = elf.source.read(base, piece)
            var i = 0
            while i + 14 <= bytes.count {
                if bytes[i] == 0xFF, bytes[(i + 1)..<(i + 14)].elementsEqual(magic[1...]) { return base + i }
                i += 16
            }
            base += piece
        }
        return nil
    }

    private static func varintString(_ elf: ELFFile, _ cursor: inout Int) -> String? {
        let prefix = elf.source.read(cursor, 10)
        var length = 0
        var shift = 0
        var used = 0
        while used < prefix.count {
            let byte = prefix[used]
            used += 1
            length |= Int(byte & 0x7F) << shift
            if byte & 0x80 == 0 { break }
            shift += 7
            if shift > 35 { return nil }
        }
        cursor += used
        guard length >= 0, length < 16 << 20 else { return nil }
        let bytes = elf.bytes(cursor, length)
        guard bytes.count == length else { return nil }
        cursor += length
        return String(decoding: bytes, as: UTF8.self)
    }

    func packages(path: String) -> [InstalledPackage] {
        var result: [InstalledPackage] = []
        func add(_ module: String, _ version: String) {
            guard !version.isEmpty, version != "(devel)" else { return }
            let parts = module.split(separator: "/")
            let namespace = parts.dropLast().joined(separator: "/")
            let name = parts.last.map(String.init) ?? module
            result.append(
                InstalledPackage(
                    name: module, version: version, type: .golang,
                    purl: PackageURL.make(type: "golang", namespace: namespace, name: name, version: version), path: path))
        }
        if let main { add(main.path, main.version) }
        for module in modules { add(module.path, module.version) }
        // The Go standard library, so its vulnerabilities match too ("go1.21.5" → "v1.21.5").
        if goVersion.hasPrefix("go1") {
            let version = "v" + String(goVersion.dropFirst(2).prefix { $0 != " " && $0 != "+" && $0 != "-" })
            result.append(
                InstalledPackage(
                    name: "stdlib", version: version, type: .golang,
                    purl: PackageURL.make(type: "golang", name: "stdlib", version: version), path: path))
        }
        return result
    }
}

/// Rust binaries built with cargo-auditable carry their dependency tree as zlib JSON.
enum CargoAuditable {
    /// The largest `.dep-v0` section read (its JSON inflates to at most 16 MiB).
    static let maxCompressedBytes = 16 << 20

    private struct Tree: Decodable {
        struct Package: Decodable {
            var name: String
            var version: String
            var source: String?
        }
        var packages: [Package]
    }

    static func packages(compressed: ArraySlice<UInt8>, path: String) throws -> [InstalledPackage] {
        var buffer = ByteBuffer(bytes: compressed)
        let json: ByteBuffer
        do {
            json = try buffer.decompress(with: .zlib, maxSize: 16 << 20)
        } catch {
            throw DetectorError("\(path): cargo-auditable data does not inflate")
        }
        let tree: Tree
        do {
            tree = try JSONDecoder().decode(Tree.self, from: Data(json.readableBytesView))
        } catch {
            throw DetectorError("\(path): cargo-auditable JSON is malformed")
        }
        return tree.packages.filter { $0.source != "local" }.map { package in
            InstalledPackage(
                name: package.name, version: package.version, type: .cargo,
                purl: PackageURL.make(type: "cargo", name: package.name, version: package.version), path: path)
        }
    }
}
