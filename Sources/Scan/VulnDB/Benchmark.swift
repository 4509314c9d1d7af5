public import Foundation

/// Timing hook for `make bench`: builds a synthetic OSV `all.zip`, imports it into a fresh
/// `vulndb.sqlite`, then matches a synthetic inventory against it.
public enum VulnDBBenchmark {
    public struct Result: Sendable, Hashable, Codable {
        public var records: Int
        public var packages: Int
        public var zipBytes: Int
        public var importSeconds: Double
        public var matchSeconds: Double
        public var findings: Int
    }

    static let ecosystems: [(eco: String, type: PackageType, os: String?)] = [
        ("Debian:12", .deb, "debian"), ("PyPI", .python, nil), ("npm", .npm, nil), ("Go", .golang, nil),
        ("Maven", .maven, nil), ("crates.io", .cargo, nil),
    ]

    static func packageName(_ eco: String, _ n: Int) -> String {
        switch eco {
        case "Maven": "org.example\(n % 97):artifact-\(n)"
        case "Go": "github.com/example\(n % 97)/module\(n)"
        default: "package-\(n)"
        }
    }

    /// Deterministic synthetic record `i`.
    static func record(_ i: Int) -> OSVRecord {
        let (eco, _, _) = ecosystems[i % ecosystems.count]
        let n = (i / ecosystems.count) % 20_000
        var r = OSVRecord(id: "BENCH-\(i)", modified: "2024-01-01T00:00:00Z")
        r.aliases = ["CVE-2024-\(10_000 + i)"]
        r.summary = "Synthetic advisory \(i)"
        r.severity = [OSVSeverity(type: "CVSS_V3", score: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N")]
        let fixed = eco == "Debian:12" ? "1.\(i % 10)-1" : "1.\(i % 10).0"
        r.affected = [
            OSVAffected(
                package: OSVPackage(ecosystem: eco, name: packageName(eco, n)),
                ranges: [OSVRange(type: eco == "Debian:12" || eco == "Maven" || eco == "PyPI" ? "ECOSYSTEM" : "SEMVER",
                                  events: [OSVEvent(.introduced, "0"), OSVEvent(.fixed, fixed)])])
        ]
        r.references = [OSVReference(type: "WEB", url: "https://example.invalid/\(i)")]
        return r
    }

    /// Writes `records` synthetic records as an OSV-style zip at `url`.
    public static func writeArchive(records: Int, to url: URL) throws {
        var zip = ZipWriter()
        let encoder = JSONEncoder()
        for i in 0..<records {
            try zip.add(name: "BENCH-\(i).json", contents: try encoder.encode(record(i)))
        }
        try zip.finish().write(to: url)
    }

    /// An inventory of `count` packages spread over the synthetic ecosystems.
    public static func inventory(packages count: Int) -> ImageInventory {
        var pkgs: [InstalledPackage] = []
        for k in 0..<count {
            let (eco, type, _) = ecosystems[k % ecosystems.count]
            let n = (k * 7) % 20_000
            let version = type == .deb ? "1.\(k % 10)-0" : "1.\(k % 10).\(k % 3)"
            pkgs.append(InstalledPackage(name: packageName(eco, n), version: version, type: type, purl: "pkg:generic/\(n)@\(version)"))
        }
        return ImageInventory(os: OSInfo(family: "debian", version: "12"), packages: pkgs)
    }

    /// Runs the whole benchmark in `workDirectory` (files are replaced).
    public static func run(records: Int = 200_000, packages: Int = 5_000, workDirectory: URL) throws -> Result {
        let fm = FileManager.default
        try fm.createDirectory(at: workDirectory, withIntermediateDirectories: true)
        let zipURL = workDirectory.appendingPathComponent("bench-all.zip")
        let dbPath = workDirectory.appendingPathComponent("bench-vulndb.sqlite").path
        for suffix in ["", "-wal", "-shm"] { try? fm.removeItem(atPath: dbPath + suffix) }
        try writeArchive(records: records, to: zipURL)
        let zipBytes = (try? fm.attributesOfItem(atPath: zipURL.path)[.size] as? Int) ?? 0
        let db = try VulnerabilityDatabase(path: dbPath)
        let clock = ContinuousClock()
        let t0 = clock.now
        _ = try db.import(zip: zipURL, source: "bench")
        let t1 = clock.now
        let matcher = VulnerabilityMatcher(database: db)
        let inv = inventory(packages: packages)
        let findings = try matcher.match(inv)
        let t2 = clock.now
        func seconds(_ d: Duration) -> Double {
            Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
        }
        return Result(
            records: records, packages: packages, zipBytes: zipBytes, importSeconds: seconds(t1 - t0),
            matchSeconds: seconds(t2 - t1), findings: findings.count)
    }
}
