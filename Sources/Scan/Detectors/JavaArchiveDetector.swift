/// Java archives (`.jar`, `.war`, `.ear`, also nested ones such as `WEB-INF/lib/*.jar` and
/// Spring Boot's `BOOT-INF/lib/*.jar`), named by the first evidence that exists, in this
/// order (`MavenNaming`): `META-INF/maven/<g>/<a>/pom.properties`, the `pom.xml` beside it,
/// the MANIFEST (`Bundle-SymbolicName` split into group and artifact, or
/// `Implementation-Vendor-Id` as the group), then the file name. The package's `evidence` says
/// which one named it.
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
        var pomXMLs: [(directory: Substring, text: String)] = []
        var manifest: [String: String]?
        var unreadable = false
        // An entry that cannot be delivered intact (bad CRC, failed inflate, encrypted) is
        // reported, never read.
        func text(_ entry: ZipArchive<ArraySlice<UInt8>>.Entry) -> String? {
            guard entry.uncompressedSize <= maxTextEntryBytes else { return nil }
            do {
                return String(decoding: try zip.bytes(of: entry), as: UTF8.self)
            } catch {
                unreadable = true
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
                    if let package = maven(group: group, artifact: artifact, version: version, path: path, evidence: "pom.properties") {
                        poms.append(package)
                    } else {
                        result.notes.append("\(path)!/\(entry.name): groupId/artifactId/version are not Maven names, not used")
                    }
                }
            } else if entry.name.hasPrefix("META-INF/maven/") && entry.name.hasSuffix("/pom.xml") {
                guard let text = text(entry) else { continue }
                pomXMLs.append((entry.name.dropFirst("META-INF/maven/".count).dropLast("/pom.xml".count), text))
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
            return
        }
        let manifestVersion = manifest.flatMap { MavenNaming.manifestVersion($0) }
        for (directory, text) in pomXMLs {
            switch MavenNaming.pomXML(text, directory: directory) {
            case .success(let coordinates):
                if let version = coordinates.version ?? manifestVersion,
                    let package = maven(group: coordinates.group, artifact: coordinates.artifact, version: version, path: path, evidence: "pom.xml")
                {
                    poms.append(package)
                }
            case .failure(let error):
                result.notes.append("\(path)!/META-INF/maven/\(directory)/pom.xml: \(error)")
            }
        }
        if !poms.isEmpty {
            result.packages += poms
            return
        }
        let stem = MavenNaming.fileStem(path)
        if let manifest, let named = MavenNaming.fromManifest(manifest, fileStem: stem), let version = named.version,
            let package = maven(group: named.group, artifact: named.artifact, version: version, path: path, evidence: "MANIFEST.MF")
        {
            result.packages.append(package)
            return
        }
        if let stem, let version = stem.version ?? manifestVersion,
            let package = maven(group: "", artifact: stem.artifact, version: version, path: path, evidence: "filename")
        {
            result.packages.append(package)
            return
        }
        // An archive with a MANIFEST that names nothing is worth a note; one without any
        // (a war or fat jar holding only nested jars) or whose evidence was unreadable (already
        // noted) is not.
        if manifest != nil && !unreadable {
            result.notes.append("\(path): no pom.properties, pom.xml, MANIFEST or file name gives a Maven name and version")
        }
    }

    /// nil when a part is not a Maven name (empty, whitespace, control characters): such a
    /// name never becomes a purl.
    private static func maven(group: String, artifact: String, version: String, path: String, evidence: String) -> InstalledPackage? {
        guard MavenNaming.isToken(artifact), group.isEmpty || MavenNaming.isToken(group), MavenNaming.isToken(version) else {
            return nil
        }
        return InstalledPackage(
            name: group.isEmpty ? artifact : "\(group):\(artifact)", version: version, type: .maven,
            purl: PackageURL.make(type: "maven", namespace: group, name: artifact, version: version), path: path,
            evidence: evidence)
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
