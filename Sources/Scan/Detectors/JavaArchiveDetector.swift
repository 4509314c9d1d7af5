import CompressNIO
import NIOCore

/// Java archives (`.jar`, `.war`, `.ear`, also nested ones such as `WEB-INF/lib/*.jar` and
/// Spring Boot's `BOOT-INF/lib/*.jar`): `META-INF/maven/<g>/<a>/pom.properties`, or the
/// MANIFEST's `Implementation-Title`/`Implementation-Version` when no pom.properties exists.
public struct JavaArchiveDetector: PackageDetector {
    public init() {}
    public var name: String { "java" }

    static let maxNesting = 3
    static let maxInflatedEntryBytes = 256 << 20
    static let maxTextEntryBytes = 1 << 20

    public func interest(in path: String, size: Int64, executable: Bool) -> FileInterest? {
        Self.isArchive(path) ? .binary : nil
    }

    static func isArchive(_ path: some StringProtocol) -> Bool {
        let lowered = path.lowercased()
        return lowered.hasSuffix(".jar") || lowered.hasSuffix(".war") || lowered.hasSuffix(".ear")
    }

    public func detect(path: String, contents: [UInt8]) throws -> DetectorResult {
        var result = DetectorResult()
        try Self.scan(contents[...], path: path, depth: 0, into: &result)
        return result
    }

    private static func scan(_ archive: ArraySlice<UInt8>, path: String, depth: Int, into result: inout DetectorResult) throws {
        let zip = try ZipDirectory(archive, path: path)
        var poms: [InstalledPackage] = []
        var manifest: [String: String]?
        for entry in zip.entries {
            if entry.name.hasPrefix("META-INF/maven/") && entry.name.hasSuffix("/pom.properties") {
                guard entry.size <= maxTextEntryBytes, let data = try? zip.contents(of: entry) else { continue }
                let properties = parseProperties(String(decoding: data, as: UTF8.self))
                if let group = properties["groupId"], let artifact = properties["artifactId"],
                    let version = properties["version"]
                {
                    poms.append(maven(group: group, artifact: artifact, version: version, path: path))
                }
            } else if entry.name == "META-INF/MANIFEST.MF" {
                if entry.size <= maxTextEntryBytes, let data = try? zip.contents(of: entry) { manifest = parseManifest(String(decoding: data, as: UTF8.self)) }
            } else if isArchive(entry.name), depth < maxNesting {
                guard let data = try? zip.contents(of: entry) else {
                    result.notes.append("\(path)!/\(entry.name): nested archive could not be read")
                    continue
                }
                try? scan(data[...], path: path + "!/" + entry.name, depth: depth + 1, into: &result)
            }
        }
        if !poms.isEmpty {
            result.packages += poms
        } else if let manifest, let title = manifest["Implementation-Title"] ?? manifest["Bundle-SymbolicName"],
            let version = manifest["Implementation-Version"] ?? manifest["Bundle-Version"]
        {
            let title = String(title.prefix { $0 != ";" }).trimmingCharacters(in: " ")
            let group = manifest["Implementation-Vendor-Id"] ?? ""
            result.packages.append(maven(group: group, artifact: title, version: version, path: path))
        }
    }

    private static func maven(group: String, artifact: String, version: String, path: String) -> InstalledPackage {
        InstalledPackage(
            name: group.isEmpty ? artifact : "\(group):\(artifact)", version: version, type: .maven,
            purl: PackageURL.make(type: "maven", namespace: group, name: artifact, version: version), path: path)
    }

    static func parseProperties(_ text: String) -> [String: String] {
        var result: [String: String] = [:]
        for line in text.linesTrimmingCR {
            let line = line.trimmed
            guard !line.hasPrefix("#"), !line.hasPrefix("!"), let equals = line.firstIndex(where: { $0 == "=" || $0 == ":" })
            else { continue }
            result[String(line[..<equals].trimmed)] = String(line[line.index(after: equals)...].trimmed)
        }
        return result
    }

    /// MANIFEST.MF main section: `Key: value`, continuation lines start with one space.
    static func parseManifest(_ text: String) -> [String: String] {
        var result: [String: String] = [:]
        var lastKey: String?
        for line in text.linesTrimmingCR {
            if line.isEmpty { break }
            if line.first == " ", let key = lastKey {
                result[key, default: ""] += line.dropFirst()
                continue
            }
            guard let colon = line.firstIndex(of: ":") else { continue }
            let key = String(line[..<colon])
            result[key] = String(line[line.index(after: colon)...].trimmed)
            lastKey = key
        }
        return result
    }
}

extension String {
    fileprivate func trimmingCharacters(in character: Character) -> String {
        String(self.drop { $0 == character }.reversed().drop { $0 == character }.reversed())
    }
}

/// A minimal zip reader: the central directory, stored and deflated entries. ZIP64 and
/// encrypted entries are skipped.
struct ZipDirectory {
    struct Entry {
        var name: String
        var method: Int
        var compressedSize: Int
        var size: Int
        var localHeaderOffset: Int
    }

    let data: ArraySlice<UInt8>
    private(set) var entries: [Entry] = []

    init(_ data: ArraySlice<UInt8>, path: String) throws {
        self.data = data
        let base = data.startIndex
        func u16(_ at: Int) -> Int {
            at >= 0 && at + 2 <= data.count ? Int(data[base + at]) | Int(data[base + at + 1]) << 8 : 0
        }
        func u32(_ at: Int) -> Int {
            at >= 0 && at + 4 <= data.count ? u16(at) | u16(at + 2) << 16 : 0
        }
        guard data.count >= 22 else { throw DetectorError("\(path): not a zip archive") }
        var end = -1
        var cursor = data.count - 22
        let lowest = max(0, data.count - 22 - 65_535)
        while cursor >= lowest {
            if u32(cursor) == 0x0605_4B50 {
                end = cursor
                break
            }
            cursor -= 1
        }
        guard end >= 0 else { throw DetectorError("\(path): no zip end-of-central-directory record") }
        let count = u16(end + 10)
        var offset = u32(end + 16)
        for _ in 0..<count {
            guard u32(offset) == 0x0201_4B50 else { break }
            let flags = u16(offset + 8)
            let method = u16(offset + 10)
            let compressedSize = u32(offset + 20)
            let size = u32(offset + 24)
            let nameLength = u16(offset + 28)
            let extraLength = u16(offset + 30)
            let commentLength = u16(offset + 32)
            let local = u32(offset + 42)
            let nameStart = offset + 46
            guard nameStart + nameLength <= data.count else { break }
            let name = String(decoding: data[(base + nameStart)..<(base + nameStart + nameLength)], as: UTF8.self)
            if flags & 1 == 0, compressedSize != 0xFFFF_FFFF, size != 0xFFFF_FFFF, local != 0xFFFF_FFFF {
                entries.append(
                    Entry(name: name, method: method, compressedSize: compressedSize, size: size, localHeaderOffset: local))
            }
            offset = nameStart + nameLength + extraLength + commentLength
        }
    }

    func contents(of entry: Entry) throws -> [UInt8] {
        let base = data.startIndex
        let local = entry.localHeaderOffset
        guard local >= 0, local + 30 <= data.count,
            data[base + local] == 0x50, data[base + local + 1] == 0x4B, data[base + local + 2] == 3,
            data[base + local + 3] == 4
        else { throw DetectorError("bad local header for \(entry.name)") }
        let nameLength = Int(data[base + local + 26]) | Int(data[base + local + 27]) << 8
        let extraLength = Int(data[base + local + 28]) | Int(data[base + local + 29]) << 8
        let start = local + 30 + nameLength + extraLength
        guard start + entry.compressedSize <= data.count else { throw DetectorError("truncated entry \(entry.name)") }
        let raw = data[(base + start)..<(base + start + entry.compressedSize)]
        switch entry.method {
        case 0:
            return Array(raw)
        case 8:
            guard entry.size <= JavaArchiveDetector.maxInflatedEntryBytes else { throw DetectorError("entry too large") }
            var buffer = ByteBuffer(bytes: raw)
            // One spare byte lets zlib reach the end of the stream instead of stopping on a full buffer.
            let inflated = try buffer.decompress(with: .deflate, maxSize: entry.size + 1)
            return Array(inflated.readableBytesView)
        default:
            throw DetectorError("unsupported zip method \(entry.method) for \(entry.name)")
        }
    }
}
