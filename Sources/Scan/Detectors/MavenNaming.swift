/// How a Java archive without `pom.properties` gets its Maven coordinates: from the `pom.xml`
/// under `META-INF/maven/`, else the MANIFEST, else the file name. Names are tokens (no
/// whitespace or control characters), so a purl name never holds a space.
enum MavenNaming {
    struct Coordinates: Sendable, Hashable {
        var group: String
        var artifact: String
        var version: String?
    }

    struct Stem: Sendable, Hashable {
        var artifact: String
        var version: String?
    }

    /// A Maven group, artifact or version: printable ASCII without whitespace, `/`, `:`, `@`,
    /// `?` or `#` (the separators of `group:artifact` and of a purl), at most 200 characters.
    static func isToken(_ text: some StringProtocol) -> Bool {
        !text.isEmpty && text.utf8.count <= 200
            && text.utf8.allSatisfy { byte in byte > 0x20 && byte < 0x7F && !"/:@?#\\\"'<>".utf8.contains(byte) }
    }

    // MARK: File name

    /// `mongodb-driver-3.6.3.jar` → `mongodb-driver` 3.6.3; `guava.jar` → `guava`, no version.
    /// The version starts at the first `-` followed by a digit (of the last path component,
    /// nested archives included).
    static func fileStem(_ path: String) -> Stem? {
        let last = path.split(separator: "/").last.map(String.init) ?? path
        guard let dot = last.lastIndex(of: ".") else { return nil }
        let stem = last[..<dot]
        var index = stem.startIndex
        while let dash = stem[index...].firstIndex(of: "-") {
            let next = stem.index(after: dash)
            if next < stem.endIndex, stem[next].isASCII, stem[next].isNumber {
                let artifact = String(stem[..<dash])
                let version = String(stem[next...])
                return isToken(artifact) ? Stem(artifact: artifact, version: isToken(version) ? version : nil) : nil
            }
            index = next
        }
        return isToken(stem) ? Stem(artifact: String(stem), version: nil) : nil
    }

    // MARK: MANIFEST.MF

    static func manifestVersion(_ manifest: [String: String]) -> String? {
        for key in ["Implementation-Version", "Bundle-Version"] {
            if let value = manifest[key], isToken(value) { return value }
        }
        return nil
    }

    /// Group and artifact from the MANIFEST. With a `Bundle-SymbolicName` (`org.mongodb.bson`,
    /// `org.mongodb.driver-async`), the shortest dotted suffix that an artifact candidate (the
    /// file name's, `Bundle-Name`, `Implementation-Title`, when they are tokens) ends with, or
    /// failing that contains, splits it: the candidate is the artifact, the rest the group
    /// (`org.mongodb` + `mongodb-driver-async`); with no candidate, the last segment is the
    /// artifact; a candidate that is the whole symbolic name with `-` for `.` (`jcl.over.slf4j`)
    /// has no group there, only `Implementation-Vendor-Id`. Without a symbolic name,
    /// `Implementation-Vendor-Id` is the group of the candidate.
    /// nil when the MANIFEST has no version or no name.
    static func fromManifest(_ manifest: [String: String], fileStem stem: Stem?) -> Coordinates? {
        guard let version = manifestVersion(manifest) else { return nil }
        var candidates: [String] = []
        for candidate in [stem?.artifact, manifest["Bundle-Name"], manifest["Implementation-Title"]] {
            if let candidate, isToken(candidate), !candidates.contains(candidate) { candidates.append(candidate) }
        }
        let vendor = manifest["Implementation-Vendor-Id"].flatMap { isToken($0) ? $0 : nil }
        let symbolic = manifest["Bundle-SymbolicName"].map { String($0.prefix { $0 != ";" }).filter { $0 != " " && $0 != "\t" } }
        if let symbolic, isToken(symbolic) {
            let segments = symbolic.split(separator: ".", omittingEmptySubsequences: false)
            if segments.count >= 2, !segments.contains(where: \.isEmpty) {
                // `jcl.over.slf4j` for `jcl-over-slf4j.jar`: the symbolic name is the artifact
                // with dots, it holds no group.
                let whole = segments.joined(separator: "-")
                if let candidate = candidates.first(where: { $0 == whole }) {
                    return Coordinates(group: vendor ?? "", artifact: candidate, version: version)
                }
                for contains in [false, true] {
                    for length in 1..<segments.count {
                        let suffix = segments.suffix(length).joined(separator: "-")
                        let group = segments.prefix(segments.count - length).joined(separator: ".")
                        for candidate in candidates {
                            let fits = contains ? candidate.contains(suffix) : (candidate == suffix || candidate.hasSuffix("-" + suffix))
                            if fits { return Coordinates(group: group, artifact: candidate, version: version) }
                        }
                    }
                }
                return Coordinates(
                    group: segments.dropLast().joined(separator: "."), artifact: String(segments.last!), version: version)
            }
            return Coordinates(group: vendor ?? "", artifact: candidates.first ?? symbolic, version: version)
        }
        // No symbolic name: the title (a token) or the file name's artifact, under the vendor id.
        let title = manifest["Implementation-Title"].flatMap { isToken($0) ? $0 : nil }
        if let vendor, let artifact = title ?? stem?.artifact {
            return Coordinates(group: vendor, artifact: artifact, version: version)
        }
        if let title { return Coordinates(group: "", artifact: title, version: version) }
        return nil
    }

    // MARK: pom.xml

    enum PomError: Error, CustomStringConvertible {
        case malformed(String)
        var description: String {
            switch self {
            case .malformed(let why): "pom.xml not used: \(why)"
            }
        }
    }

    static let maxElementDepth = 64

    /// The project's `groupId` (or its parent's), `artifactId` and `version` (or its parent's).
    /// A version that is a property reference other than the project's or parent's version is
    /// nil (the caller takes the MANIFEST's). `directory` is `<group>/<artifact>` of the entry's
    /// path, used when the file leaves the group or artifact out. No entity, DTD or
    /// external reference is ever resolved.
    static func pomXML(_ text: String, directory: Substring) -> Result<Coordinates, PomError> {
        var values: [String: String] = [:]
        var stack: [Substring] = []
        var textStart: String.Index?
        var index = text.startIndex
        while let open = text[index...].firstIndex(of: "<") {
            if let start = textStart, !stack.isEmpty {
                let key = stack.joined(separator: "/")
                if ["project/groupId", "project/artifactId", "project/version", "project/parent/groupId",
                    "project/parent/version"].contains(key), values[key] == nil
                {
                    values[key] = unescape(text[start..<open]).trimmingWhitespace
                }
            }
            textStart = nil
            let rest = text[open...]
            if rest.hasPrefix("<!--") {
                guard let end = rest.firstRange(of: "-->") else { return .failure(.malformed("unterminated comment")) }
                index = end.upperBound
                continue
            }
            if rest.hasPrefix("<?") {
                guard let end = rest.firstRange(of: "?>") else { return .failure(.malformed("unterminated declaration")) }
                index = end.upperBound
                continue
            }
            if rest.hasPrefix("<!") {
                if rest.hasPrefix("<!DOCTYPE") { return .failure(.malformed("a DOCTYPE (entities are never expanded)")) }
                return .failure(.malformed("CDATA or a declaration where a Maven value is expected"))
            }
            guard let close = rest.firstIndex(of: ">") else { return .failure(.malformed("unterminated tag")) }
            let tag = rest[rest.index(after: open)..<close]
            index = rest.index(after: close)
            if tag.hasPrefix("/") {
                let name = localName(tag.dropFirst())
                guard stack.last == name else { return .failure(.malformed("mismatched </\(name.prefix(40))>")) }
                stack.removeLast()
                if stack.isEmpty { break }
            } else if tag.hasSuffix("/") {
                continue
            } else {
                stack.append(localName(tag))
                guard stack.count <= maxElementDepth else { return .failure(.malformed("elements nested too deep")) }
                textStart = index
            }
        }
        let parts = directory.split(separator: "/")
        guard let group = nonEmpty(values["project/groupId"]) ?? nonEmpty(values["project/parent/groupId"]) ?? parts.first.map(String.init),
            let artifact = nonEmpty(values["project/artifactId"]) ?? (parts.count == 2 ? String(parts[1]) : nil)
        else { return .failure(.malformed("no groupId/artifactId")) }
        var version = nonEmpty(values["project/version"]) ?? nonEmpty(values["project/parent/version"])
        if let reference = version, reference.contains("${") {
            switch reference {
            case "${project.version}", "${version}", "${pom.version}", "${project.parent.version}", "${parent.version}":
                version = nonEmpty(values["project/parent/version"]).flatMap { $0.contains("${") ? nil : $0 }
            default:
                version = nil
            }
        }
        guard !group.contains("${"), !artifact.contains("${") else { return .failure(.malformed("a property reference in groupId/artifactId")) }
        return .success(Coordinates(group: group, artifact: artifact, version: version))
    }

    private static func localName(_ tag: Substring) -> Substring {
        let name = tag.prefix { !$0.isWhitespace && $0 != "/" }
        if let colon = name.lastIndex(of: ":") { return name[name.index(after: colon)...] }
        return name
    }

    private static func nonEmpty(_ text: String?) -> String? {
        guard let text, !text.isEmpty else { return nil }
        return text
    }

    private static func unescape(_ text: Substring) -> String {
        guard text.contains("&") else { return String(text) }
        return String(text).replacing("&lt;", with: "<").replacing("&gt;", with: ">").replacing("&quot;", with: "\"")
            .replacing("&apos;", with: "'").replacing("&amp;", with: "&")
    }
}

extension String {
    fileprivate var trimmingWhitespace: String {
        String(self.drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed())
    }
}
