/// A Debian package version, `[epoch:]upstream[-revision]`, ordered like
/// `dpkg --compare-versions` (deb-version(7)).
public struct DpkgVersion: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let epoch: Int
    public let upstream: String
    public let revision: String

    /// Parses a version; nil when it breaks deb-version(7) (empty or non-numeric epoch,
    /// upstream not starting with a digit, characters outside the allowed set).
    public init?(_ text: String) {
        var s = Substring(text)
        while let f = s.first, f == " " || f == "\t" || f == "\n" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\n" { s = s.dropLast() }
        var epoch = 0
        if let colon = s.firstIndex(of: ":") {
            let e = s[..<colon]
            guard !e.isEmpty, e.utf8.allSatisfy(isDigit), e.count <= 9, let n = Int(e) else { return nil }
            epoch = n
            s = s[s.index(after: colon)...]
        }
        var upstream = s
        var revision = Substring("")
        if let dash = s.lastIndex(of: "-") {
            upstream = s[..<dash]
            revision = s[s.index(after: dash)...]
            guard !revision.isEmpty else { return nil }
        }
        guard let first = upstream.utf8.first, isDigit(first) else { return nil }
        for c in upstream.utf8 where !(isAlnum(c) || c == UInt8(ascii: ".") || c == UInt8(ascii: "+")
            || c == UInt8(ascii: "~") || c == UInt8(ascii: "-"))
        {
            return nil
        }
        for c in revision.utf8 where !(isAlnum(c) || c == UInt8(ascii: ".") || c == UInt8(ascii: "+")
            || c == UInt8(ascii: "~"))
        {
            return nil
        }
        self.epoch = epoch
        self.upstream = String(upstream)
        self.revision = String(revision)
    }

    public var description: String {
        (epoch != 0 ? "\(epoch):" : "") + upstream + (revision.isEmpty ? "" : "-\(revision)")
    }

    public static func < (lhs: DpkgVersion, rhs: DpkgVersion) -> Bool { compare(lhs, rhs) < 0 }

    public static func == (lhs: DpkgVersion, rhs: DpkgVersion) -> Bool { compare(lhs, rhs) == 0 }

    public func hash(into hasher: inout Hasher) { hasher.combine(epoch) }

    static func compare(_ a: DpkgVersion, _ b: DpkgVersion) -> Int {
        if a.epoch != b.epoch { return a.epoch < b.epoch ? -1 : 1 }
        let u = fragmentCompare(Array(a.upstream.utf8), Array(b.upstream.utf8))
        if u != 0 { return u }
        return fragmentCompare(Array(a.revision.utf8), Array(b.revision.utf8))
    }

    /// Weight of a non-digit character: `~` below the end of the string, letters below
    /// other characters, the end and digits weigh zero.
    private static func weight(_ c: UInt8?) -> Int {
        guard let c else { return 0 }
        if isDigit(c) { return 0 }
        if isAlpha(c) { return Int(c) }
        if c == UInt8(ascii: "~") { return -1 }
        return Int(c) + 256
    }

    /// Alternating non-digit and digit segments, as dpkg's `verrevcmp`.
    static func fragmentCompare(_ a: [UInt8], _ b: [UInt8]) -> Int {
        var i = 0, j = 0
        while i < a.count || j < b.count {
            // Non-digit prefix, character by character.
            while (i < a.count && !isDigit(a[i])) || (j < b.count && !isDigit(b[j])) {
                let wa = weight(i < a.count ? a[i] : nil)
                let wb = weight(j < b.count ? b[j] : nil)
                if wa != wb { return wa < wb ? -1 : 1 }
                i += 1
                j += 1
            }
            // Digit run, as a number.
            var ie = i, je = j
            while ie < a.count && isDigit(a[ie]) { ie += 1 }
            while je < b.count && isDigit(b[je]) { je += 1 }
            let c = compareDigits(a[i..<ie], b[j..<je])
            if c != 0 { return c }
            i = ie
            j = je
        }
        return 0
    }
}
