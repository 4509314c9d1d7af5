/// A Maven version ordered like Maven 3.6–3.8's `ComparableVersion` (the rules its
/// `ComparableVersionTest` checks, MNG-5568 included): items split on `.`, `-` and
/// digit/letter switches; `-` and a switch open a sub-list; trailing zeros and release
/// qualifiers are dropped;
/// qualifiers order alpha < beta < milestone < rc = cr < snapshot < "" = ga = final =
/// release < sp < any other (alphabetical); `a1`, `b1`, `m1` mean alpha/beta/milestone.
///
/// Every string is a Maven version, so there is no invalid case.
public struct MavenVersion: Sendable, Comparable, CustomStringConvertible {
    indirect enum Item: Sendable, Hashable {
        /// Digits without leading zeros ("" is zero).
        case int(String)
        /// Comparable qualifier key: "0"…"6" for known ones, "7-<text>" otherwise.
        case string(String)
        case list([Item])
    }

    public let description: String
    let items: [Item]

    public init(_ text: String) {
        description = text
        items = Self.parse(text)
    }

    static let qualifiers = ["alpha", "beta", "milestone", "rc", "snapshot", "", "sp"]
    static let releaseKey = "5"

    static func qualifierKey(_ raw: String, followedByDigit: Bool) -> String {
        var q = raw
        if followedByDigit && q.count == 1 {
            switch q {
            case "a": q = "alpha"
            case "b": q = "beta"
            case "m": q = "milestone"
            default: break
            }
        }
        switch q {
        case "ga", "final", "release": q = ""
        case "cr": q = "rc"
        default: break
        }
        if let i = qualifiers.firstIndex(of: q) { return String(i) }
        return "\(qualifiers.count)-\(q)"
    }

    static func isNull(_ item: Item) -> Bool {
        switch item {
        case .int(let d): d.isEmpty
        case .string(let k): k == releaseKey
        case .list(let l): l.isEmpty
        }
    }

    /// Drops trailing null items of a list, stopping at the first non-list non-null one.
    static func normalize(_ list: inout [Item]) {
        var i = list.count - 1
        while i >= 0 {
            if isNull(list[i]) {
                list.remove(at: i)
            } else if case .list = list[i] {
                // keep scanning past a non-empty sub-list
            } else {
                break
            }
            i -= 1
        }
    }

    static func parse(_ text: String) -> [Item] {
        let s = Array(text.lowercased().utf8)
        // A stack of lists under construction; each nested list is appended to its
        // parent when the parse ends (Maven adds it eagerly and mutates it in place).
        var stack: [[Item]] = [[]]
        var isDigitRun = false
        var start = 0

        func item(_ digit: Bool, _ from: Int, _ to: Int) -> Item {
            let slice = s[from..<to]
            if digit {
                return .int(String(decoding: slice.drop { $0 == UInt8(ascii: "0") }, as: UTF8.self))
            }
            return .string(qualifierKey(String(decoding: slice, as: UTF8.self), followedByDigit: false))
        }
        func push() { stack.append([]) }
        func add(_ it: Item) { stack[stack.count - 1].append(it) }

        for (i, c) in s.enumerated() {
            if c == UInt8(ascii: ".") {
                add(i == start ? .int("") : item(isDigitRun, start, i))
                start = i + 1
            } else if c == UInt8(ascii: "-") {
                add(i == start ? .int("") : item(isDigitRun, start, i))
                start = i + 1
                push()
            } else if isDigit(c) {
                if !isDigitRun && i > start {
                    let q = String(decoding: s[start..<i], as: UTF8.self)
                    add(.string(qualifierKey(q, followedByDigit: true)))
                    start = i
                    push()
                }
                isDigitRun = true
            } else {
                if isDigitRun && i > start {
                    add(item(true, start, i))
                    start = i
                    push()
                }
                isDigitRun = false
            }
        }
        if s.count > start { add(item(isDigitRun, start, s.count)) }
        // Close the lists innermost first, normalising each as Maven does.
        while stack.count > 1 {
            var inner = stack.removeLast()
            normalize(&inner)
            stack[stack.count - 1].append(.list(inner))
        }
        var top = stack[0]
        normalize(&top)
        return top
    }

    /// Compares one item with another (nil means "nothing there").
    static func cmp(_ a: Item?, _ b: Item?) -> Int {
        switch (a, b) {
        case (nil, nil): return 0
        case (nil, let y?): return -cmp(y, nil)
        case (.int(let x)?, nil): return x.isEmpty ? 0 : 1
        case (.int(let x)?, .int(let y)?): return compareDigits(x.utf8, y.utf8)
        case (.int?, .string?): return 1
        case (.int?, .list?): return 1
        case (.string(let k)?, nil): return bytewise(k, releaseKey)
        case (.string?, .int?): return -1
        case (.string(let x)?, .string(let y)?): return bytewise(x, y)
        case (.string?, .list?): return -1
        case (.list(let l)?, nil): return l.isEmpty ? 0 : cmp(l[0], nil)
        case (.list?, .int?): return -1
        case (.list?, .string?): return 1
        case (.list(let x)?, .list(let y)?): return cmpLists(x, y)
        }
    }

    static func cmpLists(_ x: [Item], _ y: [Item]) -> Int {
        var i = 0
        while i < x.count || i < y.count {
            let c = cmp(i < x.count ? x[i] : nil, i < y.count ? y[i] : nil)
            if c != 0 { return c }
            i += 1
        }
        return 0
    }

    public func compare(to other: MavenVersion) -> Int { Self.cmpLists(items, other.items) }

    public static func == (l: MavenVersion, r: MavenVersion) -> Bool { l.compare(to: r) == 0 }
    public static func < (l: MavenVersion, r: MavenVersion) -> Bool { l.compare(to: r) < 0 }
}
