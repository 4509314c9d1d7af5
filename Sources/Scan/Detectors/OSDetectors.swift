/// os-release (`etc/os-release`, `usr/lib/os-release`): the image's OS family and version.
public struct OSReleaseDetector: PackageDetector {
    public init() {}
    public var name: String { "os-release" }

    public func interest(in path: String, size: Int64, executable: Bool) -> FileInterest? {
        path == "etc/os-release" || path == "usr/lib/os-release" ? .metadata : nil
    }

    public func detect(path: String, contents: [UInt8]) throws -> DetectorResult {
        var fields: [String: String] = [:]
        for line in String(decoding: contents, as: UTF8.self).linesTrimmingCR {
            let line = line.trimmed
            guard !line.hasPrefix("#"), let equals = line.firstIndex(of: "=") else { continue }
            let key = String(line[..<equals])
            var value = line[line.index(after: equals)...]
            if value.count >= 2, let first = value.first, first == "\"" || first == "'", value.last == first {
                value = value.dropFirst().dropLast()
            }
            fields[key] = String(value).replacing("\\\"", with: "\"").replacing("\\\\", with: "\\")
        }
        guard let id = fields["ID"], !id.isEmpty else {
            throw DetectorError("\(path): no ID field")
        }
        let os = OSInfo(
            family: id.lowercased(), version: fields["VERSION_ID"], codename: fields["VERSION_CODENAME"],
            prettyName: fields["PRETTY_NAME"])
        return DetectorResult(os: os)
    }
}

/// Parses RFC 822-style stanzas (dpkg status, apk installed uses its own format).
enum Stanzas {
    /// Splits into stanzas of (field, value) with continuation lines joined by "\n".
    static func parse(_ text: String) -> [[String: String]] {
        var stanzas: [[String: String]] = []
        var current: [String: String] = [:]
        var lastKey: String?
        for line in text.linesTrimmingCR {
            if line.trimmed.isEmpty {
                if !current.isEmpty { stanzas.append(current) }
                current = [:]
                lastKey = nil
                continue
            }
            if line.first == " " || line.first == "\t" {
                if let key = lastKey { current[key, default: ""] += "\n" + String(line.trimmed) }
                continue
            }
            guard let colon = line.firstIndex(of: ":") else { continue }
            let key = String(line[..<colon])
            current[key] = String(line[line.index(after: colon)...].trimmed)
            lastKey = key
        }
        if !current.isEmpty { stanzas.append(current) }
        return stanzas
    }
}

/// dpkg: `var/lib/dpkg/status` and distroless's `var/lib/dpkg/status.d/*`.
public struct DpkgDetector: PackageDetector {
    public init() {}
    public var name: String { "dpkg" }

    public func interest(in path: String, size: Int64, executable: Bool) -> FileInterest? {
        if path == "var/lib/dpkg/status" { return .metadata }
        if path.hasPrefix("var/lib/dpkg/info/"), path.hasSuffix(".list") { return .metadata }
        if path.hasPrefix("var/lib/dpkg/status.d/") {
            let base = TarPath.basename(path)
            // distroless also ships `<pkg>.md5sums` beside each stanza file.
            if !base.hasSuffix(".md5sums") && !path.dropFirst("var/lib/dpkg/status.d/".count).contains("/") {
                return .metadata
            }
        }
        return nil
    }

    public func detect(path: String, contents: [UInt8]) throws -> DetectorResult {
        if path.hasPrefix("var/lib/dpkg/info/") {
            // A package's file list: "/usr/bin/python3.11", one a line.
            let owned = String(decoding: contents, as: UTF8.self).linesTrimmingCR.compactMap { line -> String? in
                guard let normalized = TarPath.normalize(String(line.drop { $0 == "/" })), RuntimeDetector.isCandidate(normalized) else { return nil }
                return normalized
            }
            return DetectorResult(ownedFiles: owned.isEmpty ? nil : owned)
        }
        let statusDir = path.hasPrefix("var/lib/dpkg/status.d/")
        var packages: [InstalledPackage] = []
        for stanza in Stanzas.parse(String(decoding: contents, as: UTF8.self)) {
            guard let name = stanza["Package"], let version = stanza["Version"] else { continue }
            // status.d stanzas carry no Status field: each file is one installed package.
            if let status = stanza["Status"] {
                // want ("install", "hold", …) aside, the package must be fully installed.
                let words = status.split(separator: " ")
                guard words.count == 3, words[1] == "ok", words[2] == "installed" else { continue }
            } else if !statusDir {
                continue
            }
            var sourceName: String?
            var sourceVersion: String?
            if let source = stanza["Source"] {
                // "Source: name (version)" when the source version differs from the binary's.
                let parts = source.split(separator: " ", maxSplits: 1)
                if let first = parts.first { sourceName = String(first) }
                if parts.count == 2 {
                    let rest = parts[1].trimmed
                    if rest.hasPrefix("(") && rest.hasSuffix(")") { sourceVersion = String(rest.dropFirst().dropLast()) }
                }
                if sourceVersion == nil { sourceVersion = version }
            }
            let arch = stanza["Architecture"]
            var package = InstalledPackage(
                name: name, version: version, type: .deb, purl: "", path: path,
                sourceName: sourceName, sourceVersion: sourceVersion)
            package.purl = PackageURL.osPackage(package, os: nil, arch: arch)
            packages.append(package)
        }
        return DetectorResult(packages: packages)
    }
}

/// apk: `lib/apk/db/installed` (`P:` name, `V:` version, `A:` arch, `o:` origin).
public struct ApkDetector: PackageDetector {
    public init() {}
    public var name: String { "apk" }

    public func interest(in path: String, size: Int64, executable: Bool) -> FileInterest? {
        path == "lib/apk/db/installed" ? .metadata : nil
    }

    public func detect(path: String, contents: [UInt8]) throws -> DetectorResult {
        var packages: [InstalledPackage] = []
        var fields: [Character: String] = [:]
        var owned: [String] = []
        var directory = ""
        func flush() {
            if let name = fields["P"], let version = fields["V"] {
                let origin = fields["o"]
                var package = InstalledPackage(
                    name: name, version: version, type: .apk, purl: "", path: path,
                    sourceName: origin, sourceVersion: origin == nil ? nil : version)
                package.purl = PackageURL.osPackage(package, os: nil, arch: fields["A"])
                packages.append(package)
            }
            fields = [:]
        }
        for line in String(decoding: contents, as: UTF8.self).linesTrimmingCR {
            if line.isEmpty {
                flush()
                continue
            }
            guard line.count >= 2, let key = line.first, line.dropFirst().first == ":" else { continue }
            if key == "F" {
                directory = String(line.dropFirst(2))
            } else if key == "R", let normalized = TarPath.normalize(TarPath.join(directory, line.dropFirst(2))),
                RuntimeDetector.isCandidate(normalized)
            {
                owned.append(normalized)
            }
            if fields[key] == nil { fields[key] = String(line.dropFirst(2)) }
        }
        flush()
        return DetectorResult(packages: packages, ownedFiles: owned.isEmpty ? nil : owned)
    }
}
