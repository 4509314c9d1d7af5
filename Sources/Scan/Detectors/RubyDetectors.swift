/// Ruby gems: every installed gemspec and every application's `Gemfile.lock`.
///
/// Gemspecs are read from any `specifications/` directory and its `default/` subdirectory:
/// rubygems' own (`/usr/lib/ruby/gems/3.1.0/specifications/`, `/usr/local/bundle/specifications/`,
/// `/var/lib/gems/*/specifications/`), Ruby's default gems (`…/specifications/default/`: `cgi`,
/// `uri`, `date`, `bundler`, …) and Debian's rubygems-integration directories
/// (`/usr/share/rubygems-integration/all/specifications/`,
/// `/usr/lib/<triplet>/rubygems-integration/<ruby>/specifications/`). Each file is one gem, so
/// two installed versions of one gem are two packages; dpkg owning the file does not matter
/// (gem advisories are keyed by gem name and version, which dpkg's records do not carry).
///
/// A gemspec is Ruby code. It is never evaluated: a bounded reader takes the literal string
/// assigned to `<var>.name` and `<var>.version` in the forms rubygems writes
/// (`s.name = "cgi".freeze`, `s.version = "0.3.5"`, `%q{…}`, `Gem::Version.new("…")`), and
/// falls back to the `# stub: NAME VERSION …` comment rubygems puts at the top.
public struct RubyGemDetector: PackageDetector {
    public init() {}
    public var name: String { "gem" }

    /// Lines of a gemspec read for `name`/`version` (rubygems writes them in the first ten).
    static let maxGemspecLines = 400

    public func interest(in path: String, size: Int64, executable: Bool) -> FileInterest? {
        // Every tar entry is asked: the cheap suffix test first.
        guard path.hasSuffix(".gemspec") || path.hasSuffix(".lock") || path.hasSuffix(".locked") else { return nil }
        let base = TarPath.basename(path)
        if base == "Gemfile.lock" || base == "gems.locked" { return .metadata }
        guard base.hasSuffix(".gemspec") else { return nil }
        let parent = TarPath.parent(path)
        let directory = TarPath.basename(parent)
        if directory == "specifications" { return .metadata }
        if directory == "default", TarPath.basename(TarPath.parent(parent)) == "specifications" { return .metadata }
        return nil
    }

    public func detect(path: String, contents: [UInt8]) throws -> DetectorResult {
        let base = TarPath.basename(path)
        if base == "Gemfile.lock" || base == "gems.locked" {
            return GemfileLock.detect(path: path, contents: contents)
        }
        let spec = try Self.parseGemspec(contents, path: path)
        let package = InstalledPackage(
            name: spec.name, version: spec.version, type: .gem,
            purl: PackageURL.make(type: "gem", name: spec.name, version: spec.version), path: path)
        return DetectorResult(packages: [package])
    }

    /// Name and version of a gemspec, or an error saying why not.
    static func parseGemspec(_ contents: [UInt8], path: String) throws -> (name: String, version: String) {
        var name: String?
        var version: String?
        var stub: (name: String, version: String)?
        var lines = 0
        for line in String(decoding: contents, as: UTF8.self).linesTrimmingCR {
            lines += 1
            if lines > maxGemspecLines { break }
            let line = line.trimmed
            if line.hasPrefix("#") {
                // `# stub: cgi 0.3.5 ruby lib`
                if stub == nil, line.hasPrefix("# stub: ") {
                    let fields = line.dropFirst("# stub: ".count).split(separator: " ")
                    if fields.count >= 2, isGemName(fields[0]), isGemVersion(fields[1]) {
                        stub = (String(fields[0]), String(fields[1]))
                    }
                }
                continue
            }
            if name == nil, let value = assignment(line, field: "name") { name = value }
            if version == nil, let value = assignment(line, field: "version") { version = value }
            if name != nil && version != nil { break }
        }
        if let name, let version {
            guard isGemName(name[...]) else { throw DetectorError("\(path): gem name \(quoted(name)) is not a gem name") }
            guard isGemVersion(version[...]) else {
                throw DetectorError("\(path): gem version \(quoted(version)) is not a gem version")
            }
            return (name, version)
        }
        if let stub { return stub }
        throw DetectorError("\(path): no literal name/version in the gemspec")
    }

    /// The literal string of `<identifier>.<field> = VALUE` where VALUE is `"…"`, `'…'`,
    /// `%q{…}` (or `%q(…)`, `%q[…]`, `%q<…>`), optionally wrapped in `Gem::Version.new(…)` and
    /// followed by `.freeze`. Anything else (interpolation, escapes, method calls) is not a literal.
    static func assignment(_ line: Substring, field: String) -> String? {
        guard let dot = line.firstIndex(of: ".") else { return nil }
        let receiver = line[..<dot]
        guard !receiver.isEmpty, receiver.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }), receiver.first?.isNumber == false
        else { return nil }
        let rest = line[line.index(after: dot)...]
        guard rest.hasPrefix(field) else { return nil }
        var value = rest.dropFirst(field.count).trimmed
        guard value.hasPrefix("="), !value.hasPrefix("==") else { return nil }
        value = value.dropFirst().trimmed
        if value.hasPrefix("Gem::Version.new(") {
            value = value.dropFirst("Gem::Version.new(".count).trimmed
        }
        let open: Character
        let close: Character
        if value.hasPrefix("%q") || value.hasPrefix("%Q") {
            value = value.dropFirst(2)
            guard let delimiter = value.first else { return nil }
            switch delimiter {
            case "{": (open, close) = ("{", "}")
            case "(": (open, close) = ("(", ")")
            case "[": (open, close) = ("[", "]")
            case "<": (open, close) = ("<", ">")
            default: return nil
            }
        } else if let quote = value.first, quote == "\"" || quote == "'" {
            (open, close) = (quote, quote)
        } else {
            return nil
        }
        let body = value.dropFirst()
        guard let end = body.firstIndex(of: close) else { return nil }
        let literal = body[..<end]
        if literal.contains("\\") || literal.contains("#{") || literal.contains(open) { return nil }
        return String(literal)
    }

    /// Gem names: letters, digits, `.`, `_`, `-` (rubygems' own rule).
    static func isGemName(_ text: Substring) -> Bool {
        !text.isEmpty && text.count <= 200
            && text.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "._-".unicodeScalars.contains($0)) }
    }

    /// Gem versions: a digit first, then letters, digits, `.`, `-` (Gem::Version's pattern).
    static func isGemVersion(_ text: Substring) -> Bool {
        guard let first = text.unicodeScalars.first, ("0"..."9").contains(first), text.count <= 100 else { return false }
        return text.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || ".-".unicodeScalars.contains($0)) }
    }

    static func quoted(_ text: String) -> String {
        "\"" + String(text.prefix(60)).replacing("\"", with: "\\\"") + "\""
    }
}

/// Bundler's lock file: the `specs:` of each `GEM` section (gems from a gem server, with their
/// resolved versions), one package each, located at the lock file. `PATH` and `GIT` sources
/// (an application's own or vendored gems, a git checkout) are not from a gem server and are
/// left out with a note, as are specs without a version. A lock file inside an installed gem's
/// own directory (`…/gems/<name>-<version>/Gemfile.lock`) is that gem's development lock, not
/// what is installed: it is skipped with a note.
enum GemfileLock {
    static func detect(path: String, contents: [UInt8]) -> DetectorResult {
        var result = DetectorResult()
        if let gem = installedGemDirectory(path) {
            result.notes.append("\(path): skipped: the development lock file of the installed gem \(gem), not what is installed")
            return result
        }
        var section = ""
        var inSpecs = false
        var otherSources: [String] = []
        var withoutVersion: [String] = []
        var rejected = 0
        for line in String(decoding: contents, as: UTF8.self).linesTrimmingCR {
            if line.isEmpty { continue }
            if line.first != " " {
                section = String(line)
                inSpecs = false
                continue
            }
            guard section == "GEM" || section == "PATH" || section == "GIT" || section == "PLUGIN SOURCE" else { continue }
            if line == "  specs:" {
                inSpecs = true
                continue
            }
            // Specs are indented by four spaces, their dependencies by six.
            guard inSpecs, line.hasPrefix("    "), !line.hasPrefix("     ") else { continue }
            let entry = line.dropFirst(4)
            let nameEnd = entry.firstIndex(of: " ") ?? entry.endIndex
            let name = entry[..<nameEnd]
            guard RubyGemDetector.isGemName(name) else {
                rejected += 1
                continue
            }
            guard section == "GEM" else {
                otherSources.append(String(name))
                continue
            }
            let rest = entry[nameEnd...].trimmed
            guard rest.hasPrefix("("), rest.hasSuffix(")") else {
                withoutVersion.append(String(name))
                continue
            }
            // `nokogiri (1.15.4-x86_64-linux)`: the version ends at the first `-`, the
            // platform follows (bundler's own reading).
            let inside = rest.dropFirst().dropLast()
            let version = inside.prefix { $0 != "-" }
            guard RubyGemDetector.isGemVersion(version) else {
                rejected += 1
                continue
            }
            result.packages.append(InstalledPackage(
                name: String(name), version: String(version), type: .gem,
                purl: PackageURL.make(type: "gem", name: String(name), version: String(version)), path: path))
        }
        if !otherSources.isEmpty {
            result.notes.append("\(path): \(otherSources.count) gem(s) from PATH/GIT sources not reported (not from a gem server): \(otherSources.prefix(10).joined(separator: ", "))")
        }
        if !withoutVersion.isEmpty {
            result.notes.append("\(path): \(withoutVersion.count) gem(s) without a version skipped: \(withoutVersion.prefix(10).joined(separator: ", "))")
        }
        if rejected > 0 {
            result.notes.append("\(path): \(rejected) spec line(s) that are not a gem name and version skipped")
        }
        return result
    }

    /// `<name>-<version>` when the lock file lies inside an installed gem's directory
    /// (`…/gems/<name>-<version>/…`).
    static func installedGemDirectory(_ path: String) -> String? {
        let parts = path.split(separator: "/")
        guard parts.count >= 3 else { return nil }
        for index in 0..<(parts.count - 2) where parts[index] == "gems" {
            let directory = parts[index + 1]
            // `rbs-2.1.0`, `nokogiri-1.15.4-x86_64-linux`: a dash followed by a version.
            let pieces = directory.split(separator: "-")
            if pieces.count >= 2, pieces.dropFirst().contains(where: { $0.first?.isNumber == true }) {
                return String(directory)
            }
        }
        return nil
    }
}
