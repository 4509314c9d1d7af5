import Foundation

/// Finding severity, from a CVSS base score or the advisory's own rating.
public enum Severity: String, Sendable, Hashable, Codable, CaseIterable, Comparable {
    case unknown = "UNKNOWN", low = "LOW", medium = "MEDIUM", high = "HIGH", critical = "CRITICAL"

    var rank: Int {
        switch self {
        case .unknown: 0
        case .low: 1
        case .medium: 2
        case .high: 3
        case .critical: 4
        }
    }

    public static func < (l: Severity, r: Severity) -> Bool { l.rank < r.rank }

    /// CRITICAL ≥ 9, HIGH ≥ 7, MEDIUM ≥ 4, LOW > 0, else UNKNOWN (a 0.0 score means no
    /// impact, which we do not call a severity).
    public init(score: Double) {
        switch score {
        case 9...: self = .critical
        case 7..<9: self = .high
        case 4..<7: self = .medium
        case let s where s > 0: self = .low
        default: self = .unknown
        }
    }

    /// Maps an advisory's word (GHSA `MODERATE`, Ubuntu `medium`, `important`, …).
    public init?(word: String) {
        switch word.lowercased() {
        case "critical": self = .critical
        case "high", "important": self = .high
        case "medium", "moderate": self = .medium
        case "low", "negligible", "minor": self = .low
        case "unknown", "none", "unimportant", "untriaged": self = .unknown
        default: return nil
        }
    }
}

/// CVSS base scores computed from vectors.
public enum CVSS {
    // CVSS v3 metric weights (specification section 7.4).
    private static let attackVector: [String: Double] = ["N": 0.85, "A": 0.62, "L": 0.55, "P": 0.2]
    private static let complexity: [String: Double] = ["L": 0.77, "H": 0.44]
    private static let privilegesUnchanged: [String: Double] = ["N": 0.85, "L": 0.62, "H": 0.27]
    private static let privilegesChanged: [String: Double] = ["N": 0.85, "L": 0.68, "H": 0.5]
    private static let interaction: [String: Double] = ["N": 0.85, "R": 0.62]
    private static let impactWeight: [String: Double] = ["H": 0.56, "L": 0.22, "N": 0.0]

    /// The base score of a CVSS v3.0 / v3.1 vector (`CVSS:3.1/AV:N/AC:L/…`), per the FIRST
    /// specification's formulas; nil when a base metric is missing or unknown.
    public static func baseScoreV3(_ vector: String) -> Double? {
        let parts = vector.split(separator: "/")
        guard let head = parts.first, head == "CVSS:3.1" || head == "CVSS:3.0" else { return nil }
        let v31 = head == "CVSS:3.1"
        var m: [String: String] = [:]
        for p in parts.dropFirst() {
            let kv = p.split(separator: ":", maxSplits: 1)
            guard kv.count == 2 else { return nil }
            m[String(kv[0])] = String(kv[1])
        }
        guard let scope = m["S"], scope == "U" || scope == "C" else { return nil }
        let changed = scope == "C"
        let privileges = changed ? privilegesChanged : privilegesUnchanged
        guard
            let av = attackVector[m["AV"] ?? ""], let ac = complexity[m["AC"] ?? ""],
            let pr = privileges[m["PR"] ?? ""], let ui = interaction[m["UI"] ?? ""],
            let c = impactWeight[m["C"] ?? ""], let i = impactWeight[m["I"] ?? ""],
            let a = impactWeight[m["A"] ?? ""]
        else { return nil }
        let iss = 1 - (1 - c) * (1 - i) * (1 - a)
        let impact = changed ? 7.52 * (iss - 0.029) - 3.25 * pow(iss - 0.02, 15) : 6.42 * iss
        let exploitability = 8.22 * av * ac * pr * ui
        if impact <= 0 { return 0 }
        let raw = changed ? min(1.08 * (impact + exploitability), 10) : min(impact + exploitability, 10)
        return v31 ? roundUp31(raw) : (raw * 10).rounded(.up) / 10
    }

    /// CVSS 3.1 Appendix A `Roundup`: the smallest one-decimal number ≥ x, computed on
    /// integers to avoid floating-point surprises (e.g. 4.000001 → 4.0, not 4.1).
    static func roundUp31(_ x: Double) -> Double {
        let n = Int((x * 100_000).rounded())
        if n % 10_000 == 0 { return Double(n) / 100_000 }
        return Double(n / 10_000 + 1) / 10
    }

    /// The CVSS v4.0 score of a vector (base metrics required; threat and environmental
    /// metrics honoured), as FIRST's reference calculator computes it; nil when invalid.
    public static func scoreV4(_ vector: String) -> Double? { CVSSv4.score(vector) }

    /// The best score and severity of a record's or an affected entry's `severity[]`:
    /// a CVSS v3 score when there is one (what most tools and NVD history show), else
    /// CVSS v4, else an Ubuntu priority word, else `fallbackWord`
    /// (`database_specific.severity`). CVSS v2 vectors are not scored.
    /// `distribution`: the record is an operating system distribution's own advisory, whose
    /// rating (Ubuntu priority, Red Hat / SUSE severity, Debian urgency) is the severity even
    /// when a CVSS vector is present; the score is still returned. Elsewhere CVSS comes first.
    /// Also the CVSS vector that gave the score (stored beside the score, so a finding's rating
    /// needs no record decoded at match time).
    public static func assessed(
        _ severities: [OSVSeverity]?, fallbackWord: String?, distribution: Bool = false
    ) -> (score: Double?, severity: Severity, vector: String?) {
        var v3: (score: Double, vector: String)? = nil
        var v4: (score: Double, vector: String)? = nil
        var word: Severity? = nil
        for s in severities ?? [] {
            switch s.type {
            case "CVSS_V3":
                if let v = baseScoreV3(s.score), v > (v3?.score ?? -1) { v3 = (v, s.score) }
            case "CVSS_V4":
                if let v = scoreV4(s.score), v > (v4?.score ?? -1) { v4 = (v, s.score) }
            case "Ubuntu":
                if let w = Severity(word: s.score) { word = max(word ?? .unknown, w) }
            default:
                break
            }
        }
        let best = v3 ?? v4
        if distribution, let w = word ?? fallbackWord.flatMap(Severity.init(word:)), w != .unknown {
            return (best?.score, w, best?.vector)
        }
        if let best { return (best.score, Severity(score: best.score), best.vector) }
        if let word { return (nil, word, nil) }
        if let f = fallbackWord, let w = Severity(word: f) { return (nil, w, nil) }
        return (nil, .unknown, nil)
    }

    /// The rating a stored vector stands for (`CVSS:3.0/…`, `CVSS:3.1/…`, `CVSS:4.0/…`), with
    /// the score stored beside it; nil for anything else.
    public static func rating(vector: String?, score: Double?, source: String) -> CVSSRating? {
        guard let vector, let score else { return nil }
        let version: String
        if vector.hasPrefix("CVSS:4.0/") { version = "4.0" }
        else if vector.hasPrefix("CVSS:3.0/") { version = "3.0" }
        else if vector.hasPrefix("CVSS:3.1/") { version = "3.1" }
        else { return nil }
        return CVSSRating(version: version, vector: vector, score: score, type: "Primary", source: source)
    }
}
