import CompressNIO
import Foundation
import NIOCore

/// Errors reading a ZIP archive.
public enum ZipArchiveError: Error, Sendable, CustomStringConvertible {
    case notAZip
    case truncated(String)
    case unsupportedMethod(entry: String, method: Int)
    case encrypted(entry: String)
    case corrupt(entry: String, reason: String)
    case tooLarge(entry: String, size: Int)

    public var description: String {
        switch self {
        case .notAZip: "not a ZIP archive (no end of central directory record)"
        case .truncated(let what): "ZIP archive truncated: \(what)"
        case .unsupportedMethod(let e, let m): "\(e): unsupported compression method \(m)"
        case .encrypted(let e): "\(e): encrypted entries are not supported"
        case .corrupt(let e, let r): "\(e): \(r)"
        case .tooLarge(let e, let s): "\(e): \(s) bytes is over the per-entry limit"
        }
    }
}

/// A read-only ZIP archive (stored and deflated entries, ZIP64, CRC-32 checked): the one ZIP
/// reader of the package. It serves OSV's `all.zip` exports (memory-mapped `Data`) and Java
/// archives in image layers (`[UInt8]` slices, nested jars). Every offset and size read from
/// the archive is checked against its length before use, so hostile input throws instead of
/// trapping.
struct ZipArchive<Bytes: RandomAccessCollection<UInt8>> where Bytes.Index == Int {
    struct Entry {
        let name: String
        let method: Int
        let flags: Int
        let crc32: UInt32
        let compressedSize: Int
        let uncompressedSize: Int
        let localHeaderOffset: Int
    }

    let data: Bytes
    let entries: [Entry]
    /// Entries larger than this are refused (a bomb guard; OSV records are kilobytes).
    let maxEntrySize: Int

    init(data: Bytes, maxEntrySize: Int = 64 << 20) throws {
        self.data = data
        self.maxEntrySize = maxEntrySize
        self.entries = try Self.readCentralDirectory(data)
    }

    private static func u16(_ d: Bytes, _ o: Int) -> Int {
        let b = d.startIndex + o
        return Int(d[b]) | Int(d[b + 1]) << 8
    }

    private static func u32(_ d: Bytes, _ o: Int) -> Int {
        let b = d.startIndex + o
        return Int(d[b]) | Int(d[b + 1]) << 8 | Int(d[b + 2]) << 16 | Int(d[b + 3]) << 24
    }

    /// A ZIP64 field; values that do not fit a non-negative `Int` read as -1, which every
    /// bounds check below refuses.
    private static func u64(_ d: Bytes, _ o: Int) -> Int {
        let lo = u32(d, o), hi = u32(d, o + 4)
        return hi >= 0x8000_0000 ? -1 : lo | (hi << 32)
    }

    /// Whether `[offset, offset + length)` lies inside `count` bytes, without overflow.
    private static func fits(_ offset: Int, _ length: Int, in count: Int) -> Bool {
        offset >= 0 && length >= 0 && offset <= count && length <= count - offset
    }

    static func readCentralDirectory(_ d: Bytes) throws -> [Entry] {
        // The end-of-central-directory record sits in the last 64 KiB + 22 bytes.
        guard d.count >= 22 else { throw ZipArchiveError.notAZip }
        var eocd = -1
        var p = d.count - 22
        let lowest = max(0, d.count - 22 - 65_535)
        while p >= lowest {
            if u32(d, p) == 0x0605_4B50 {
                eocd = p
                break
            }
            p -= 1
        }
        guard eocd >= 0 else { throw ZipArchiveError.notAZip }
        var count = u16(d, eocd + 10)
        var cdSize = u32(d, eocd + 12)
        var cdOffset = u32(d, eocd + 16)
        // ZIP64: a locator just before the EOCD points at the ZIP64 EOCD record.
        if (count == 0xFFFF || cdSize == 0xFFFF_FFFF || cdOffset == 0xFFFF_FFFF) && eocd >= 20
            && u32(d, eocd - 20) == 0x0706_4B50
        {
            let z = u64(d, eocd - 20 + 8)
            guard fits(z, 56, in: d.count), u32(d, z) == 0x0606_4B50 else {
                throw ZipArchiveError.truncated("ZIP64 end of central directory")
            }
            count = u64(d, z + 32)
            cdSize = u64(d, z + 40)
            cdOffset = u64(d, z + 48)
        }
        // Each central directory entry takes at least 46 bytes: a count the directory
        // cannot hold is a lie, not an allocation to make.
        guard fits(cdOffset, cdSize, in: d.count), count >= 0, count <= cdSize / 46 else {
            throw ZipArchiveError.truncated("central directory")
        }
        var entries: [Entry] = []
        entries.reserveCapacity(count)
        var o = cdOffset
        for _ in 0..<count {
            guard fits(o, 46, in: d.count), u32(d, o) == 0x0201_4B50 else {
                throw ZipArchiveError.truncated("central directory entry")
            }
            let flags = u16(d, o + 8)
            let method = u16(d, o + 10)
            let crc = UInt32(u32(d, o + 16))
            var csize = u32(d, o + 20)
            var usize = u32(d, o + 24)
            let nameLen = u16(d, o + 28), extraLen = u16(d, o + 30), commentLen = u16(d, o + 32)
            var local = u32(d, o + 42)
            guard fits(o + 46, nameLen + extraLen + commentLen, in: d.count) else {
                throw ZipArchiveError.truncated("central directory entry")
            }
            let nameStart = d.startIndex + o + 46
            let name = String(decoding: d[nameStart..<(nameStart + nameLen)], as: UTF8.self)
            // ZIP64 extended information: present fields replace the 0xFFFFFFFF ones, in order.
            var e = o + 46 + nameLen
            let extraEnd = e + extraLen
            while e + 4 <= extraEnd {
                let tag = u16(d, e), size = u16(d, e + 2)
                let fieldEnd = min(e + 4 + size, extraEnd)
                if tag == 0x0001 {
                    var f = e + 4
                    if usize == 0xFFFF_FFFF, f + 8 <= fieldEnd {
                        usize = u64(d, f)
                        f += 8
                    }
                    if csize == 0xFFFF_FFFF, f + 8 <= fieldEnd {
                        csize = u64(d, f)
                        f += 8
                    }
                    if local == 0xFFFF_FFFF, f + 8 <= fieldEnd { local = u64(d, f) }
                }
                e += 4 + size
            }
            entries.append(
                Entry(
                    name: name, method: method, flags: flags, crc32: crc, compressedSize: csize,
                    uncompressedSize: usize, localHeaderOffset: local))
            o += 46 + nameLen + extraLen + commentLen
        }
        return entries
    }

    /// The uncompressed bytes of an entry, size- and CRC-checked.
    func contents(of entry: Entry) throws -> Data { try read(entry) }

    /// The uncompressed bytes of an entry as an array (nested archives are read in place).
    func bytes(of entry: Entry) throws -> [UInt8] { try read(entry) }

    private func read<Output: RangeReplaceableCollection<UInt8>>(_ entry: Entry) throws -> Output {
        guard entry.flags & 1 == 0 else { throw ZipArchiveError.encrypted(entry: entry.name) }
        guard entry.uncompressedSize <= maxEntrySize, entry.uncompressedSize >= 0 else {
            throw ZipArchiveError.tooLarge(entry: entry.name, size: entry.uncompressedSize)
        }
        let h = entry.localHeaderOffset
        guard Self.fits(h, 30, in: data.count), Self.u32(data, h) == 0x0403_4B50 else {
            throw ZipArchiveError.corrupt(entry: entry.name, reason: "bad local header")
        }
        let start = h + 30 + Self.u16(data, h + 26) + Self.u16(data, h + 28)
        guard Self.fits(start, entry.compressedSize, in: data.count) else {
            throw ZipArchiveError.truncated(entry.name)
        }
        let raw = data[(data.startIndex + start)..<(data.startIndex + start + entry.compressedSize)]
        let out: Output
        switch entry.method {
        case 0:
            out = Output(raw)
        case 8:
            var input = ByteBuffer(bytes: raw)
            // The declared size bounds the output: inflating past it fails instead of growing.
            var output = ByteBufferAllocator().buffer(capacity: entry.uncompressedSize + 64)
            do {
                try input.decompress(to: &output, with: .deflate())
            } catch {
                throw ZipArchiveError.corrupt(entry: entry.name, reason: "inflate failed: \(error)")
            }
            out = Output(output.readableBytesView)
        default:
            throw ZipArchiveError.unsupportedMethod(entry: entry.name, method: entry.method)
        }
        guard out.count == entry.uncompressedSize, CRC32.checksum(out) == entry.crc32 else {
            throw ZipArchiveError.corrupt(entry: entry.name, reason: "size or CRC-32 mismatch")
        }
        return out
    }
}

extension ZipArchive: Sendable where Bytes: Sendable {}

extension ZipArchive where Bytes == Data {
    /// Memory-maps the file: an OSV export is read entry by entry, never loaded whole.
    init(url: URL, maxEntrySize: Int = 64 << 20) throws {
        try self.init(data: Data(contentsOf: url, options: .alwaysMapped), maxEntrySize: maxEntrySize)
    }
}

/// CRC-32 (IEEE 802.3), as ZIP uses.
enum CRC32 {
    static let table: [UInt32] = (0..<256).map { n in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    static func checksum<D: Sequence<UInt8>>(_ bytes: D) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes { c = table[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        return c ^ 0xFFFF_FFFF
    }
}

/// A minimal ZIP writer (deflated entries, ZIP64 end record when there are more than
/// 65,534 entries, or ZIP64 fields everywhere when `zip64` is set); used to build test
/// fixtures and benchmark archives.
struct ZipWriter {
    private(set) var data = Data()
    private var central = Data()
    private var count = 0
    /// Writes every size and offset as a ZIP64 extra field (0xFFFFFFFF in the classic
    /// fields), and the ZIP64 end records, as tools do for archives over 4 GiB.
    let zip64: Bool

    init(zip64: Bool = false) { self.zip64 = zip64 }

    private static func le16(_ v: Int, into d: inout Data) {
        d.append(UInt8(v & 0xFF))
        d.append(UInt8((v >> 8) & 0xFF))
    }

    private static func le32(_ v: Int, into d: inout Data) {
        for s in stride(from: 0, to: 32, by: 8) { d.append(UInt8((v >> s) & 0xFF)) }
    }

    private static func le64(_ v: Int, into d: inout Data) {
        for s in stride(from: 0, to: 64, by: 8) { d.append(UInt8((v >> s) & 0xFF)) }
    }

    /// The ZIP64 extended information field: sizes (and the offset) as 64-bit values.
    private static func zip64Extra(_ values: [Int], into d: inout Data) {
        le16(0x0001, into: &d)
        le16(8 * values.count, into: &d)
        for v in values { le64(v, into: &d) }
    }

    mutating func add(name: String, contents: Data, deflate: Bool = true) throws {
        var payload = contents
        var method = 0
        if deflate {
            var input = ByteBuffer(bytes: contents)
            let out = try input.compress(with: .deflate())
            payload = Data(out.readableBytesView)
            method = 8
        }
        let crc = Int(CRC32.checksum(contents))
        let nameBytes = Data(name.utf8)
        let offset = data.count
        let classic = zip64 ? 0xFFFF_FFFF : nil
        Self.le32(0x0403_4B50, into: &data)
        Self.le16(zip64 ? 45 : 20, into: &data)
        Self.le16(0x0800, into: &data)  // UTF-8 names
        Self.le16(method, into: &data)
        Self.le32(0, into: &data)  // time, date
        Self.le32(crc, into: &data)
        Self.le32(classic ?? payload.count, into: &data)
        Self.le32(classic ?? contents.count, into: &data)
        Self.le16(nameBytes.count, into: &data)
        Self.le16(zip64 ? 20 : 0, into: &data)
        data.append(nameBytes)
        if zip64 { Self.zip64Extra([contents.count, payload.count], into: &data) }
        data.append(payload)

        Self.le32(0x0201_4B50, into: &central)
        Self.le16(zip64 ? 45 : 20, into: &central)
        Self.le16(zip64 ? 45 : 20, into: &central)
        Self.le16(0x0800, into: &central)
        Self.le16(method, into: &central)
        Self.le32(0, into: &central)
        Self.le32(crc, into: &central)
        Self.le32(classic ?? payload.count, into: &central)
        Self.le32(classic ?? contents.count, into: &central)
        Self.le16(nameBytes.count, into: &central)
        Self.le16(zip64 ? 28 : 0, into: &central)  // extra
        Self.le16(0, into: &central)  // comment
        Self.le16(0, into: &central)  // disk
        Self.le16(0, into: &central)  // internal attributes
        Self.le32(0, into: &central)  // external attributes
        Self.le32(classic ?? offset, into: &central)
        central.append(nameBytes)
        if zip64 { Self.zip64Extra([contents.count, payload.count, offset], into: &central) }
        count += 1
    }

    mutating func finish() -> Data {
        let cdOffset = data.count
        data.append(central)
        let cdSize = central.count
        if zip64 || count >= 0xFFFF {
            let record = data.count
            Self.le32(0x0606_4B50, into: &data)
            Self.le64(44, into: &data)
            Self.le16(45, into: &data)
            Self.le16(45, into: &data)
            Self.le32(0, into: &data)
            Self.le32(0, into: &data)
            Self.le64(count, into: &data)
            Self.le64(count, into: &data)
            Self.le64(cdSize, into: &data)
            Self.le64(cdOffset, into: &data)
            Self.le32(0x0706_4B50, into: &data)
            Self.le32(0, into: &data)
            Self.le64(record, into: &data)
            Self.le32(1, into: &data)
        }
        Self.le32(0x0605_4B50, into: &data)
        Self.le16(0, into: &data)
        Self.le16(0, into: &data)
        Self.le16(zip64 ? 0xFFFF : min(count, 0xFFFF), into: &data)
        Self.le16(zip64 ? 0xFFFF : min(count, 0xFFFF), into: &data)
        Self.le32(zip64 ? 0xFFFF_FFFF : cdSize, into: &data)
        Self.le32(zip64 ? 0xFFFF_FFFF : cdOffset, into: &data)
        Self.le16(0, into: &data)
        return data
    }
}
