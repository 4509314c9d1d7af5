/// A Python package version under PEP 440, ordered like `packaging.version.Version`.
public struct PEP440Version: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Pre-release phase; `a` < `b` < `rc`.
    public enum Phase: Int, Sendable, Comparable {
        case a = 0, b, rc
        public static func < (l: Phase, r: Phase) -> Bool { l.rawValue < r.rawValue }
    }

    /// Numbers are kept as digit strings without leading zeros so no size overflows.
    public let epoch: String
    public let release: [String]
    public let pre: (phase: Phase, number: String)?
    public let post: String?
    public let dev: String?
    /// Local segments, lowercased, separators normalised away.
    public let local: [String]?

    /// Parses a version; nil when `packaging` would raise `InvalidVersion`.
    public init?(_ text: String) {
        var p = Parser(text)
        guard let v = p.parse() else { return nil }
        self = v
    }

    fileprivate init(
        epoch: String, release: [String], pre: (phase: Phase, number: String)?, post: String?, dev: String?, local: [String]?
    ) {
        self.epoch = epoch
        self.release = release
        self.pre = pre
        self.post = post
        self.dev = dev
        self.local = local
    }

    /// The normalised form (`1.0.post1`, `2!1.0rc1.dev0+ubuntu.1`).
    public var description: String {
        var s = epoch == "0" ? "" : "\(epoch)!"
        s += release.joined(separator: ".")
        if let pre { s += "\(pre.phase)\(pre.number)" }
        if let post { s += ".post\(post)" }
        if let dev { s += ".dev\(dev)" }
        if let local { s += "+" + local.joined(separator: ".") }
        return s
    }

    public var isPrerelease: Bool { pre != nil || dev != nil }

    public static func == (l: PEP440Version, r: PEP440Version) -> Bool { compare(l, r) == 0 }
    public static func < (l: PEP440Version, r: PEP440Version) -> Bool { compare(l, r) < 0 }
    public func hash(into hasher: inout Hasher) {
        hasher.combine(epoch)
        var r = release
        while r.last == "0" { r.removeLast() }
        hasher.combine(r)
    }

    static func num(_ a: String, _ b: String) -> Int { compareDigits(a.utf8, b.utf8) }

    static func compare(_ a: PEP440Version, _ b: PEP440Version) -> Int {
        var c = num(a.epoch, b.epoch)
        if c != 0 { return c }
        // Release, trailing zeros ignored.
        var ra = a.release[...], rb = b.release[...]
        while ra.last == "0" { ra = ra.dropLast() }
        while rb.last == "0" { rb = rb.dropLast() }
        for (x, y) in zip(ra, rb) {
            c = num(x, y)
            if c != 0 { return c }
        }
        if ra.count != rb.count { return ra.count < rb.count ? -1 : 1 }
        // Pre-release: a bare dev release sorts before any pre-release; none sorts after.
        func preKey(_ v: PEP440Version) -> Int {
            if v.pre == nil && v.post == nil && v.dev != nil { return -1 }
            return v.pre == nil ? 1 : 0
        }
        let ka = preKey(a), kb = preKey(b)
        if ka != kb { return ka < kb ? -1 : 1 }
        if ka == 0, let pa = a.pre, let pb = b.pre {
            if pa.phase != pb.phase { return pa.phase < pb.phase ? -1 : 1 }
            c = num(pa.number, pb.number)
            if c != 0 { return c }
        }
        // Post-release: none sorts first.
        switch (a.post, b.post) {
        case (nil, _?): return -1
        case (_?, nil): return 1
        case let (x?, y?):
            c = num(x, y)
            if c != 0 { return c }
        case (nil, nil): break
        }
        // Development release: none sorts last.
        switch (a.dev, b.dev) {
        case (nil, _?): return 1
        case (_?, nil): return -1
        case let (x?, y?):
            c = num(x, y)
            if c != 0 { return c }
        case (nil, nil): break
        }
        // Local: none sorts first; numeric segments beat alphanumeric ones.
        switch (a.local, b.local) {
        case (nil, nil): return 0
        case (nil, _?): return -1
        case (_?, nil): return 1
        case let (x?, y?):
            for (s, t) in zip(x, y) {
                let ns = s.utf8.allSatisfy(isDigit), nt = t.utf8.allSatisfy(isDigit)
                if ns != nt { return ns ? 1 : -1 }
                c = ns ? num(s, t) : bytewise(s, t)
                if c != 0 { return c }
            }
            return x.count == y.count ? 0 : (x.count < y.count ? -1 : 1)
        }
    }

    /// A hand-written recogniser for packaging's `VERSION_PATTERN`.
    private struct Parser {
        let s: [UInt8]
        var i = 0

        init(_ text: String) {
            var b = Array(text.lowercased().utf8)
            let ws: Set<UInt8> = [0x20, 0x09, 0x0A, 0x0D, 0x0B, 0x0C]
            while let f = b.first, ws.contains(f) { b.removeFirst() }
            while let l = b.last, ws.contains(l) { b.removeLast() }
            s = b
        }

        func peek(_ k: Int = 0) -> UInt8? { i + k < s.count ? s[i + k] : nil }
        func isSep(_ c: UInt8?) -> Bool { c == UInt8(ascii: "-") || c == UInt8(ascii: "_") || c == UInt8(ascii: ".") }

        mutating func digits() -> String? {
            let start = i
            while let c = peek(), isDigit(c) { i += 1 }
            guard i > start else { return nil }
            let d = s[start..<i].drop { $0 == UInt8(ascii: "0") }
            return d.isEmpty ? "0" : String(decoding: d, as: UTF8.self)
        }

        mutating func word(_ options: [String]) -> String? {
            for o in options {
                let w = Array(o.utf8)
                if i + w.count <= s.count && s[i..<(i + w.count)].elementsEqual(w) {
                    i += w.count
                    return o
                }
            }
            return nil
        }

        /// `[-_.]? label [-_.]? N?` with the number defaulting to 0.
        mutating func labelled(_ labels: [String]) -> (String, String)? {
            let save = i
            if isSep(peek()) { i += 1 }
            guard let l = word(labels) else {
                i = save
                return nil
            }
            // The regex consumes a trailing separator greedily even without a number.
            if isSep(peek()) { i += 1 }
            return (l, digits() ?? "0")
        }

        mutating func parse() -> PEP440Version? {
            if peek() == UInt8(ascii: "v") { i += 1 }
            var epoch = "0"
            let save = i
            if let e = digits(), peek() == UInt8(ascii: "!") {
                epoch = e
                i += 1
            } else {
                i = save
            }
            var release: [String] = []
            guard let first = digits() else { return nil }
            release.append(first)
            while peek() == UInt8(ascii: "."), let c = peek(1), isDigit(c) {
                i += 1
                guard let n = digits() else { return nil }
                release.append(n)
            }
            var pre: (phase: Phase, number: String)? = nil
            if let found = labelled(["alpha", "a", "beta", "b", "preview", "pre", "c", "rc"]) {
                let l = found.0
                let phase: Phase = (l == "alpha" || l == "a") ? .a : ((l == "beta" || l == "b") ? .b : .rc)
                pre = (phase: phase, number: found.1)
            }
            var post: String? = nil
            if peek() == UInt8(ascii: "-"), let c = peek(1), isDigit(c) {
                i += 1
                post = digits()
            } else if let found = labelled(["post", "rev", "r"]) {
                post = found.1
            }
            var dev: String? = nil
            if let found = labelled(["dev"]) { dev = found.1 }
            var local: [String]? = nil
            if peek() == UInt8(ascii: "+") {
                i += 1
                var segs: [String] = []
                while true {
                    let start = i
                    while let c = peek(), isAlnum(c) { i += 1 }
                    guard i > start else { return nil }
                    segs.append(String(decoding: s[start..<i], as: UTF8.self))
                    if isSep(peek()), let c = peek(1), isAlnum(c) {
                        i += 1
                    } else {
                        break
                    }
                }
                // Numeric local segments compare as integers; normalise their zeros.
                local = segs.map { seg in
                    guard seg.utf8.allSatisfy(isDigit) else { return seg }
                    let d = seg.utf8.drop { $0 == UInt8(ascii: "0") }
                    return d.isEmpty ? "0" : String(decoding: d, as: UTF8.self)
                }
            }
            guard i == s.count else { return nil }
            return PEP440Version(epoch: epoch, release: release, pre: pre, post: post, dev: dev, local: local)
        }
    }
}
