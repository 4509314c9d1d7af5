import Foundation
import GRDB

/// FIRST EPSS of a finding's CVE.
public struct EPSSInfo: Sendable, Hashable, Codable {
    public var score: Double
    public var percentile: Double
    /// The score file's date.
    public var date: String?

    public init(score: Double, percentile: Double, date: String?) {
        self.score = score
        self.percentile = percentile
        self.date = date
    }
}

/// CISA KEV of a finding's CVE.
public struct KEVInfo: Sendable, Hashable, Codable {
    public var dateAdded: String
    public var dueDate: String?
    /// `knownRansomwareCampaignUse` is `Known`.
    public var ransomware: Bool
    public var requiredAction: String?

    public init(dateAdded: String, dueDate: String?, ransomware: Bool, requiredAction: String?) {
        self.dateAdded = dateAdded
        self.dueDate = dueDate
        self.ransomware = ransomware
        self.requiredAction = requiredAction
    }
}

extension PackageType {
    /// Packages of the operating system (their advisories are the distribution's own).
    public var isOSPackage: Bool { self == .deb || self == .apk || self == .rpm }
}

/// Debian release codenames by major version, for the security tracker's statements.
enum DebianRelease {
    static let codenames = ["9": "stretch", "10": "buster", "11": "bullseye", "12": "bookworm", "13": "trixie", "14": "forky"]

    static func codename(_ os: OSInfo?) -> String? {
        guard let os, os.family.lowercased() == "debian", let v = os.version else { return nil }
        return codenames[String(v.split(separator: ".").first ?? "")]
    }
}

/// Adds what the enrichment feeds know to matched findings: the severity by the documented
/// rule (``SeverityRule``), the CVSS behind it, EPSS, KEV, the Debian tracker's urgency and
/// no-fix decisions, and the priority. Runs in the matcher's read transaction; an empty
/// enrichment database leaves severities as the advisories gave them and still sets a
/// priority (from severity and fix alone).
enum FindingEnrichment {
    static func apply(_ findings: inout [Finding], inventory: ImageInventory, in db: Database) throws {
        guard !findings.isEmpty else { return }
        var cves: Set<String> = []
        for f in findings {
            if f.vulnerabilityId.hasPrefix("CVE-") { cves.insert(f.vulnerabilityId) }
            for id in f.aliases where id.hasPrefix("CVE-") { cves.insert(id) }
        }
        let data = try VulnerabilityDatabase.matchData(db, cves: cves)
        var codename = DebianRelease.codename(inventory.os)
        if codename != nil, try !VulnerabilityDatabase.hasDebianStatements(db) { codename = nil }
        var sources: [String: String] = [:]
        if codename != nil {
            for p in inventory.packages where p.type == .deb { sources["\(p.name)\u{1F}\(p.version)"] = p.sourceName ?? p.name }
        }
        // Each finding is changed in place (no copy of the finding), and its CVE ids are
        // walked once for the three sources.
        func enrich(_ f: inout Finding) throws {
            var inNVD = false
            var nvdRating: CVSSRating?
            var epss: EPSSInfo?
            var kev: KEVInfo?
            func visit(_ id: String) {
                guard id.hasPrefix("CVE-"), let e = data[id] else { return }
                // The first CVE id NVD knows gives the rating (as the first NVD record did).
                if !inNVD && e.inNVD { (inNVD, nvdRating) = (true, e.rating) }
                if epss == nil { epss = e.epss }
                if kev == nil { kev = e.kev }
            }
            visit(f.vulnerabilityId)
            for alias in f.aliases { visit(alias) }

            var distribution: Severity? = f.severitySource == .distribution ? f.severity : nil
            if let codename, f.package.type == .deb, let source = sources["\(f.package.name)\u{1F}\(f.package.version)"] {
                for cve in [f.vulnerabilityId] + f.aliases where cve.hasPrefix("CVE-") {
                    guard let st = try VulnerabilityDatabase.debianStatement(db, sourcePackage: source, cve: cve, release: codename)
                    else { continue }
                    if let s = st.severity { distribution = s }
                    if f.fixState != .fixed && st.fixState == .wontFix { f.fixState = .wontFix }
                    break
                }
            }
            // The matcher set the advisory's own rating (its score and the vector stored beside it).
            let advisoryCVSS = f.cvss != nil ? f.cvssRating : nil
            let choice = SeverityRule.choose(
                distribution: distribution, advisory: f.severitySource == .advisory ? f.severity : nil,
                advisoryCVSS: advisoryCVSS, nvdRating: nvdRating)
            f.severity = choice.severity
            f.severitySource = choice.source
            f.cvssRating = choice.cvss
            f.epss = epss
            f.kev = kev
            f.priority = f.computedPriority
        }
        for i in findings.indices {
            try enrich(&findings[i])
        }
    }
}
