import Foundation

/// A RubyGems version ordered like `Gem::Version#<=>`: numeric and alphabetic segments,
/// any letter makes a pre-release (`1.0.a1 < 1.0`), trailing zeros of the release and of
/// the pre-release parts are ignored, a `-` means `.pre.`.
public struct GemVersion: Sendable, Hashable, Comparable, CustomStringConvertible {
    enum Segment: Hashable, Sendable {
        case number(String)
        case word(String)
    }

    public let description: String
    let segments: [Segment]

    /// Parses a version; nil when `Gem::Version.correct?` is false.
    public init?(_ text: String) {
        let t = String(text.trimmingWhitespace())
        let b = Array(t.utf8)
        guard let f = b.first, isDigit(f) else { return nil }
        // [0-9]+(\.[0-9a-zA-Z]+)*(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?
        var i = 0
        while i < b.count && isDigit(b[i]) { i += 1 }
        while i < b.count && b[i] == UInt8(ascii: ".") {
            let s = i + 1
            i = s
            while i < b.count && isAlnum(b[i]) { i += 1 }
            guard i > s else { return nil }
        }
        if i < b.count && b[i] == UInt8(ascii: "-") {
            repeat {
                let s = i + 1
                i = s
                while i < b.count && (isAlnum(b[i]) || b[i] == UInt8(ascii: "-")) { i += 1 }
                guard i > s else { return nil }
            } while i < b.count && b[i] == UInt8(ascii: ".")
        }
        guard i == b.count else { return nil }
        description = t
        let norm = Array(t.replacingOccurrences(of: "-", with: ".pre.").utf8)
        var segs: [Segment] = []
        var j = 0
        while j < norm.count {
            if isDigit(norm[j]) {
                let s = j
                while j < norm.count && isDigit(norm[j]) { j += 1 }
                let d = norm[s..<j].drop { $0 == UInt8(ascii: "0") }
                segs.append(.number(String(decoding: d, as: UTF8.self)))
            } else if isAlpha(norm[j]) {
                let s = j
                while j < norm.count && isAlpha(norm[j]) { j += 1 }
                segs.append(.word(String(decoding: norm[s..<j], as: UTF8.self)))
            } else {
                j += 1
            }
        }
        // Canonical: trailing zeros dropped from the numeric part and the rest.
        let firstWord = segs.firstIndex { if case .word = $0 { true } else { false } } ?? segs.count
        var release = Array(segs[..<firstWord])
        var pre = Array(segs[firstWord...])
        while release.last == .number("") { release.removeLast() }
        while pre.last == .number("") { pre.removeLast() }
        segments = release + pre
    }

    public static func == (l: GemVersion, r: GemVersion) -> Bool { compare(l, r) == 0 }
    public static func < (l: GemVersion, r: GemVersion) -> Bool { compare(l, r) < 0 }
    public func hash(into hasher: inout Hasher) { hasher.combine(segments) }

    static func compare(_ a: GemVersion, _ b: GemVersion) -> Int {
        let n = max(a.segments.count, b.segments.count)
        for i in 0..<n {
            let x = i < a.segments.count ? a.segments[i] : .number("")
            let y = i < b.segments.count ? b.segments[i] : .number("")
            switch (x, y) {
            case let (.number(p), .number(q)):
                let c = compareDigits(p.utf8, q.utf8)
                if c != 0 { return c }
            case let (.word(p), .word(q)):
                let c = bytewise(p, q)
                if c != 0 { return c }
            case (.word, .number): return -1
            case (.number, .word): return 1
            }
        }
        return 0
    }
}
