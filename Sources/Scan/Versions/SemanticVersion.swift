/// A Semantic Versioning 2.0 version, optionally prefixed with `v` (npm, Go modules,
/// crates.io). Go pseudo-versions (`v0.0.0-20210101000000-abcdef123456`) are ordinary
/// pre-releases and order correctly.
public struct SemanticVersion: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Major, minor, patch as digit strings without leading zeros.
    public let core: [String]
    public let prerelease: [String]
    public let build: [String]
    /// True when the text needed coercion (missing components, leading zeros).
    public let coerced: Bool

    /// Strict SemVer 2.0 (after an optional `v`).
    public init?(_ text: String) {
        guard let v = Self.parse(text, lenient: false) else { return nil }
        self = v
    }

    /// Also accepts `1`, `1.2`, leading zeros and surrounding whitespace, as OSV's
    /// SEMVER ranges do in practice.
    public init?(lenient text: String) {
        guard let v = Self.parse(text, lenient: true) else { return nil }
        self = v
    }

    private init(core: [String], prerelease: [String], build: [String], coerced: Bool) {
        self.core = core
        self.prerelease = prerelease
        self.build = build
        self.coerced = coerced
    }

    public var description: String {
        core.joined(separator: ".") + (prerelease.isEmpty ? "" : "-" + prerelease.joined(separator: "."))
            + (build.isEmpty ? "" : "+" + build.joined(separator: "."))
    }

    static func parse(_ text: String, lenient: Bool) -> SemanticVersion? {
        var s = Substring(text)
        if lenient { s = Substring(s.trimmingWhitespace()) }
        if s.first == "v" || s.first == "V" { s = s.dropFirst() }
        var build: [String] = []
        if let plus = s.firstIndex(of: "+") {
            let b = s[s.index(after: plus)...]
            build = b.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            guard build.allSatisfy({ !$0.isEmpty && $0.utf8.allSatisfy(isIdentChar) }) else { return nil }
            s = s[..<plus]
        }
        var pre: [String] = []
        if let dash = s.firstIndex(of: "-") {
            let p = s[s.index(after: dash)...]
            pre = p.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            guard pre.allSatisfy({ !$0.isEmpty && $0.utf8.allSatisfy(isIdentChar) }) else { return nil }
            if !lenient {
                for id in pre where id.count > 1 && id.utf8.allSatisfy(isDigit) && id.hasPrefix("0") { return nil }
            }
            s = s[..<dash]
        }
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3 || (lenient && (1...3).contains(parts.count)) else { return nil }
        var core: [String] = []
        var coerced = parts.count != 3
        for part in parts {
            guard !part.isEmpty, part.utf8.allSatisfy(isDigit) else { return nil }
            if part.count > 1 && part.hasPrefix("0") {
                guard lenient else { return nil }
                coerced = true
            }
            let d = part.utf8.drop { $0 == UInt8(ascii: "0") }
            core.append(d.isEmpty ? "0" : String(decoding: d, as: UTF8.self))
        }
        while core.count < 3 { core.append("0") }
        return SemanticVersion(core: core, prerelease: pre, build: build, coerced: coerced)
    }

    public static func == (l: SemanticVersion, r: SemanticVersion) -> Bool { compare(l, r) == 0 }
    public static func < (l: SemanticVersion, r: SemanticVersion) -> Bool { compare(l, r) < 0 }
    public func hash(into hasher: inout Hasher) {
        hasher.combine(core)
        hasher.combine(prerelease)
    }

    /// SemVer precedence (§11); build metadata is ignored.
    static func compare(_ a: SemanticVersion, _ b: SemanticVersion) -> Int {
        for (x, y) in zip(a.core, b.core) {
            let c = compareDigits(x.utf8, y.utf8)
            if c != 0 { return c }
        }
        switch (a.prerelease.isEmpty, b.prerelease.isEmpty) {
        case (true, true): return 0
        case (true, false): return 1
        case (false, true): return -1
        case (false, false): break
        }
        for (x, y) in zip(a.prerelease, b.prerelease) {
            let nx = x.utf8.allSatisfy(isDigit), ny = y.utf8.allSatisfy(isDigit)
            if nx != ny { return nx ? -1 : 1 }
            let c = nx ? compareDigits(x.utf8, y.utf8) : bytewise(x, y)
            if c != 0 { return c }
        }
        return a.prerelease.count == b.prerelease.count ? 0 : (a.prerelease.count < b.prerelease.count ? -1 : 1)
    }
}

@inline(__always) func isIdentChar(_ c: UInt8) -> Bool { isAlnum(c) || c == UInt8(ascii: "-") }

extension StringProtocol {
    func trimmingWhitespace() -> SubSequence {
        var s = self[...]
        while let f = s.first, f.isWhitespace { s = s.dropFirst() }
        while let l = s.last, l.isWhitespace { s = s.dropLast() }
        return s
    }
}
