/// A version ordering used by a package ecosystem.
///
/// Every scheme is a total order on all strings, so sorting and range checks never crash:
/// versions the scheme can parse are compared by its rules; a version it cannot parse
/// (see ``isValid(_:)``) sorts after every valid version, and invalid versions compare
/// with each other by their UTF-8 bytes. Callers that must not guess (the matcher) check
/// ``isValid(_:)`` first.
public enum VersionScheme: String, Sendable, Hashable, CaseIterable, Codable {
    /// Debian `dpkg --compare-versions` (epoch:upstream-revision, `~` sorts first).
    case dpkg
    /// rpm `rpmvercmp` on `[epoch:]version[-release]`, with `~` and `^`.
    case rpm
    /// Alpine apk-tools (Gentoo-style: digits, one letter, `_suffix`, `-rN`).
    case apk
    /// Python PEP 440 as implemented by `packaging.version.Version`.
    case pep440
    /// Semantic Versioning 2.0 with an optional `v` prefix (npm, Go, crates.io).
    case semver
    /// Maven `ComparableVersion`.
    case maven
    /// RubyGems `Gem::Version`.
    case rubygems
    /// Natural ordering for ecosystems without a known scheme: digit runs numerically,
    /// everything else by bytes.
    case generic

    /// Compares two versions: negative, zero or positive like `strcmp`.
    public func compare(_ lhs: String, _ rhs: String) -> Int {
        if lhs == rhs { return 0 }
        switch self {
        case .dpkg:
            return Self.ordered(DpkgVersion(lhs), DpkgVersion(rhs), lhs, rhs)
        case .rpm:
            return Self.ordered(RPMVersion(lhs), RPMVersion(rhs), lhs, rhs)
        case .apk:
            return Self.ordered(APKVersion(lhs), APKVersion(rhs), lhs, rhs)
        case .pep440:
            return Self.ordered(PEP440Version(lhs), PEP440Version(rhs), lhs, rhs)
        case .semver:
            return Self.ordered(
                SemanticVersion(lenient: lhs), SemanticVersion(lenient: rhs), lhs, rhs)
        case .maven:
            return MavenVersion(lhs).compare(to: MavenVersion(rhs))
        case .rubygems:
            return Self.ordered(GemVersion(lhs), GemVersion(rhs), lhs, rhs)
        case .generic:
            return naturalCompare(Array(lhs.utf8), Array(rhs.utf8))
        }
    }

    /// Whether `version` follows this scheme's grammar (compared by its rules).
    public func isValid(_ version: String) -> Bool {
        switch self {
        case .dpkg: DpkgVersion(version) != nil
        case .rpm: RPMVersion(version) != nil
        case .apk: APKVersion(version) != nil
        case .pep440: PEP440Version(version) != nil
        case .semver: SemanticVersion(lenient: version) != nil
        case .maven: !version.isEmpty
        case .rubygems: GemVersion(version) != nil
        case .generic: true
        }
    }

    /// `compare(lhs, rhs) < 0`.
    public func less(_ lhs: String, _ rhs: String) -> Bool { compare(lhs, rhs) < 0 }

    /// The scheme OSV uses for an ecosystem name (`Debian:12`, `PyPI`, `crates.io`, …).
    public static func forEcosystem(_ ecosystem: String) -> VersionScheme {
        let base = ecosystem.split(separator: ":", maxSplits: 1).first.map(String.init) ?? ecosystem
        switch base {
        case "Debian", "Ubuntu": return .dpkg
        case "Alpine", "Wolfi", "Chainguard", "Alpaquita", "BellSoft Hardened Containers": return .apk
        case "Red Hat", "Rocky Linux", "AlmaLinux", "openSUSE", "SUSE", "Mageia", "Photon OS",
            "openEuler", "Azure Linux", "CBL-Mariner", "Oracle Linux", "Fedora", "Amazon Linux":
            return .rpm
        case "PyPI": return .pep440
        case "npm", "Go", "crates.io", "NuGet", "Hex", "Pub", "SwiftURL", "Packagist": return .semver
        case "Maven": return .maven
        case "RubyGems": return .rubygems
        default: return .generic
        }
    }

    /// Orders two optional parsed versions with the documented fallback for invalid ones.
    static func ordered<V: Comparable>(_ a: V?, _ b: V?, _ rawA: String, _ rawB: String) -> Int {
        switch (a, b) {
        case let (x?, y?): return x < y ? -1 : (y < x ? 1 : 0)
        case (nil, _?): return 1
        case (_?, nil): return -1
        case (nil, nil): return bytewise(rawA, rawB)
        }
    }
}

/// Compares two strings by their UTF-8 bytes.
func bytewise(_ a: String, _ b: String) -> Int {
    if a == b { return 0 }
    return a.utf8.lexicographicallyPrecedes(b.utf8) ? -1 : 1
}

/// Compares two runs of ASCII digits as unbounded non-negative integers.
func compareDigits<A: Collection<UInt8>, B: Collection<UInt8>>(_ a: A, _ b: B) -> Int {
    let x = a.drop { $0 == UInt8(ascii: "0") }
    let y = b.drop { $0 == UInt8(ascii: "0") }
    if x.count != y.count { return x.count < y.count ? -1 : 1 }
    for (p, q) in zip(x, y) where p != q { return p < q ? -1 : 1 }
    return 0
}

/// Compares byte sequences lexicographically: negative, zero or positive.
func compareBytes<A: Collection<UInt8>, B: Collection<UInt8>>(_ a: A, _ b: B) -> Int {
    for (p, q) in zip(a, b) where p != q { return p < q ? -1 : 1 }
    return a.count == b.count ? 0 : (a.count < b.count ? -1 : 1)
}

/// Natural order: runs of digits compare as numbers, other runs by bytes, digits before
/// letters when the kinds differ.
func naturalCompare(_ a: [UInt8], _ b: [UInt8]) -> Int {
    var i = 0, j = 0
    while i < a.count && j < b.count {
        let da = isDigit(a[i]), db = isDigit(b[j])
        if da != db { return da ? -1 : 1 }
        var ie = i, je = j
        while ie < a.count && isDigit(a[ie]) == da { ie += 1 }
        while je < b.count && isDigit(b[je]) == db { je += 1 }
        let c = da ? compareDigits(a[i..<ie], b[j..<je]) : compareBytes(a[i..<ie], b[j..<je])
        if c != 0 { return c }
        i = ie
        j = je
    }
    if i < a.count { return 1 }
    if j < b.count { return -1 }
    return compareBytes(a, b)
}

@inline(__always) func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }
@inline(__always) func isLower(_ c: UInt8) -> Bool { c >= 0x61 && c <= 0x7A }
@inline(__always) func isAlpha(_ c: UInt8) -> Bool { (c | 0x20) >= 0x61 && (c | 0x20) <= 0x7A }
@inline(__always) func isAlnum(_ c: UInt8) -> Bool { isDigit(c) || isAlpha(c) }
