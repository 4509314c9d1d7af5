/// An Alpine package version (`1.2.3b_rc1_p2~1a2b-r4`), ordered like apk-tools (2.14/3.x).
///
/// Grammar: a number, then any of `.number`, one lowercase letter (after numbers only),
/// `_suffix[number]` (pre-releases `alpha` < `beta` < `pre` < `rc` sort before the
/// release; `cvs` < `svn` < `git` < `hg` < `p` after it), `~commithash`, and `-rN`.
/// A `.`-number with a leading zero compares as a string (`1.05 < 1.5`, Gentoo rule).
public struct APKVersion: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Token kinds, in the order apk uses to rank "what comes next" when two versions
    /// agree up to where one of them continues differently.
    enum Kind: Int, Comparable {
        case initial = 0, dotNumber, letter, suffix, suffixNumber, commitHash, revision, end
        static func < (l: Kind, r: Kind) -> Bool { l.rawValue < r.rawValue }
    }

    struct Token: Hashable {
        var kind: Kind
        /// Digits, the letter, the suffix word or the hash, as bytes.
        var text: ArraySlice<UInt8>
        /// Suffix rank: negative for pre-release suffixes, positive after the release.
        var rank: Int = 0
    }

    static let suffixes: [(word: [UInt8], rank: Int)] = [
        ("alpha", -4), ("beta", -3), ("pre", -2), ("rc", -1), ("cvs", 1), ("svn", 2), ("git", 3), ("hg", 4), ("p", 5),
    ].map { (Array($0.0.utf8), $0.1) }

    public let description: String
    let tokens: [Token]

    /// Parses a version; nil when apk-tools would call it invalid.
    public init?(_ text: String) {
        guard let t = Self.tokenize(Array(text.utf8)) else { return nil }
        self.description = text
        self.tokens = t
    }

    static func tokenize(_ s: [UInt8]) -> [Token]? {
        var i = 0
        func digits() -> ArraySlice<UInt8>? {
            let start = i
            while i < s.count && isDigit(s[i]) { i += 1 }
            return i > start ? s[start..<i] : nil
        }
        guard let first = digits() else { return nil }
        var out = [Token(kind: .initial, text: first)]
        var last = Kind.initial
        while i < s.count {
            let c = s[i]
            var token: Token
            if isLower(c) {
                guard last <= .dotNumber else { return nil }
                token = Token(kind: .letter, text: s[i..<(i + 1)])
                i += 1
            } else if c == UInt8(ascii: ".") || isDigit(c) {
                let kind: Kind
                switch last {
                case .initial, .dotNumber: kind = .dotNumber
                case .suffix where isDigit(c): kind = .suffixNumber
                default: return nil
                }
                if c == UInt8(ascii: ".") {
                    guard kind == .dotNumber else { return nil }
                    i += 1
                }
                guard let d = digits() else { return nil }
                token = Token(kind: kind, text: d)
            } else if c == UInt8(ascii: "_") {
                guard last <= .suffixNumber else { return nil }
                i += 1
                let start = i
                while i < s.count && isLower(s[i]) { i += 1 }
                let word = s[start..<i]
                guard let known = suffixes.first(where: { $0.word.elementsEqual(word) }) else { return nil }
                token = Token(kind: .suffix, text: word, rank: known.rank)
            } else if c == UInt8(ascii: "~") {
                guard last < .commitHash else { return nil }
                i += 1
                let start = i
                while i < s.count && (isDigit(s[i]) || (0x61...0x66).contains(s[i] | 0x20)) { i += 1 }
                guard i > start else { return nil }
                token = Token(kind: .commitHash, text: s[start..<i])
            } else if c == UInt8(ascii: "-") {
                guard last < .revision, i + 1 < s.count, s[i + 1] == UInt8(ascii: "r") else { return nil }
                i += 2
                guard let d = digits() else { return nil }
                token = Token(kind: .revision, text: d)
            } else {
                return nil
            }
            out.append(token)
            last = token.kind
        }
        out.append(Token(kind: .end, text: []))
        return out
    }

    public static func < (lhs: APKVersion, rhs: APKVersion) -> Bool { compare(lhs, rhs) < 0 }
    public static func == (lhs: APKVersion, rhs: APKVersion) -> Bool { compare(lhs, rhs) == 0 }
    public func hash(into hasher: inout Hasher) { hasher.combine(tokens.count) }

    /// Compares two tokens of the same kind.
    static func value(_ a: Token, _ b: Token) -> Int {
        switch a.kind {
        case .dotNumber:
            if a.text.first == UInt8(ascii: "0") || b.text.first == UInt8(ascii: "0") {
                return compareBytes(a.text, b.text)
            }
            return compareDigits(a.text, b.text)
        case .initial, .suffixNumber, .revision:
            return compareDigits(a.text, b.text)
        case .suffix:
            return a.rank == b.rank ? 0 : (a.rank < b.rank ? -1 : 1)
        case .letter, .commitHash:
            return compareBytes(a.text, b.text)
        case .end:
            return 0
        }
    }

    static func compare(_ a: APKVersion, _ b: APKVersion) -> Int {
        var k = 0
        while a.tokens[k].kind == b.tokens[k].kind && a.tokens[k].kind != .end {
            let v = value(a.tokens[k], b.tokens[k])
            if v != 0 { return v }
            k += 1
        }
        let ta = a.tokens[k], tb = b.tokens[k]
        if ta.kind == tb.kind { return 0 }
        // One goes on where the other stops or changes kind: the longer one is newer,
        // unless what follows is a pre-release suffix.
        if ta.kind == .suffix && ta.rank < 0 { return -1 }
        if tb.kind == .suffix && tb.rank < 0 { return 1 }
        return ta.kind > tb.kind ? -1 : 1
    }
}
