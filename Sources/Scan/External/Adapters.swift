public import Foundation

/// What one external scanner's report contributes to a scan.
public struct ExternalScanResult: Sendable, Hashable {
    /// Findings in harborguard's model (`sources` is the scanner's name).
    public var findings: [Finding]
    /// Packages the scanner listed (syft), in harborguard's model.
    public var packages: [InstalledPackage]
    /// Entries left out because harborguard has no package type for them (e.g. syft's
    /// `binary` or `dotnet` packages): counted, never silently dropped.
    public var skipped: Int

    public init(findings: [Finding] = [], packages: [InstalledPackage] = [], skipped: Int = 0) {
        self.findings = findings
        self.packages = packages
        self.skipped = skipped
    }
}

/// Mapping the scanners' package vocabularies onto ``PackageType``.
enum ExternalPackageType {
    /// A purl's type (`pkg:<type>/…`).
    static func fromPURL(_ purl: String?) -> PackageType? {
        guard let purl, purl.hasPrefix("pkg:") else { return nil }
        let rest = purl.dropFirst(4)
        guard let slash = rest.firstIndex(of: "/") else { return nil }
        switch rest[..<slash].lowercased() {
        case "deb": return .deb
        case "apk", "alpine": return .apk
        case "rpm": return .rpm
        case "pypi": return .python
        case "npm": return .npm
        case "golang": return .golang
        case "maven": return .maven
        case "gem": return .gem
        case "cargo": return .cargo
        default: return nil
        }
    }

    /// syft and grype artifact types (syft `pkg.Type`).
    static func fromSyft(_ type: String?) -> PackageType? {
        switch type?.lowercased() {
        case "deb": return .deb
        case "apk": return .apk
        case "rpm": return .rpm
        case "python": return .python
        case "npm": return .npm
        case "go-module": return .golang
        case "java-archive", "jenkins-plugin": return .maven
        case "gem": return .gem
        case "rust-crate": return .cargo
        default: return nil
        }
    }

    /// trivy result types (`Results[].Type`).
    static func fromTrivy(_ type: String?) -> PackageType? {
        switch type?.lowercased() {
        case "debian", "ubuntu": return .deb
        case "alpine", "wolfi", "chainguard": return .apk
        case "redhat", "centos", "rocky", "alma", "amazon", "oracle", "suse", "opensuse", "opensuse.leap",
            "photon", "cbl-mariner", "azurelinux", "fedora":
            return .rpm
        case "python-pkg", "pip", "pipenv", "poetry", "uv": return .python
        case "node-pkg", "npm", "yarn", "pnpm", "bun": return .npm
        case "gobinary", "gomod": return .golang
        case "jar", "pom", "gradle", "sbt": return .maven
        case "gemspec", "bundler": return .gem
        case "cargo", "rustbinary": return .cargo
        default: return nil
        }
    }
}

/// Decoding a scanner's JSON into structs that match its published schema; every field
/// optional but the one that says "this is that report".
enum ExternalJSON {
    static func decode<T: Decodable>(_ type: T.Type, from data: Data, scanner: String) throws(ExternalScannerError) -> T {
        guard !data.isEmpty else { throw .parse(scanner: scanner, detail: "empty output") }
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch let error as DecodingError {
            throw .parse(scanner: scanner, detail: summary(error, data: data))
        } catch {
            throw .parse(scanner: scanner, detail: "\(error)")
        }
    }

    static func summary(_ error: DecodingError, data: Data) -> String {
        let start = String(decoding: data.prefix(40), as: UTF8.self)
            .replacingOccurrences(of: "\n", with: " ").trimmingCharacters(in: .whitespaces)
        switch error {
        case let .dataCorrupted(ctx) where ctx.codingPath.isEmpty:
            return "not valid JSON (starts with \"\(start)\")"
        case let .keyNotFound(key, ctx):
            let path = (ctx.codingPath.map(\.stringValue) + [key.stringValue]).joined(separator: ".")
            return "missing field \(path)"
        case let .typeMismatch(_, ctx), let .valueNotFound(_, ctx), let .dataCorrupted(ctx):
            let path = ctx.codingPath.map(\.stringValue).joined(separator: ".")
            return path.isEmpty ? "unexpected JSON (starts with \"\(start)\")" : "bad field \(path)"
        @unknown default:
            return "unreadable"
        }
    }

    /// First line of a description, at most 200 characters.
    static func title(_ text: String?) -> String? {
        guard let text else { return nil }
        let line = text.split(whereSeparator: \.isNewline).first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        guard !line.isEmpty else { return nil }
        return line.count > 200 ? String(line.prefix(199)) + "…" : line
    }

    /// Canonical id among `ids`: the smallest CVE, else the first.
    static func canonical(_ ids: [String]) -> String {
        ids.filter { $0.hasPrefix("CVE-") }.min() ?? ids.first ?? ""
    }
}

// MARK: - syft

/// syft's own JSON (`syft … -o syft-json`, schema 16): `artifacts[]` becomes packages.
public enum SyftAdapter {
    struct Report: Decodable {
        var artifacts: [Artifact]
        var distro: Distro?
        var descriptor: Descriptor?
    }

    struct Artifact: Decodable {
        var name: String?
        var version: String?
        var type: String?
        var purl: String?
        var locations: [Location]?
        var metadata: Metadata?
    }

    struct Location: Decodable {
        var path: String?
        var layerID: String?
    }

    /// The few metadata fields that name a source package (dpkg, apk).
    struct Metadata: Decodable {
        var source: String?
        var sourceVersion: String?
        var originPackage: String?
    }

    struct Distro: Decodable {
        var id: String?
        var versionID: String?
        var versionCodename: String?
        var prettyName: String?
    }

    struct Descriptor: Decodable {
        var name: String?
        var version: String?
    }

    struct Version: Decodable { var version: String? }

    /// Packages from a syft JSON report. `layers` maps syft's layer ids (the uncompressed
    /// diff ids) to the manifest's layer digests.
    public static func parse(_ data: Data, layers: [String: String] = [:]) throws(ExternalScannerError) -> ExternalScanResult {
        let report = try ExternalJSON.decode(Report.self, from: data, scanner: "syft")
        var packages: [InstalledPackage] = []
        var skipped = 0
        var seen = Set<InstalledPackage>()
        for a in report.artifacts {
            guard let name = a.name, !name.isEmpty, let version = a.version, !version.isEmpty,
                  let type = ExternalPackageType.fromSyft(a.type) ?? ExternalPackageType.fromPURL(a.purl)
            else {
                skipped += 1
                continue
            }
            let location = a.locations?.first
            var p = InstalledPackage(
                name: name, version: version, type: type, purl: a.purl ?? "",
                layer: location?.layerID.map { layers[$0] ?? $0 }, path: location?.path)
            switch type {
            case .deb:
                if let s = a.metadata?.source, !s.isEmpty, s != name { p.sourceName = s }
                if let v = a.metadata?.sourceVersion, !v.isEmpty, v != version { p.sourceVersion = v }
            case .apk:
                if let s = a.metadata?.originPackage, !s.isEmpty, s != name { p.sourceName = s }
            default:
                break
            }
            if seen.insert(p).inserted { packages.append(p) }
        }
        return ExternalScanResult(packages: packages, skipped: skipped)
    }

    /// The OS syft saw, as ``OSInfo``.
    public static func os(_ data: Data) -> OSInfo? {
        guard let report = try? JSONDecoder().decode(Report.self, from: data), let d = report.distro, let id = d.id, !id.isEmpty else { return nil }
        return OSInfo(family: id, version: d.versionID, codename: d.versionCodename, prettyName: d.prettyName)
    }

    /// `syft version -o json` → `version`.
    public static func version(_ data: Data) -> String? {
        (try? JSONDecoder().decode(Version.self, from: data))?.version
    }
}

// MARK: - trivy

/// trivy's JSON report (`trivy image --format json`, SchemaVersion 2):
/// `Results[].Vulnerabilities[]` become findings.
public enum TrivyAdapter {
    struct Report: Decodable {
        var SchemaVersion: Int
        var Results: [Result]?
    }

    struct Result: Decodable {
        var Target: String?
        var Class: String?
        var `Type`: String?
        var Vulnerabilities: [Vulnerability]?
    }

    struct Vulnerability: Decodable {
        var VulnerabilityID: String?
        var VendorIDs: [String]?
        var PkgName: String?
        var PkgIdentifier: PkgIdentifier?
        var InstalledVersion: String?
        var FixedVersion: String?
        var Status: String?
        var Layer: Layer?
        var Title: String?
        var Description: String?
        var Severity: String?
        var CVSS: [String: CVSSEntry]?
        var References: [String]?
        var PrimaryURL: String?
    }

    struct PkgIdentifier: Decodable { var PURL: String? }
    struct Layer: Decodable {
        var Digest: String?
        var DiffID: String?
    }

    struct CVSSEntry: Decodable {
        var V2Score: Double?
        var V3Score: Double?
        var V40Score: Double?
    }

    struct Version: Decodable { var Version: String? }

    public static func parse(_ data: Data, layers: [String: String] = [:]) throws(ExternalScannerError) -> ExternalScanResult {
        let report = try ExternalJSON.decode(Report.self, from: data, scanner: "trivy")
        var findings: [Finding] = []
        var skipped = 0
        for result in report.Results ?? [] {
            for v in result.Vulnerabilities ?? [] {
                guard let id = v.VulnerabilityID, !id.isEmpty, let name = v.PkgName, !name.isEmpty,
                      let version = v.InstalledVersion,
                      let type = ExternalPackageType.fromPURL(v.PkgIdentifier?.PURL) ?? ExternalPackageType.fromTrivy(result.Type)
                else {
                    skipped += 1
                    continue
                }
                let ids = [id] + (v.VendorIDs ?? [])
                let canonical = ExternalJSON.canonical(ids)
                let scores = (v.CVSS ?? [:]).values.compactMap { $0.V40Score ?? $0.V3Score ?? $0.V2Score }
                let fixed = v.FixedVersion.flatMap { $0.isEmpty ? nil : $0 }
                let state: FixState
                if fixed != nil {
                    state = .fixed
                } else {
                    switch v.Status {
                    case "will_not_fix", "end_of_life": state = .wontFix
                    case "affected", "fix_deferred": state = .notFixed
                    default: state = .unknown
                    }
                }
                let layer = v.Layer?.Digest.flatMap { $0.isEmpty ? nil : $0 } ?? v.Layer?.DiffID.flatMap { layers[$0] }
                var refs = v.References ?? []
                if let primary = v.PrimaryURL, !refs.contains(primary) { refs.insert(primary, at: 0) }
                findings.append(Finding(
                    vulnerabilityId: canonical, aliases: Array(Set(ids).subtracting([canonical])).sorted(),
                    severity: v.Severity.flatMap { Severity(word: $0) } ?? .unknown, cvss: scores.max(),
                    package: FindingPackage(name: name, version: version, type: type, purl: v.PkgIdentifier?.PURL ?? "", layer: layer),
                    fixedVersion: fixed, fixState: state, title: v.Title ?? ExternalJSON.title(v.Description),
                    references: Array(Set(refs)).sorted(), sources: ["trivy"], advisoryIds: [id]))
            }
        }
        return ExternalScanResult(findings: findings, skipped: skipped)
    }

    /// `trivy --version --format json` → `Version`.
    public static func version(_ data: Data) -> String? {
        (try? JSONDecoder().decode(Version.self, from: data))?.Version
    }
}

// MARK: - grype

/// grype's JSON report (`grype … -o json`): `matches[]` become findings, with
/// `relatedVulnerabilities[]` as aliases.
public enum GrypeAdapter {
    struct Report: Decodable {
        var matches: [Match]
    }

    struct Match: Decodable {
        var vulnerability: Vulnerability
        var relatedVulnerabilities: [Vulnerability]?
        var artifact: Artifact
    }

    struct Vulnerability: Decodable {
        var id: String
        var severity: String?
        var description: String?
        var urls: [String]?
        var cvss: [CVSS]?
        var fix: Fix?
    }

    struct CVSS: Decodable {
        var version: String?
        var vector: String?
        var metrics: Metrics?
        struct Metrics: Decodable { var baseScore: Double? }
    }

    struct Fix: Decodable {
        var versions: [String]?
        var state: String?
    }

    struct Artifact: Decodable {
        var name: String?
        var version: String?
        var type: String?
        var purl: String?
        var locations: [SyftAdapter.Location]?
    }

    struct Version: Decodable { var version: String? }

    public static func parse(_ data: Data, layers: [String: String] = [:]) throws(ExternalScannerError) -> ExternalScanResult {
        let report = try ExternalJSON.decode(Report.self, from: data, scanner: "grype")
        var findings: [Finding] = []
        var skipped = 0
        for m in report.matches {
            let a = m.artifact
            guard let name = a.name, !name.isEmpty, let version = a.version,
                  let type = ExternalPackageType.fromSyft(a.type) ?? ExternalPackageType.fromPURL(a.purl)
            else {
                skipped += 1
                continue
            }
            let related = m.relatedVulnerabilities ?? []
            let ids = [m.vulnerability.id] + related.map(\.id)
            let canonical = ExternalJSON.canonical(ids)
            let all = [m.vulnerability] + related
            let scores = all.flatMap { $0.cvss ?? [] }.compactMap { $0.metrics?.baseScore }
            // The match's own rating first; a related record's only when it has none.
            var severity = m.vulnerability.severity.flatMap { Severity(word: $0) } ?? .unknown
            if severity == .unknown {
                severity = related.compactMap { $0.severity.flatMap { Severity(word: $0) } }.max() ?? .unknown
            }
            let fixVersions = (m.vulnerability.fix?.versions ?? []).filter { !$0.isEmpty }
            let state: FixState
            switch m.vulnerability.fix?.state {
            case "fixed": state = fixVersions.isEmpty ? .unknown : .fixed
            case "not-fixed": state = .notFixed
            case "wont-fix": state = .wontFix
            default: state = fixVersions.isEmpty ? .unknown : .fixed
            }
            let layer = a.locations?.first?.layerID.map { layers[$0] ?? $0 }
            let title = ExternalJSON.title(m.vulnerability.description) ?? related.lazy.compactMap { ExternalJSON.title($0.description) }.first
            findings.append(Finding(
                vulnerabilityId: canonical, aliases: Array(Set(ids).subtracting([canonical])).sorted(),
                severity: severity, cvss: scores.max(),
                package: FindingPackage(name: name, version: version, type: type, purl: a.purl ?? "", layer: layer),
                fixedVersion: fixVersions.first, fixState: state, title: title,
                references: Array(Set(all.flatMap { $0.urls ?? [] })).sorted(), sources: ["grype"],
                advisoryIds: [m.vulnerability.id]))
        }
        return ExternalScanResult(findings: findings, skipped: skipped)
    }

    /// `grype version -o json` → `version`.
    public static func version(_ data: Data) -> String? {
        (try? JSONDecoder().decode(Version.self, from: data))?.version
    }
}
