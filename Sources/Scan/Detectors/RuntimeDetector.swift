import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Runtimes installed outside any package manager (CPython, Node.js, Ruby, PHP, nginx, Apache
/// httpd, Redis, PostgreSQL built or unpacked into `/usr/local` or `/opt`), identified from
/// their own files: a version string searched for while the tar entry streams (never a whole
/// binary in memory), or a small marker file (an OpenJDK `release` file, Go's `VERSION`).
/// Only candidate paths (file names that can hold a runtime) are searched.
public enum RuntimeDetector {
    public static let name = "runtime"

    /// How a runtime's version is read from a file.
    enum Rule: Sendable {
        /// A streaming search for `anchors`, the version read from the bytes after one.
        case versionString(runtime: String, anchors: [[UInt8]], parse: @Sendable (UnsafeRawBufferPointer) -> String?)
        /// A small text file, read whole (up to `markerFileBytes`) and parsed at the end.
        case marker(parse: @Sendable (String, String) -> InstalledPackage?)
    }

    /// The most of a marker file that is read.
    static let markerFileBytes = 64 << 10
    /// Bytes of a candidate searched at most; beyond this the search stops with a note.
    static let maxSearchedBytes: Int64 = 512 << 20

    /// Whether `path` could hold a runtime; cheap (called for every file entry of every layer).
    public static func isCandidate(_ path: String) -> Bool { rule(for: path) != nil }

    static func rule(for path: String) -> Rule? {
        let base = TarPath.basename(path)
        guard let first = base.utf8.first else { return nil }
        switch first {
        case UInt8(ascii: "l"):
            if base.hasPrefix("libpython3."), base.contains(".so"), let minor = pythonMinor(base.dropFirst("libpython3.".count)) {
                return python(minor: minor)
            }
            if base.hasPrefix("libruby"), base.contains(".so") { return ruby }
            if base.hasPrefix("libphp"), base.hasSuffix(".so") { return php }
        case UInt8(ascii: "p"):
            if base.hasPrefix("python3."), let minor = pythonMinor(base.dropFirst("python3.".count)),
                base.utf8.allSatisfy({ $0 != UInt8(ascii: "-") })
            {
                return python(minor: minor)
            }
            if ["php", "php-fpm", "php-cgi"].contains(base) || isVersioned(base, prefix: "php")
                || isVersioned(base, prefix: "php-fpm")
            {
                return php
            }
            if base == "postgres" { return postgres }
        case UInt8(ascii: "n"):
            if base == "node" { return node }
            if base == "nginx" { return nginx }
        case UInt8(ascii: "r"):
            if base == "ruby" || isVersioned(base, prefix: "ruby") { return ruby }
            if base == "redis-server" { return redis }
            if base == "release", isJavaHome(TarPath.parent(path)) { return .marker(parse: javaRelease) }
        case UInt8(ascii: "h"):
            if base == "httpd" { return httpd }
        case UInt8(ascii: "a"):
            if base == "apache2" { return httpd }
        case UInt8(ascii: "V"):
            if base == "VERSION", TarPath.basename(TarPath.parent(path)) == "go" { return .marker(parse: goVersion) }
        default:
            break
        }
        return nil
    }

    /// `8.so.1.0` / `11` / `7m` → 8 / 11 / 7 (the minor version a file name gives).
    private static func pythonMinor(_ rest: Substring) -> Int? {
        let digits = rest.prefix { $0.isASCII && $0.isNumber }
        guard !digits.isEmpty, digits.count <= 3, let minor = Int(digits) else { return nil }
        let after = rest.dropFirst(digits.count)
        guard after.isEmpty || after.hasPrefix(".") || after.hasPrefix("m") || after.hasPrefix("d") else { return nil }
        return minor
    }

    /// `php8.2`, `ruby3.1`: the name then a version.
    private static func isVersioned(_ base: Substring, prefix: String) -> Bool {
        guard base.hasPrefix(prefix) else { return false }
        let rest = base.dropFirst(prefix.count)
        return !rest.isEmpty && rest.allSatisfy { ($0.isASCII && $0.isNumber) || $0 == "." }
    }

    private static func isJavaHome(_ directory: String) -> Bool {
        let lower = directory.lowercased()
        return ["jvm", "jdk", "jre", "java", "openjdk", "temurin", "corretto", "zulu"].contains { lower.contains($0) }
    }

    // MARK: Version parsing from the bytes after an anchor

    /// Reads `X.Y.Z` (`minParts`…3 numeric parts) at the start of `bytes`; nil if there is none
    /// or if a digit or dot follows immediately (a longer number is not this version).
    static func dottedVersion(_ bytes: UnsafeRawBufferPointer, minParts: Int = 3, maxParts: Int = 3) -> (String, Int)? {
        var parts: [String] = []
        var index = 0
        while parts.count < maxParts {
            var digits = ""
            while index < bytes.count, (0x30...0x39).contains(bytes[index]), digits.count < 6 {
                digits.unicodeScalars.append(UnicodeScalar(bytes[index]))
                index += 1
            }
            guard !digits.isEmpty else { break }
            parts.append(digits)
            if parts.count < maxParts, index + 1 < bytes.count, bytes[index] == UInt8(ascii: "."),
                (0x30...0x39).contains(bytes[index + 1])
            {
                index += 1
            } else {
                break
            }
        }
        guard parts.count >= minParts else { return nil }
        if index < bytes.count, (0x30...0x39).contains(bytes[index]) { return nil }
        return (parts.joined(separator: "."), index)
    }

    private static func versionString(
        _ runtime: String, _ anchors: [String], minParts: Int = 3, terminators: Set<UInt8>? = nil
    ) -> Rule {
        .versionString(runtime: runtime, anchors: anchors.map { Array($0.utf8) }) { bytes in
            guard let (version, end) = dottedVersion(bytes, minParts: minParts) else { return nil }
            if let terminators, end < bytes.count, !terminators.contains(bytes[end]) { return nil }
            return version
        }
    }

    /// CPython keeps `PY_VERSION` ("3.8.18", "3.13.0rc1") as a NUL-terminated string (the linker
    /// may merge it into the tail of a longer string, so only the end is anchored).
    private static func python(minor: Int) -> Rule {
        .versionString(runtime: "python", anchors: [Array("3.\(minor).".utf8)]) { bytes in
            var index = 0
            var micro = ""
            while index < bytes.count, (0x30...0x39).contains(bytes[index]), micro.count < 4 {
                micro.unicodeScalars.append(UnicodeScalar(bytes[index]))
                index += 1
            }
            guard !micro.isEmpty else { return nil }
            var suffix = ""
            while index < bytes.count, suffix.count < 6,
                (0x61...0x7A).contains(bytes[index]) || (0x30...0x39).contains(bytes[index]) || bytes[index] == UInt8(ascii: "+")
            {
                suffix.unicodeScalars.append(UnicodeScalar(bytes[index]))
                index += 1
            }
            guard index < bytes.count, bytes[index] == 0 else { return nil }
            if !suffix.isEmpty, !["a", "b", "rc", "+"].contains(where: { suffix.hasPrefix($0) }) { return nil }
            return "3.\(minor).\(micro)\(suffix)"
        }
    }

    private static let node = versionString("node", ["node.js/v"])
    /// `RUBY_DESCRIPTION`: "ruby 3.1.2p20 (2022-04-12 revision …)".
    private static let ruby = versionString("ruby", ["ruby "], terminators: [UInt8(ascii: "p"), UInt8(ascii: " ")])
    private static let php = versionString("php", ["X-Powered-By: PHP/"])
    private static let nginx = versionString("nginx", ["nginx version: nginx/", "\0nginx/"])
    private static let httpd = versionString("httpd", ["Apache/"], terminators: [0, UInt8(ascii: " ")])
    /// "postgres (PostgreSQL) 15.5" (the `--version` text); 10 and later have two parts.
    private static let postgres = versionString("postgresql", ["(PostgreSQL) "], minParts: 2)
    /// `REDIS_VERSION`, NUL-terminated on both sides.
    private static let redis = versionString("redis", ["\0"], terminators: [0])

    // MARK: Marker files

    /// An OpenJDK-style `release` file: `JAVA_VERSION="17.0.15"`, `IMPLEMENTOR="Eclipse Adoptium"`.
    @Sendable static func javaRelease(path: String, text: String) -> InstalledPackage? {
        var fields: [String: String] = [:]
        for line in text.linesTrimmingCR {
            guard let equals = line.firstIndex(of: "=") else { continue }
            var value = line[line.index(after: equals)...].trimmed
            if value.count >= 2, value.first == "\"", value.last == "\"" { value = value.dropFirst().dropLast() }
            fields[String(line[..<equals].trimmed)] = String(value)
        }
        guard let version = fields["JAVA_VERSION"], !version.isEmpty,
            version.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == "." || $0 == "_" || $0 == "-" || $0 == "+") })
        else { return nil }
        let implementor = fields["IMPLEMENTOR"].map { " (IMPLEMENTOR=\($0))" } ?? ""
        return package("openjdk", version: version, path: path, evidence: "release file JAVA_VERSION\(implementor)")
    }

    /// Go's `VERSION` file: first line `go1.21.5`.
    @Sendable static func goVersion(path: String, text: String) -> InstalledPackage? {
        guard let line = text.linesTrimmingCR.first, line.hasPrefix("go") else { return nil }
        let version = line.dropFirst(2)
        guard let first = version.first, first.isNumber,
            version.allSatisfy({ $0.isASCII && ($0.isNumber || $0.isLetter || $0 == ".") })
        else { return nil }
        return package("go", version: String(version), path: path, evidence: "VERSION file")
    }

    // MARK: Packages

    /// NVD's vendor:product pairs per runtime.
    static let cpeProducts: [String: [(String, String)]] = [
        "python": [("python", "python")],
        "node": [("nodejs", "node.js")],
        "openjdk": [("oracle", "openjdk")],
        "ruby": [("ruby-lang", "ruby")],
        "php": [("php", "php")],
        "go": [("golang", "go")],
        "nginx": [("f5", "nginx"), ("nginx", "nginx")],
        "httpd": [("apache", "http_server")],
        "redis": [("redis", "redis")],
        "postgresql": [("postgresql", "postgresql")],
    ]

    static func package(_ name: String, version: String, path: String, evidence: String) -> InstalledPackage {
        let cpes = (cpeProducts[name] ?? []).map { vendor, product in
            "cpe:2.3:a:\(vendor):\(product):\(cpeEscape(version)):*:*:*:*:*:*:*"
        }
        return InstalledPackage(
            name: name, version: version, type: .binary,
            purl: "pkg:generic/\(name)@\(PackageURL.encode(version, keepColon: false))", path: path,
            cpes: cpes.isEmpty ? nil : cpes, evidence: evidence)
    }

    /// CPE 2.3 formatted-string escaping of a version (`+` and other punctuation get a backslash).
    static func cpeEscape(_ value: String) -> String {
        var out = ""
        for character in value {
            if character.isASCII, character.isLetter || character.isNumber || character == "." || character == "_" || character == "-" {
                out.append(character)
            } else {
                out.append("\\")
                out.append(character)
            }
        }
        return out
    }
}

/// The search of one candidate file while its tar entry streams: a bounded window carried
/// across chunk boundaries, so no anchor or version is missed where a chunk ends.
struct RuntimeScan {
    let path: String
    let rule: RuntimeDetector.Rule
    /// The last bytes of the previous chunk (at most `keep`), or a marker file's head.
    private var window: [UInt8] = []
    private let keep: Int
    private(set) var searched: Int64 = 0
    private(set) var found: InstalledPackage?
    private(set) var gaveUp = false
    /// Bytes after an anchor a version may need.
    private static let versionBytes = 40

    init(path: String, rule: RuntimeDetector.Rule) {
        self.path = path
        self.rule = rule
        switch rule {
        case .versionString(_, let anchors, _):
            keep = (anchors.map(\.count).max() ?? 1) + Self.versionBytes - 1
        case .marker:
            keep = 0
        }
    }

    var done: Bool { found != nil || gaveUp }

    mutating func feed(_ bytes: UnsafeRawBufferPointer) {
        guard !done else { return }
        searched += Int64(bytes.count)
        switch rule {
        case .marker:
            let take = min(bytes.count, RuntimeDetector.markerFileBytes - window.count)
            if take > 0 { window.append(contentsOf: bytes[0..<take]) }
        case .versionString(let runtime, let anchors, let parse):
            if searched > RuntimeDetector.maxSearchedBytes {
                gaveUp = true
                return
            }
            // The unsearched tail of the previous chunk, then this chunk (candidate files only).
            var combined = window
            combined.append(contentsOf: bytes)
            combined.withUnsafeBytes { search($0, final: false, runtime: runtime, anchors: anchors, parse: parse) }
            if !done { window = Array(combined.suffix(keep)) }
        }
    }

    /// The entry ended: search what is left and parse a marker file.
    mutating func finish() -> InstalledPackage? {
        switch rule {
        case .marker(let parse):
            found = parse(path, String(decoding: window, as: UTF8.self))
        case .versionString(let runtime, let anchors, let parse):
            if !done {
                let rest = window
                rest.withUnsafeBytes { search($0, final: true, runtime: runtime, anchors: anchors, parse: parse) }
            }
        }
        window = []
        return found
    }

    /// The first position at or after `from` where `needle` starts (memchr for its first byte, then memcmp).
    private static func find(_ needle: [UInt8], in base: UnsafeRawPointer, from: Int, count: Int) -> Int? {
        guard let first = needle.first else { return nil }
        var start = from
        while count - start >= needle.count {
            guard let hit = memchr(base + start, Int32(first), count - start - needle.count + 1) else { return nil }
            let position = base.distance(to: UnsafeRawPointer(hit))
            let same = needle.withUnsafeBytes { memcmp(base + position, $0.baseAddress!, needle.count) == 0 }
            if same { return position }
            start = position + 1
        }
        return nil
    }

    /// Searches anchors starting at positions whose version bytes are all in `bytes` (every
    /// position when `final`); the rest stay in the window for the next chunk.
    private mutating func search(
        _ bytes: UnsafeRawBufferPointer, final: Bool, runtime: String, anchors: [[UInt8]],
        parse: (UnsafeRawBufferPointer) -> String?
    ) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        for anchor in anchors {
            let limit = final ? bytes.count : bytes.count - keep
            guard limit > 0 else { continue }
            var start = 0
            while start < limit {
                guard let position = Self.find(anchor, in: base, from: start, count: bytes.count) else { break }
                guard position < limit else { break }
                let after = position + anchor.count
                let tail = UnsafeRawBufferPointer(rebasing: bytes[after..<min(bytes.count, after + Self.versionBytes)])
                if let version = parse(tail) {
                    let text = String(decoding: anchor, as: UTF8.self).replacingOccurrences(of: "\0", with: "\\0")
                    self.found = RuntimeDetector.package(
                        runtime, version: version, path: path, evidence: "version string \"\(text)\(version)\" in \(path)")
                    return
                }
                start = position + 1
            }
        }
    }
}
