/// OSV ecosystem names and package-name normalisation shared by import and matching.
public enum OSVEcosystem {
    /// The key advisories are indexed under: the ecosystem without Ubuntu's `:LTS` tail
    /// (`Ubuntu:22.04:LTS` → `Ubuntu:22.04`), otherwise as published.
    public static func key(_ ecosystem: String) -> String {
        var e = ecosystem.trimmingWhitespace()
        if e.hasSuffix(":LTS") { e = e.dropLast(4) }
        return String(e)
    }

    /// Operating system distributions: their OSV records are the distribution's own advisories.
    static let distributions: Set<String> = [
        "Debian", "Ubuntu", "Alpine", "Alpaquita", "Rocky Linux", "AlmaLinux", "Red Hat", "openSUSE", "SUSE", "Wolfi",
        "Chainguard", "Azure Linux", "CBL-Mariner", "Mageia", "Photon OS", "openEuler",
    ]

    /// Whether `ecosystem` (`Debian:12`, `Ubuntu:22.04:LTS`, `PyPI`, …) is a distribution's.
    public static func isDistribution(_ ecosystem: String) -> Bool {
        distributions.contains(String(ecosystem.split(separator: ":", maxSplits: 1).first ?? ""))
    }

    /// The package name as indexed: PEP 503 for PyPI (lowercase, runs of `-_.` → `-`),
    /// lowercase for RubyGems-insensitive ecosystems is not applied (npm, Go, Maven and
    /// crates.io names are case-sensitive in OSV).
    public static func normalizedName(_ name: String, ecosystem: String) -> String {
        let base = ecosystem.split(separator: ":", maxSplits: 1).first ?? Substring(ecosystem)
        switch base {
        case "PyPI": return pep503(name)
        default: return name.trimmingWhitespace().description
        }
    }

    /// PEP 503 normalised project name.
    public static func pep503(_ name: String) -> String {
        var out: [UInt8] = []
        var inRun = false
        for c in name.lowercased().utf8 {
            if c == UInt8(ascii: "-") || c == UInt8(ascii: "_") || c == UInt8(ascii: ".") {
                if !inRun { out.append(UInt8(ascii: "-")) }
                inRun = true
            } else if c == 0x20 || c == 0x09 || c == 0x0A {
                continue
            } else {
                out.append(c)
                inRun = false
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
