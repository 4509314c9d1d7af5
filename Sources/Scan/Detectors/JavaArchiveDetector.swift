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
        let zip = try ZipArchive(data: archive, maxEntrySize: maxInflatedEntryBytes)
        var poms: [InstalledPackage] = []
        var manifest: [String: String]?
        // An entry that cannot be delivered intact (bad CRC, failed inflate, encrypted) is
        // reported, never read.
        func text(_ entry: ZipArchive<ArraySlice<UInt8>>.Entry) -> String? {
            guard entry.uncompressedSize <= maxTextEntryBytes else { return nil }
            do {
                return String(decoding: try zip.bytes(of: entry), as: UTF8.self)
            } catch {
                result.notes.append("\(path)!/\(entry.name): \(error)")
                return nil
            }
        }
        for entry in zip.entries {
            if entry.name.hasPrefix("META-INF/maven/") && entry.name.hasSuffix("/pom.properties") {
                guard let text = text(entry) else { continue }
                let properties = parseProperties(text)
                if let group = properties["groupId"], let artifact = properties["artifactId"],
                    let version = properties["version"]
                {
                    poms.append(maven(group: group, artifact: artifact, version: version, path: path))
                }
            } else if entry.name == "META-INF/MANIFEST.MF" {
                if let text = text(entry) { manifest = parseManifest(text) }
            } else if isArchive(entry.name), depth < maxNesting {
                let nested = path + "!/" + entry.name
                do {
                    try scan(try zip.bytes(of: entry)[...], path: nested, depth: depth + 1, into: &result)
                } catch {
                    result.notes.append("\(nested): nested archive could not be read: \(error)")
                }
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
