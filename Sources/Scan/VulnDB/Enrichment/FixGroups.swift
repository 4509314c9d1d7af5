/// One upgrade and what it closes: every finding of `package` whose fixed version is
/// `fixedVersion` ("upgrade openssl to 3.0.15-1~deb12u1: closes 12 findings, 2 KEV").
public struct FixGroup: Sendable, Hashable, Codable {
    public var package: String
    public var packageType: PackageType
    public var fixedVersion: String
    /// Findings the upgrade closes (one per vulnerability and installed package, per image
    /// when the findings come from several images).
    public var findings: Int
    /// How many of them are in CISA KEV.
    public var kev: Int
    /// The most urgent priority among them (nil only when none of them has one).
    public var bestPriority: Priority?
    /// The highest severity among them.
    public var highestSeverity: Severity
    /// Distinct vulnerability ids, sorted.
    public var vulnerabilityIds: [String]
    /// Distinct images, when the caller names each finding's image (0 otherwise).
    public var images: Int

    public init(
        package: String, packageType: PackageType, fixedVersion: String, findings: Int, kev: Int, bestPriority: Priority?,
        highestSeverity: Severity, vulnerabilityIds: [String], images: Int
    ) {
        self.package = package
        self.packageType = packageType
        self.fixedVersion = fixedVersion
        self.findings = findings
        self.kev = kev
        self.bestPriority = bestPriority
        self.highestSeverity = highestSeverity
        self.vulnerabilityIds = vulnerabilityIds
        self.images = images
    }
}

public enum FixGroups {
    /// Groups fixable findings (those with a fixed version) by (package type, package name,
    /// fixed version), ordered by the best priority they close (P1 first, none last), then
    /// by the number of findings (more first), then KEV count (more first), then package
    /// name and fixed version. Findings without a fixed version close no group.
    public static func of(_ findings: [Finding]) -> [FixGroup] {
        of(findings, finding: { $0 }, image: { _ in nil })
    }

    /// The same over findings of several images: `image` names each one's image, and each
    /// group counts the distinct images it touches.
    public static func of<S: Sequence>(_ items: S, finding: (S.Element) -> Finding, image: (S.Element) -> String?) -> [FixGroup] {
        var groups: [Key: Acc] = [:]
        for item in items {
            let f = finding(item)
            guard let fixed = f.closesWithUpgrade else { continue }
            let key = Key(type: f.package.type, name: f.package.name, fixed: fixed)
            var acc = groups[key] ?? Acc(group: FixGroup(
                package: f.package.name, packageType: f.package.type, fixedVersion: fixed, findings: 0, kev: 0, bestPriority: nil,
                highestSeverity: .unknown, vulnerabilityIds: [], images: 0))
            acc.group.findings += 1
            if f.kev != nil { acc.group.kev += 1 }
            if let p = f.priority, acc.group.bestPriority.map({ p < $0 }) ?? true { acc.group.bestPriority = p }
            acc.group.highestSeverity = max(acc.group.highestSeverity, f.severity)
            acc.ids.insert(f.vulnerabilityId)
            if let i = image(item) { acc.images.insert(i) }
            groups[key] = acc
        }
        return groups.values.map { acc in
            var g = acc.group
            g.vulnerabilityIds = acc.ids.sorted()
            g.images = acc.images.count
            return g
        }.sorted(by: ordered)
    }

    private struct Key: Hashable {
        var type: PackageType
        var name: String
        var fixed: String
    }

    private struct Acc {
        var group: FixGroup
        var ids: Set<String> = []
        var images: Set<String> = []
    }

    /// The order of ``of(_:)``.
    public static func ordered(_ a: FixGroup, _ b: FixGroup) -> Bool {
        let pa = a.bestPriority?.rank ?? Priority.allCases.count + 1
        let pb = b.bestPriority?.rank ?? Priority.allCases.count + 1
        if pa != pb { return pa < pb }
        if a.findings != b.findings { return a.findings > b.findings }
        if a.kev != b.kev { return a.kev > b.kev }
        if a.package != b.package { return a.package < b.package }
        if a.fixedVersion != b.fixedVersion { return a.fixedVersion < b.fixedVersion }
        return a.packageType.rawValue < b.packageType.rawValue
    }
}
