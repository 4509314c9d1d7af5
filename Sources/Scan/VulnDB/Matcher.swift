import Foundation
import GRDB

/// Whether a fix exists for a finding.
public enum FixState: String, Sendable, Hashable, Codable {
    case fixed
    case notFixed = "not-fixed"
    case wontFix = "wont-fix"
    case unknown
}

/// The package a finding is about, as the API shows it.
public struct FindingPackage: Sendable, Hashable, Codable {
    public var name: String
    public var version: String
    public var type: PackageType
    public var purl: String
    public var layer: String?

    public init(name: String, version: String, type: PackageType, purl: String, layer: String?) {
        self.name = name
        self.version = version
        self.type = type
        self.purl = purl
        self.layer = layer
    }
}

/// One vulnerability in one installed package.
public struct Finding: Sendable, Hashable, Codable {
    /// Canonical id: a CVE when any merged advisory has one, else the advisory id.
    public var vulnerabilityId: String
    /// Every other id of the merged advisories (OSV ids, GHSA, …), sorted.
    public var aliases: [String]
    public var severity: Severity
    public var cvss: Double?
    public var package: FindingPackage
    /// The smallest fixed version above the installed one, if any.
    public var fixedVersion: String?
    public var fixState: FixState
    public var title: String?
    public var references: [String]
    public var sources: [String]
    /// The OSV records that produced it.
    public var advisoryIds: [String]
    /// Where `severity` came from (the rule in ``SeverityRule``); nil in findings stored
    /// before the enrichment data existed and in external scanners' findings.
    public var severitySource: SeveritySource?
    /// The CVSS rating behind `severity` (or beside a distribution's rating).
    public var cvssRating: CVSSRating?
    /// FIRST EPSS, when the database has a score for the CVE.
    public var epss: EPSSInfo?
    /// CISA KEV, when the CVE is in the catalog.
    public var kev: KEVInfo?
    /// What to fix first (``Priority/of(kev:epssPercentile:cvssScore:severity:hasFix:)``).
    public var priority: Priority?
    /// `nvd-cpe` when the finding comes from NVD's CPE configurations (software found from its
    /// own files, which no advisory feed covers); nil when OSV advisories matched the package.
    public var matchedBy: String?

    public init(
        vulnerabilityId: String, aliases: [String], severity: Severity, cvss: Double?, package: FindingPackage,
        fixedVersion: String?, fixState: FixState, title: String?, references: [String], sources: [String],
        advisoryIds: [String], severitySource: SeveritySource? = nil
    ) {
        self.severitySource = severitySource
        self.vulnerabilityId = vulnerabilityId
        self.aliases = aliases
        self.severity = severity
        self.cvss = cvss
        self.package = package
        self.fixedVersion = fixedVersion
        self.fixState = fixState
        self.title = title
        self.references = references
        self.sources = sources
        self.advisoryIds = advisoryIds
    }
}

/// How an installed package is looked up: OSV ecosystem keys to query, the indexed name,
/// the version to compare, and the ordering to use.
public struct PackageQuery: Sendable, Hashable {
    public var ecosystems: [String]
    public var name: String
    public var version: String
    public var scheme: VersionScheme
}

/// Matches image inventories against a ``VulnerabilityDatabase``.
public struct VulnerabilityMatcher: Sendable {
    public let database: VulnerabilityDatabase

    public init(database: VulnerabilityDatabase) {
        self.database = database
    }

    /// The OSV lookup for a package in an image with `os`; nil when its ecosystem has no
    /// OSV feed we know how to address (e.g. an rpm on an unrecognised distribution).
    public static func query(for package: InstalledPackage, os: OSInfo?) -> PackageQuery? {
        let family = os?.family.lowercased() ?? ""
        let osVersion = os?.version ?? ""
        let parts = osVersion.split(separator: ".")
        let major = parts.first.map(String.init) ?? ""
        let minor = parts.count > 1 ? String(parts[1]) : nil
        switch package.type {
        case .deb:
            // Debian and Ubuntu advisories are keyed by source package and source version.
            let name = package.sourceName ?? package.name
            let version = package.sourceVersion ?? package.version
            switch family {
            case "debian":
                guard !major.isEmpty else { return nil }
                return PackageQuery(ecosystems: ["Debian:\(major)"], name: name, version: version, scheme: .dpkg)
            case "ubuntu":
                guard !osVersion.isEmpty else { return nil }
                return PackageQuery(ecosystems: ["Ubuntu:\(osVersion)"], name: name, version: version, scheme: .dpkg)
            default:
                return nil
            }
        case .apk:
            let name = package.sourceName ?? package.name
            switch family {
            case "alpine":
                guard !major.isEmpty, let minor else { return nil }
                return PackageQuery(ecosystems: ["Alpine:v\(major).\(minor)"], name: name, version: package.version, scheme: .apk)
            case "wolfi":
                return PackageQuery(ecosystems: ["Wolfi"], name: name, version: package.version, scheme: .apk)
            case "chainguard":
                return PackageQuery(ecosystems: ["Chainguard"], name: name, version: package.version, scheme: .apk)
            default:
                return nil
            }
        case .rpm:
            let eco: String
            switch family {
            case "rocky": eco = "Rocky Linux:\(major)"
            case "almalinux": eco = "AlmaLinux:\(major)"
            case "mariner": eco = "CBL-Mariner:\(major).\(minor ?? "0")"
            case "azurelinux": eco = "Azure Linux:\(major).\(minor ?? "0")"
            case "opensuse-leap": eco = "openSUSE:Leap \(osVersion)"
            default: return nil
            }
            guard !major.isEmpty else { return nil }
            return PackageQuery(ecosystems: [eco], name: package.name, version: package.version, scheme: .rpm)
        case .python:
            return PackageQuery(ecosystems: ["PyPI"], name: OSVEcosystem.pep503(package.name), version: package.version, scheme: .pep440)
        case .npm:
            return PackageQuery(ecosystems: ["npm"], name: package.name, version: package.version, scheme: .semver)
        case .golang:
            var version = package.version
            let name = package.name
            if name == "stdlib" || name == "go" || name == "toolchain" {
                // OSV lists the Go toolchain as `stdlib` with bare versions (1.21.3).
                if version.hasPrefix("go") { version.removeFirst(2) }
                return PackageQuery(ecosystems: ["Go"], name: "stdlib", version: version, scheme: .semver)
            }
            return PackageQuery(ecosystems: ["Go"], name: name, version: version, scheme: .semver)
        case .maven:
            return PackageQuery(ecosystems: ["Maven"], name: mavenName(package), version: package.version, scheme: .maven)
        case .gem:
            return PackageQuery(ecosystems: ["RubyGems"], name: package.name, version: package.version, scheme: .rubygems)
        case .cargo:
            return PackageQuery(ecosystems: ["crates.io"], name: package.name, version: package.version, scheme: .semver)
        case .binary:
            // Runtimes found from their own files have no OSV ecosystem: NVD's CPE
            // configurations are their advisories.
            return nil
        }
    }

    /// `group:artifact`, from the name when it has the group, else from the purl
    /// (`pkg:maven/group/artifact@version`).
    static func mavenName(_ p: InstalledPackage) -> String {
        if p.name.contains(":") { return p.name }
        if p.purl.hasPrefix("pkg:maven/") {
            var rest = p.purl.dropFirst("pkg:maven/".count)
            if let cut = rest.firstIndex(where: { $0 == "@" || $0 == "?" || $0 == "#" }) { rest = rest[..<cut] }
            let parts = rest.split(separator: "/")
            if parts.count == 2 {
                let group = parts[0].removingPercentEncoding ?? String(parts[0])
                let artifact = parts[1].removingPercentEncoding ?? String(parts[1])
                return "\(group):\(artifact)"
            }
        }
        return p.name
    }

    /// Result of evaluating one advisory's entries against one version.
    public struct Evaluation: Sendable, Hashable {
        public var affected: Bool
        public var fixedVersion: String?
        public var fixState: FixState
    }

    /// OSV range semantics (`introduced` / `fixed` / `last_affected` / `limit`, several
    /// ranges ORed, explicit `versions`). SEMVER ranges use SemVer whatever the ecosystem.
    /// A version the scheme cannot parse is only matched by the explicit list.
    public static func evaluate(
        version: String, ranges: [AffectedEntry.Range], versions: [String], scheme: VersionScheme
    ) -> Evaluation {
        var affected = false
        var fixes: [String] = []
        var fixScheme = scheme
        var unfixedRange = false
        for range in ranges {
            let s: VersionScheme = range.type == "SEMVER" ? .semver : scheme
            guard s.isValid(version) else { continue }
            let (hit, fix) = evaluateRange(version, range.events, s)
            if hit {
                affected = true
                if let fix {
                    fixes.append(fix)
                    fixScheme = s
                } else {
                    unfixedRange = true
                }
            }
        }
        if !affected {
            let valid = scheme.isValid(version)
            affected = versions.contains { $0 == version || (valid && scheme.isValid($0) && scheme.compare($0, version) == 0) }
            return Evaluation(affected: affected, fixedVersion: nil, fixState: .unknown)
        }
        let fixed = fixes.min { fixScheme.less($0, $1) }
        let state: FixState = fixed != nil ? .fixed : (unfixedRange ? .notFixed : .unknown)
        return Evaluation(affected: true, fixedVersion: fixed, fixState: state)
    }

    /// One range: walk the events in version order; the last event at or below the
    /// version decides. Returns whether affected and the smallest fix above the version.
    static func evaluateRange(_ v: String, _ events: [OSVEvent], _ s: VersionScheme) -> (Bool, String?) {
        func isZero(_ e: OSVEvent) -> Bool { e.kind == .introduced && e.version == "0" }
        let sorted = events.filter { $0.kind != .limit }.sorted { a, b in
            if isZero(a) != isZero(b) { return isZero(a) }
            let c = isZero(a) ? 0 : s.compare(a.version, b.version)
            if c != 0 { return c < 0 }
            return a.kind == .introduced && b.kind != .introduced
        }
        var affected = false
        for e in sorted {
            switch e.kind {
            case .introduced:
                if isZero(e) || s.compare(v, e.version) >= 0 { affected = true }
            case .fixed:
                if s.compare(v, e.version) >= 0 { affected = false }
            case .lastAffected:
                if s.compare(v, e.version) > 0 { affected = false }
            case .limit:
                break
            }
        }
        let limits = events.filter { $0.kind == .limit && $0.version != "*" }
        if affected && !limits.isEmpty && !limits.contains(where: { s.compare(v, $0.version) < 0 }) {
            affected = false
        }
        guard affected else { return (false, nil) }
        let fix = events.filter { $0.kind == .fixed && s.compare($0.version, v) > 0 }
            .min { s.less($0.version, $1.version) }?.version
        return (true, fix)
    }

    /// Canonical id among an advisory's ids: the smallest CVE id, else the advisory id.
    static func canonicalId(_ id: String, aliases: [String]) -> String {
        if id.hasPrefix("CVE-") { return id }
        return aliases.filter { $0.hasPrefix("CVE-") }.min() ?? id
    }

    /// Findings for every package of the inventory, merged per (canonical id, package,
    /// version), most severe first. The lookups and the range evaluation run inside one read
    /// transaction (one consistent database version).
    public func match(_ inventory: ImageInventory) throws -> [Finding] {
        try database.read { try Self.match(inventory, in: $0) }
    }

    /// The same on GRDB's reader, off the cooperative pool (a large inventory's matching is
    /// seconds of work): what async callers get.
    public func match(_ inventory: ImageInventory) async throws -> [Finding] {
        try await database.read { try Self.match(inventory, in: $0) }
    }

    static func match(_ inventory: ImageInventory, in db: Database) throws -> [Finding] {
        var findings = try matchAdvisories(inventory, in: db)
        findings += try CPEMatching.findings(inventory, in: db)
        try FindingEnrichment.apply(&findings, inventory: inventory, in: db)
        return findings.sorted(by: mostSevereFirst)
    }

    /// Most severe first, then by package name and vulnerability id.
    static func mostSevereFirst(_ a: Finding, _ b: Finding) -> Bool {
        if a.severity != b.severity { return a.severity > b.severity }
        if a.package.name != b.package.name { return a.package.name < b.package.name }
        return a.vulnerabilityId < b.vulnerabilityId
    }

    static func matchAdvisories(_ inventory: ImageInventory, in db: Database) throws -> [Finding] {
        var queries: [(InstalledPackage, PackageQuery)] = []
        var keys: Set<PackageKey> = []
        for p in inventory.packages {
            guard let q = Self.query(for: p, os: inventory.os) else { continue }
            queries.append((p, q))
            for e in q.ecosystems {
                keys.insert(PackageKey(ecosystem: e, name: OSVEcosystem.normalizedName(q.name, ecosystem: e)))
            }
        }
        guard !keys.isEmpty else { return [] }
        var entriesByKey: [PackageKey: [AffectedEntry]] = [:]
        for e in try VulnerabilityDatabase.affectedEntries(db, for: keys) {
            entriesByKey[PackageKey(ecosystem: e.ecosystem, name: e.name), default: []].append(e)
        }
        // (package index, advisory id) → evaluation and per-package severity.
        struct Hit {
            var packageIndex: Int
            var advisoryId: String
            var evaluation: Evaluation
            var severity: Severity
            var cvss: Double?
            var cvssVector: String?
        }
        var hits: [Hit] = []
        for (index, (_, q)) in queries.enumerated() {
            var entries: [AffectedEntry] = []
            for e in q.ecosystems {
                entries += entriesByKey[PackageKey(ecosystem: e, name: OSVEcosystem.normalizedName(q.name, ecosystem: e))] ?? []
            }
            // Several entries of one advisory for one package are ORed.
            let byAdvisory = Dictionary(grouping: entries, by: \.advisoryId)
            for (advisoryId, list) in byAdvisory.sorted(by: { $0.key < $1.key }) {
                var best: Evaluation? = nil
                var severity = Severity.unknown
                var cvss: Double? = nil
                var cvssVector: String? = nil
                for entry in list {
                    let ev = Self.evaluate(version: q.version, ranges: entry.ranges, versions: entry.versions, scheme: q.scheme)
                    guard ev.affected else { continue }
                    if entry.severity > severity { severity = entry.severity }
                    if let c = entry.cvss, c > (cvss ?? -1) { (cvss, cvssVector) = (c, entry.cvssVector) }
                    if let b = best {
                        switch (b.fixedVersion, ev.fixedVersion) {
                        case let (bf?, ef?): if q.scheme.less(ef, bf) { best = ev }
                        case (nil, _?): best = ev
                        default: break
                        }
                    } else {
                        best = ev
                    }
                }
                if let best {
                    hits.append(Hit(packageIndex: index, advisoryId: advisoryId, evaluation: best, severity: severity, cvss: cvss, cvssVector: cvssVector))
                }
            }
        }
        let summaries = try VulnerabilityDatabase.advisorySummaries(db, ids: Set(hits.map(\.advisoryId)))
        // Merge per (canonical id, package identity).
        struct MergeKey: Hashable {
            var canonical: String
            var name: String
            var version: String
            var type: PackageType
        }
        var merged: [MergeKey: Finding] = [:]
        var order: [MergeKey] = []
        for hit in hits {
            guard let adv = summaries[hit.advisoryId] else { continue }
            let (pkg, q) = queries[hit.packageIndex]
            let canonical = Self.canonicalId(adv.id, aliases: adv.aliases)
            let key = MergeKey(canonical: canonical, name: pkg.name, version: pkg.version, type: pkg.type)
            // The package-level rating wins over the advisory's when present.
            let severity = hit.severity != .unknown || hit.cvss != nil ? hit.severity : adv.severity
            let cvss = hit.cvss ?? adv.cvss
            // The vector behind the advisory's score, for the severity rule (FindingEnrichment).
            let rating = CVSS.rating(vector: hit.cvss != nil ? hit.cvssVector : adv.cvssVector, score: cvss, source: adv.id)
            // A distribution's OSV records are its own advisories: their rating is the
            // distribution's. Elsewhere (GHSA, PyPA, Go) it is the advisory's.
            let source: SeveritySource = severity == .unknown ? .none : pkg.type.isOSPackage ? .distribution : .advisory
            let ids = ([adv.id] + adv.aliases).filter { $0 != canonical }
            if var f = merged[key] {
                f.aliases = Array(Set(f.aliases + ids)).sorted()
                f.advisoryIds = Array(Set(f.advisoryIds + [adv.id])).sorted()
                if severity > f.severity {
                    f.severity = severity
                    f.severitySource = source
                }
                if let c = cvss, c > (f.cvss ?? -1) || (c == f.cvss && f.cvssRating == nil) {
                    f.cvss = c
                    f.cvssRating = rating
                }
                if let fix = hit.evaluation.fixedVersion {
                    if let old = f.fixedVersion {
                        if q.scheme.less(fix, old) { f.fixedVersion = fix }
                    } else {
                        f.fixedVersion = fix
                    }
                    f.fixState = .fixed
                } else if f.fixState == .unknown {
                    f.fixState = hit.evaluation.fixState
                }
                if f.title == nil { f.title = adv.title }
                f.references = Array(Set(f.references + adv.references)).sorted()
                merged[key] = f
            } else {
                order.append(key)
                merged[key] = Finding(
                    vulnerabilityId: canonical, aliases: Array(Set(ids)).sorted(), severity: severity, cvss: cvss,
                    package: FindingPackage(name: pkg.name, version: pkg.version, type: pkg.type, purl: pkg.purl, layer: pkg.layer),
                    fixedVersion: hit.evaluation.fixedVersion, fixState: hit.evaluation.fixState, title: adv.title,
                    references: adv.references, sources: ["native"], advisoryIds: [adv.id], severitySource: source)
                merged[key]?.cvssRating = rating
            }
        }
        return order.compactMap { merged[$0] }
    }
}
