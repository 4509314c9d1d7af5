/// An rpm `[epoch:]version[-release]` label, ordered like rpm's `labelCompare`
/// (epoch, then `rpmvercmp` on version, then on release).
///
/// A missing epoch is 0 and a missing release is the empty string, so `1.0` sorts before
/// `1.0-1`; that keeps the order total (rpm itself skips the release comparison when one
/// side has none).
public struct RPMVersion: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let epoch: Int
    public let version: String
    public let release: String

    /// Parses a label; nil for an empty version or a non-numeric epoch.
    public init?(_ text: String) {
        var s = Substring(text)
        var epoch = 0
        if let colon = s.firstIndex(of: ":") {
            let e = s[..<colon]
            if e.isEmpty {
                epoch = 0
            } else {
                guard e.utf8.allSatisfy(isDigit), e.count <= 9, let n = Int(e) else { return nil }
                epoch = n
            }
            s = s[s.index(after: colon)...]
        }
        var release = Substring("")
        if let dash = s.lastIndex(of: "-") {
            release = s[s.index(after: dash)...]
            s = s[..<dash]
        }
        guard !s.isEmpty else { return nil }
        self.epoch = epoch
        self.version = String(s)
        self.release = String(release)
    }

    public init(epoch: Int, version: String, release: String) {
        self.epoch = epoch
        self.version = version
        self.release = release
    }

    public var description: String {
        (epoch != 0 ? "\(epoch):" : "") + version + (release.isEmpty ? "" : "-\(release)")
    }

    public static func < (lhs: RPMVersion, rhs: RPMVersion) -> Bool { compare(lhs, rhs) < 0 }
    public static func == (lhs: RPMVersion, rhs: RPMVersion) -> Bool { compare(lhs, rhs) == 0 }
    public func hash(into hasher: inout Hasher) { hasher.combine(epoch) }

    static func compare(_ a: RPMVersion, _ b: RPMVersion) -> Int {
        if a.epoch != b.epoch { return a.epoch < b.epoch ? -1 : 1 }
        let v = vercmp(a.version, b.version)
        if v != 0 { return v }
        return vercmp(a.release, b.release)
    }

    /// rpm's segment comparison: alphanumeric runs separated by anything else; digits
    /// beat letters; `~` sorts before everything, even the end; `^` sorts after the end
    /// but before any further segment.
    public static func vercmp(_ lhs: String, _ rhs: String) -> Int {
        if lhs == rhs { return 0 }
        let a = Array(lhs.utf8), b = Array(rhs.utf8)
        let tilde = UInt8(ascii: "~"), caret = UInt8(ascii: "^")
        var i = 0, j = 0
        while i < a.count || j < b.count {
            while i < a.count && !isAlnum(a[i]) && a[i] != tilde && a[i] != caret { i += 1 }
            while j < b.count && !isAlnum(b[j]) && b[j] != tilde && b[j] != caret { j += 1 }
            let ca: UInt8? = i < a.count ? a[i] : nil
            let cb: UInt8? = j < b.count ? b[j] : nil
            if ca == tilde || cb == tilde {
                if ca != tilde { return 1 }
                if cb != tilde { return -1 }
                i += 1
                j += 1
                continue
            }
            if ca == caret || cb == caret {
                if ca == nil { return -1 }
                if cb == nil { return 1 }
                if ca != caret { return 1 }
                if cb != caret { return -1 }
                i += 1
                j += 1
                continue
            }
            guard let first = ca, cb != nil else { break }
            let numeric = isDigit(first)
            var ie = i, je = j
            if numeric {
                while ie < a.count && isDigit(a[ie]) { ie += 1 }
                while je < b.count && isDigit(b[je]) { je += 1 }
            } else {
                while ie < a.count && isAlpha(a[ie]) { ie += 1 }
                while je < b.count && isAlpha(b[je]) { je += 1 }
            }
            // The other side's segment is of the other kind: numbers are newer.
            if je == j { return numeric ? 1 : -1 }
            let c = numeric ? compareDigits(a[i..<ie], b[j..<je]) : compareBytes(a[i..<ie], b[j..<je])
            if c != 0 { return c }
            i = ie
            j = je
        }
        if i >= a.count && j >= b.count { return 0 }
        return i < a.count ? 1 : -1
    }
}
