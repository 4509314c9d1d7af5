/// A CPE 2.3 formatted string (`cpe:2.3:part:vendor:product:version:update:edition:language:
/// sw_edition:target_sw:target_hw:other`) split into its eleven attributes, backslash escapes
/// removed. `*` is ANY and `-` is NA, as the specification writes them.
public struct CPEName: Sendable, Hashable {
    /// `part`, `vendor`, `product`, `version`, `update`, `edition`, `language`, `sw_edition`,
    /// `target_sw`, `target_hw`, `other`, lower-cased (CPE matching ignores case).
    public var attributes: [String]

    public var part: String { attributes[0] }
    public var vendor: String { attributes[1] }
    public var product: String { attributes[2] }
    public var version: String { attributes[3] }

    public static let any = "*"
    public static let notApplicable = "-"

    /// Parses a formatted string; nil when it is not `cpe:2.3:` with 11 attributes.
    public init?(_ formatted: String) {
        guard formatted.hasPrefix("cpe:2.3:") else { return nil }
        var fields: [String] = []
        var current = ""
        var escaped = false
        for c in formatted.dropFirst("cpe:2.3:".count) {
            if escaped {
                current.append(c)
                escaped = false
            } else if c == "\\" {
                escaped = true
            } else if c == ":" {
                fields.append(current)
                current = ""
            } else {
                current.append(c)
            }
        }
        fields.append(current)
        guard fields.count == 11, !escaped, ["a", "o", "h", "*"].contains(fields[0].lowercased()) else { return nil }
        attributes = fields.map { $0.lowercased() }
    }

    /// Whether this name (a criterion of NVD's) covers `candidate` in every attribute but the
    /// version: ANY covers everything; NA covers NA and ANY; any other value only itself, so
    /// a criterion naming a target (`target_sw: windows`) does not cover a candidate that
    /// does not say it runs there.
    func coversAttributes(of candidate: CPEName, exceptVersion: Bool) -> Bool {
        for i in 0..<11 where !(exceptVersion && i == 3) {
            let c = attributes[i]
            if c == Self.any { continue }
            let v = candidate.attributes[i]
            if c == Self.notApplicable {
                if v != Self.notApplicable && v != Self.any { return false }
                continue
            }
            if c.contains("*") || c.contains("?") {
                if !Self.glob(c, matches: v) { return false }
            } else if c != v {
                return false
            }
        }
        return true
    }

    /// CPE 2.3's wildcards inside a value: `*` any run, `?` one character.
    static func glob(_ pattern: String, matches value: String) -> Bool {
        let p = Array(pattern), v = Array(value)
        var pi = 0, vi = 0, star = -1, mark = 0
        while vi < v.count {
            if pi < p.count && (p[pi] == "?" || p[pi] == v[vi]) {
                pi += 1; vi += 1
            } else if pi < p.count && p[pi] == "*" {
                star = pi; mark = vi; pi += 1
            } else if star >= 0 {
                pi = star + 1; mark += 1; vi = mark
            } else {
                return false
            }
        }
        while pi < p.count && p[pi] == "*" { pi += 1 }
        return pi == p.count
    }
}

/// How versions in NVD's CPE ranges compare: dot- and dash-separated runs, digits as numbers,
/// build metadata after `+` ignored (`17.0.9+9` is OpenJDK `17.0.9`), and a version that
/// continues with letters where the other ends is a pre-release of it (`3.8.0rc1` <
/// `3.8.0`, `1.2.0-beta` < `1.2.0`) while one that continues with a separator and digits is
/// later (`3.8.0.1` > `3.8.0`).
public enum CPEVersion {
    public static func compare(_ lhs: String, _ rhs: String) -> Int {
        let a = Array(core(lhs).utf8), b = Array(core(rhs).utf8)
        if a == b { return 0 }
        let n = min(a.count, b.count)
        // One is the other plus a suffix: decide by what the suffix starts with.
        if Array(a[0..<n]) == Array(b[0..<n]) {
            let longer = a.count > b.count ? a : b
            let sign = a.count > b.count ? 1 : -1
            let rest = longer[n...]
            guard let first = rest.first else { return 0 }
            if isPreRelease(rest, after: n > 0 ? longer[n - 1] : nil, first: first) { return -sign }
            return sign
        }
        return naturalCompare(a, b)
    }

    static func core(_ v: String) -> Substring {
        if let plus = v.firstIndex(of: "+") { return v[..<plus] }
        return v[...]
    }

    /// A suffix such as `rc1`, `b2`, `-beta`, `_alpha`, `.dev0`, `-rc.1`.
    static func isPreRelease(_ rest: ArraySlice<UInt8>, after previous: UInt8?, first: UInt8) -> Bool {
        var s = rest
        if first == UInt8(ascii: "-") || first == UInt8(ascii: "_") || first == UInt8(ascii: "~") || first == UInt8(ascii: ".") {
            s = s.dropFirst()
        } else if let previous, isAlpha(previous) {
            // `1.0a` vs `1.0ab`: inside a word, not a suffix.
            return false
        }
        guard let c = s.first else { return false }
        if first == UInt8(ascii: "~") { return true }
        guard isAlpha(c) else { return false }
        let word = String(decoding: s.prefix { isAlpha($0) }, as: UTF8.self).lowercased()
        return ["a", "b", "c", "rc", "alpha", "beta", "pre", "preview", "dev", "ea", "m", "cr", "snapshot"].contains(word)
    }
}
