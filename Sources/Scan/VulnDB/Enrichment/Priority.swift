/// Where a finding's severity came from.
public enum SeveritySource: String, Sendable, Hashable, Codable, CaseIterable {
    /// The distribution's own rating (Debian urgency, Ubuntu priority, Red Hat/Alma/Rocky severity).
    case distribution
    /// The advisory's own CVSS (OSV, GHSA).
    case advisory
    /// NVD's CVSS.
    case nvd
    /// Nobody rated it.
    case none
}

/// The severity a finding shows, and why.
public struct SeverityChoice: Sendable, Hashable {
    public var severity: Severity
    public var source: SeveritySource
    /// The CVSS rating behind it, when one was used (or is known besides a distribution rating).
    public var cvss: CVSSRating?
}

public enum SeverityRule {
    /// The documented rule: for OS packages the distribution's own rating when it gives one;
    /// else the advisory's own rating (its CVSS, or the word it states); else NVD's preferred
    /// rating (newest CVSS version, Primary before Secondary); else UNKNOWN. The CVSS shown
    /// beside a distribution's or a word rating is the advisory's, else NVD's.
    public static func choose(
        distribution: Severity?, advisory: Severity? = nil, advisoryCVSS: CVSSRating?, nvd: NVDRecord?
    ) -> SeverityChoice {
        choose(distribution: distribution, advisory: advisory, advisoryCVSS: advisoryCVSS, nvdRating: nvd?.preferredRating)
    }

    /// The same rule with NVD's preferred rating already chosen.
    public static func choose(
        distribution: Severity?, advisory: Severity? = nil, advisoryCVSS: CVSSRating?, nvdRating: CVSSRating?
    ) -> SeverityChoice {
        if let d = distribution, d != .unknown {
            return SeverityChoice(severity: d, source: .distribution, cvss: advisoryCVSS ?? nvdRating)
        }
        if let a = advisoryCVSS, a.severity != .unknown {
            return SeverityChoice(severity: a.severity, source: .advisory, cvss: a)
        }
        if let a = advisory, a != .unknown {
            return SeverityChoice(severity: a, source: .advisory, cvss: nvdRating)
        }
        if let n = nvdRating, n.severity != .unknown {
            return SeverityChoice(severity: n.severity, source: .nvd, cvss: n)
        }
        return SeverityChoice(severity: .unknown, source: .none, cvss: nil)
    }
}

/// What to fix first, P1 (now) … P5 (no fix to apply).
public enum Priority: String, Sendable, Hashable, Codable, CaseIterable, Comparable {
    case p1 = "P1", p2 = "P2", p3 = "P3", p4 = "P4", p5 = "P5"

    public static func < (a: Priority, b: Priority) -> Bool { a.rank < b.rank }

    /// P1: in CISA KEV (fixed or not). P2: EPSS percentile ≥ 0.95, or CVSS ≥ 9.0 with a fix.
    /// P3: HIGH or CRITICAL with a fix. P4: any other finding with a fix. P5: no fix.
    public static func of(kev: Bool, epssPercentile: Double?, cvssScore: Double?, severity: Severity, hasFix: Bool) -> Priority {
        if kev { return .p1 }
        if let p = epssPercentile, p >= 0.95 { return .p2 }
        if hasFix, let s = cvssScore, s >= 9.0 { return .p2 }
        if hasFix && severity >= .high { return .p3 }
        if hasFix { return .p4 }
        return .p5
    }
}

extension Finding {
    /// The finding's priority; for findings matched before the enrichment data existed and
    /// for external scanners' findings, the same rule on what they carry (no KEV, no EPSS).
    public var effectivePriority: Priority { priority ?? computedPriority }

    /// The priority rule on what the finding carries now.
    public var computedPriority: Priority {
        Priority.of(
            kev: kev != nil, epssPercentile: epss?.percentile, cvssScore: cvssRating?.score ?? cvss, severity: severity,
            hasFix: closesWithUpgrade != nil)
    }

    /// The version an upgrade to which closes the finding (its fixed version, unless the
    /// distribution said no fix will come): what fix groups group by.
    public var closesWithUpgrade: String? {
        fixState == .fixed || fixState == .unknown ? fixedVersion : nil
    }
}

extension Priority {
    /// 1 for P1 … 5 for P5 (the stored rank; lower is more urgent).
    public var rank: Int {
        switch self {
        case .p1: 1
        case .p2: 2
        case .p3: 3
        case .p4: 4
        case .p5: 5
        }
    }

    public init?(rank: Int) {
        guard (1...5).contains(rank) else { return nil }
        self = Priority.allCases[rank - 1]
    }
}
