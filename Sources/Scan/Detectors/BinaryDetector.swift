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
        guard let elf = ELFFile(contents) else { return DetectorResult() }
        var packages: [InstalledPackage] = []
        if let info = GoBuildInfo(elf: elf) {
            packages += info.packages(path: path)
        }
        if let section = elf.section(named: ".dep-v0") {
            packages += try CargoAuditable.packages(compressed: elf.bytes(section.offset, section.size), path: path)
        }
        return DetectorResult(packages: packages)
    }
}

/// Just enough ELF to find sections by name and map virtual addresses to file offsets.
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

    let data: [UInt8]
    let is64: Bool
    let bigEndian: Bool
    private(set) var sections: [Section] = []
    private(set) var segments: [Segment] = []

    init?(_ data: [UInt8]) {
        guard data.count >= 64, data[0] == 0x7F, data[1] == 0x45, data[2] == 0x4C, data[3] == 0x46 else { return nil }
        guard data[4] == 1 || data[4] == 2, data[5] == 1 || data[5] == 2 else { return nil }
        self.data = data
        is64 = data[4] == 2
        bigEndian = data[5] == 2
        let phoff = Int(clamping: is64 ? uint(0x20, 8) : uint(0x1C, 4))
        let shoff = Int(clamping: is64 ? uint(0x28, 8) : uint(0x20, 4))
        let phentsize = Int(uint(is64 ? 0x36 : 0x2A, 2))
        let phnum = Int(uint(is64 ? 0x38 : 0x2C, 2))
        let shentsize = Int(uint(is64 ? 0x3A : 0x2E, 2))
        let shnum = Int(uint(is64 ? 0x3C : 0x30, 2))
        let shstrndx = Int(uint(is64 ? 0x3E : 0x32, 2))
        for i in 0..<(phoff < data.count ? phnum : 0) {
            let base = phoff + i * phentsize
            guard phentsize >= (is64 ? 56 : 32), base >= 0, base + phentsize <= data.count else { break }
            guard uint(base, 4) == 1 else { continue }  // PT_LOAD
            let offset = Int(clamping: is64 ? uint(base + 8, 8) : uint(base + 4, 4))
            let address = is64 ? uint(base + 16, 8) : uint(base + 8, 4)
            let size = Int(clamping: is64 ? uint(base + 32, 8) : uint(base + 16, 4))
            segments.append(Segment(address: address, offset: offset, size: size))
        }
        var raw: [(nameOffset: Int, section: Section)] = []
        for i in 0..<(shoff < data.count ? shnum : 0) {
            let base = shoff + i * shentsize
            guard shentsize >= (is64 ? 64 : 40), base >= 0, base + shentsize <= data.count else { break }
            let nameOffset = Int(uint(base, 4))
            let address = is64 ? uint(base + 16, 8) : uint(base + 12, 4)
            let offset = Int(clamping: is64 ? uint(base + 24, 8) : uint(base + 16, 4))
            let size = Int(clamping: is64 ? uint(base + 32, 8) : uint(base + 20, 4))
            raw.append((nameOffset, Section(name: "", address: address, offset: offset, size: size)))
        }
        if shstrndx < raw.count {
            let table = raw[shstrndx].section
            for (nameOffset, section) in raw {
                var named = section
                // Offsets come from the file: compare before adding so hostile values cannot overflow.
                if table.offset < data.count, nameOffset < table.size, nameOffset < data.count - table.offset {
                    let start = table.offset + nameOffset
                    var end = start
                    while end < data.count, data[end] != 0 { end += 1 }
                    named.name = String(decoding: data[start..<end], as: UTF8.self)
                }
                sections.append(named)
            }
        }
    }

    func uint(_ offset: Int, _ width: Int) -> UInt64 {
        guard offset >= 0, offset + width <= data.count else { return 0 }
        var value: UInt64 = 0
        for i in 0..<width {
            let byte = UInt64(data[bigEndian ? offset + i : offset + width - 1 - i])
            value = value << 8 | byte
        }
        return value
    }

    func section(named name: String) -> Section? {
        sections.first { $0.name == name }
    }

    func bytes(_ offset: Int, _ size: Int) -> ArraySlice<UInt8> {
        guard offset >= 0, size >= 0, offset <= data.count, size <= data.count - offset else { return [] }
        return data[offset..<(offset + size)]
    }

    /// The file offset of a virtual address, via the loadable segments.
    func fileOffset(of address: UInt64) -> Int? {
        for segment in segments where address >= segment.address && address - segment.address < UInt64(segment.size) {
            let delta = Int(address - segment.address)
            guard segment.offset < data.count, delta < data.count - segment.offset else { return nil }
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
        let data = elf.data
        var start: Int?
        if let section = elf.section(named: ".go.buildinfo"), section.size >= 32,
            elf.bytes(section.offset, 14).elementsEqual(Self.magic)
        {
            start = section.offset
        } else {
            // Stripped of section names: the header is 16-byte aligned in the file.
            var offset = 0
            while offset + 32 <= data.count {
                if data[offset] == 0xFF, elf.bytes(offset, 14).elementsEqual(Self.magic) {
                    start = offset
                    break
                }
                offset += 16
            }
        }
        guard let start, start + 32 <= data.count else { return nil }
        let pointerSize = Int(data[start + 14])
        let flags = data[start + 15]
        var version: String?
        var modInfo: String?
        if flags & 2 != 0 {
            var cursor = start + 32
            version = Self.varintString(data, &cursor)
            modInfo = Self.varintString(data, &cursor)
        } else {
            guard pointerSize == 4 || pointerSize == 8 else { return nil }
            let bigEndian = flags & 1 != 0
            func pointer(_ offset: Int) -> UInt64 {
                guard offset >= 0, offset + pointerSize <= data.count else { return 0 }
                var value: UInt64 = 0
                for i in 0..<pointerSize {
                    value = value << 8 | UInt64(data[bigEndian ? offset + i : offset + pointerSize - 1 - i])
                }
                return value
            }
            // Each pointer leads to a Go string header (data pointer, length) in memory.
            func goString(at address: UInt64) -> String? {
                guard let header = elf.fileOffset(of: address) else { return nil }
                let dataAddress = pointer(header)
                let length = Int(clamping: pointer(header + pointerSize))
                guard length > 0, length < 16 << 20, let offset = elf.fileOffset(of: dataAddress) else { return nil }
                let slice = elf.bytes(offset, length)
                return slice.count == length ? String(decoding: slice, as: UTF8.self) : nil
            }
            version = goString(at: pointer(start + 16))
            modInfo = goString(at: pointer(start + 16 + pointerSize))
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

    private static func varintString(_ data: [UInt8], _ cursor: inout Int) -> String? {
        var length = 0
        var shift = 0
        while cursor < data.count {
            let byte = data[cursor]
            cursor += 1
            length |= Int(byte & 0x7F) << shift
            if byte & 0x80 == 0 { break }
            shift += 7
            if shift > 35 { return nil }
        }
        guard length >= 0, cursor + length <= data.count else { return nil }
        defer { cursor += length }
        return String(decoding: data[cursor..<(cursor + length)], as: UTF8.self)
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
