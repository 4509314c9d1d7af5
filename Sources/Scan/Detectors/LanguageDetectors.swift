import Foundation

/// Python: `*.dist-info/METADATA` and `*.egg-info/PKG-INFO` (`Name:`/`Version:` headers).
public struct PythonDetector: PackageDetector {
    public init() {}
    public var name: String { "python" }

    public func interest(in path: String, size: Int64, executable: Bool) -> FileInterest? {
        let base = TarPath.basename(path)
        guard base == "METADATA" || base == "PKG-INFO" else { return nil }
        let directory = TarPath.basename(TarPath.parent(path))
        if base == "METADATA" && directory.hasSuffix(".dist-info") { return .metadata }
        if base == "PKG-INFO" && directory.hasSuffix(".egg-info") { return .metadata }
        return nil
    }

    public func detect(path: String, contents: [UInt8]) throws -> DetectorResult {
        var name: String?
        var version: String?
        // Core metadata is an email header block; the body (description) follows a blank line.
        for line in String(decoding: contents, as: UTF8.self).linesTrimmingCR {
            if line.isEmpty { break }
            if name == nil, line.hasPrefix("Name:") { name = String(line.dropFirst(5).trimmed) }
            if version == nil, line.hasPrefix("Version:") { version = String(line.dropFirst(8).trimmed) }
            if name != nil && version != nil { break }
        }
        guard let name, let version, !name.isEmpty, !version.isEmpty else {
            throw DetectorError("\(path): no Name/Version")
        }
        // purl-spec: pypi names are lowercased with `_` replaced by `-`.
        let purlName = name.lowercased().replacing("_", with: "-")
        let package = InstalledPackage(
            name: name, version: version, type: .python,
            purl: PackageURL.make(type: "pypi", name: purlName, version: version), path: path)
        return DetectorResult(packages: [package])
    }
}

/// npm: `node_modules/<name>/package.json` and `node_modules/@scope/<name>/package.json` at
/// any depth; an app's own package.json (outside node_modules) and `private` packages are skipped.
public struct NpmDetector: PackageDetector {
    public init() {}
    public var name: String { "npm" }

    public func interest(in path: String, size: Int64, executable: Bool) -> FileInterest? {
        guard path.hasSuffix("/package.json") else { return nil }
        let parts = path.split(separator: "/")
        guard parts.count >= 3 else { return nil }
        if parts[parts.count - 3] == "node_modules" && !parts[parts.count - 2].hasPrefix("@") { return .metadata }
        if parts.count >= 4, parts[parts.count - 4] == "node_modules", parts[parts.count - 3].hasPrefix("@") {
            return .metadata
        }
        return nil
    }

    private struct Manifest: Decodable {
        var name: String?
        var version: String?
        var `private`: Bool?
    }

    public func detect(path: String, contents: [UInt8]) throws -> DetectorResult {
        let manifest: Manifest
        do {
            manifest = try JSONDecoder().decode(Manifest.self, from: Data(contents))
        } catch {
            throw DetectorError("\(path): not a valid package.json")
        }
        guard let name = manifest.name, let version = manifest.version, !name.isEmpty, !version.isEmpty,
            manifest.private != true
        else { return DetectorResult() }
        var namespace: String?
        var shortName = name
        if name.hasPrefix("@"), let slash = name.firstIndex(of: "/") {
            namespace = String(name[..<slash])
            shortName = String(name[name.index(after: slash)...])
        }
        let package = InstalledPackage(
            name: name, version: version, type: .npm,
            purl: PackageURL.make(type: "npm", namespace: namespace, name: shortName, version: version), path: path)
        return DetectorResult(packages: [package])
    }
}
