import Foundation
import Store

/// Comma-separated tag globs (`*`, `?`, `[…]`, `[!…]`): a tag is scanned when it matches
/// an include pattern (default `*`) and no exclude pattern.
public struct TagFilter: Sendable, Hashable {
    public let include: [Glob]
    public let exclude: [Glob]

    public init(include: String?, exclude: String?) throws(GlobError) {
        self.include = try Self.parseList(include)
        self.exclude = try Self.parseList(exclude)
    }

    static func parseList(_ s: String?) throws(GlobError) -> [Glob] {
        guard let s, !s.trimmingCharacters(in: .whitespaces).isEmpty else { return [] }
        var out: [Glob] = []
        for part in s.split(separator: ",", omittingEmptySubsequences: false) {
            let p = part.trimmingCharacters(in: .whitespaces)
            guard !p.isEmpty else { throw GlobError(pattern: String(part), reason: "empty pattern") }
            out.append(try Glob(p))
        }
        return out
    }

    public func allows(_ tag: String) -> Bool {
        (include.isEmpty || include.contains { $0.matches(tag) }) && !exclude.contains { $0.matches(tag) }
    }
}

public struct GlobError: Error, CustomStringConvertible, Sendable {
    public var pattern: String
    public var reason: String
    public var description: String { "invalid glob pattern '\(pattern)': \(reason)" }
}

/// A shell-style glob over tag names.
public struct Glob: Sendable, Hashable {
    enum Token: Hashable {
        case literal(Character)
        case any
        case star
        case set([ClosedRange<Character>], negated: Bool)
    }

    let tokens: [Token]
    public let pattern: String

    /// A glob over tag names, or over repository paths with `repository` (which allows `/`;
    /// `*` then matches across it: `team/*` matches `team/a/b`).
    public init(_ pattern: String, repository: Bool = false) throws(GlobError) {
        self.pattern = pattern
        guard pattern.count <= 256 else { throw GlobError(pattern: pattern, reason: "longer than 256 characters") }
        var tokens: [Token] = []
        let chars = Array(pattern)
        var i = 0
        while i < chars.count {
            let c = chars[i]
            switch c {
            case "*":
                if tokens.last != .star { tokens.append(.star) }
            case "?": tokens.append(.any)
            case "[":
                var j = i + 1
                var negated = false
                if j < chars.count, chars[j] == "!" || chars[j] == "^" {
                    negated = true
                    j += 1
                }
                var ranges: [ClosedRange<Character>] = []
                var first = true
                while j < chars.count, chars[j] != "]" || first {
                    first = false
                    let lo = chars[j]
                    if j + 2 < chars.count, chars[j + 1] == "-", chars[j + 2] != "]" {
                        let hi = chars[j + 2]
                        guard lo <= hi else { throw GlobError(pattern: pattern, reason: "range \(lo)-\(hi) is reversed") }
                        ranges.append(lo...hi)
                        j += 3
                    } else {
                        ranges.append(lo...lo)
                        j += 1
                    }
                }
                guard j < chars.count else { throw GlobError(pattern: pattern, reason: "unclosed '['") }
                tokens.append(.set(ranges, negated: negated))
                i = j
            case "]":
                throw GlobError(pattern: pattern, reason: "unmatched ']'")
            default:
                guard c.isASCII, c.isLetter || c.isNumber || c == "_" || c == "." || c == "-" || (repository && c == "/") else {
                    throw GlobError(pattern: pattern, reason: "character '\(c)' cannot appear in a \(repository ? "repository" : "tag")")
                }
                tokens.append(.literal(c))
            }
            i += 1
        }
        self.tokens = tokens
    }

    public func matches(_ s: String) -> Bool {
        let chars = Array(s)
        // Iterative matcher with single-star backtracking: linear in practice, no recursion.
        var p = 0, t = 0
        var starP = -1, starT = 0
        while t < chars.count {
            if p < tokens.count {
                switch tokens[p] {
                case .star:
                    starP = p
                    starT = t
                    p += 1
                    continue
                case .any:
                    p += 1; t += 1
                    continue
                case .literal(let c) where c == chars[t]:
                    p += 1; t += 1
                    continue
                case .set(let ranges, let negated) where ranges.contains { $0.contains(chars[t]) } != negated:
                    p += 1; t += 1
                    continue
                default:
                    break
                }
            }
            guard starP >= 0 else { return false }
            p = starP + 1
            starT += 1
            t = starT
        }
        while p < tokens.count, tokens[p] == .star { p += 1 }
        return p == tokens.count
    }
}
