import ArgumentParser
import Cron
import Foundation
import Logging
import Registry
import Scan
import Server
import Store

/// `harborguard scan IMAGE`: the native engine as a one-shot CLI for CI pipelines.
struct ScanCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scan",
        abstract: "Scan one image: pull its layers, find every package, match the vulnerability database.",
        discussion: """
            Exit status: 0 when no finding is left after --severity/--ignore-unfixed/--kev/--epss-min (or --exit-code is 0), \
            the --exit-code value when some are, 1 when the scan itself failed.
            Credentials: --username with --password-stdin, or HARBORGUARD_REGISTRY_USERNAME and \
            HARBORGUARD_REGISTRY_PASSWORD, or the image's registry in ~/.docker/config.json.
            """)

    enum Format: String, ExpressibleByArgument, CaseIterable { case table, json, sarif, cyclonedx, spdx }
    enum SortOrder: String, ExpressibleByArgument, CaseIterable {
        case priority, severity, package
        var order: FindingOrder { FindingOrder(rawValue: rawValue) ?? .priority }
    }

    @OptionGroup var global: GlobalOptions
    @Argument(help: "Image reference: [host[:port]/]repo[:tag][@sha256:…]") var image: String
    @Option(help: "Output: table, json, sarif, or the image's SBOM as cyclonedx (CycloneDX 1.6 JSON) or spdx (SPDX 2.3 JSON).")
    var format: Format = .table
    @Option(help: "Exit status when findings remain after filtering.") var exitCode: Int32 = 0
    @Option(help: "Comma-separated severities to report (CRITICAL,HIGH,MEDIUM,LOW,UNKNOWN).") var severity: String?
    @Flag(help: "Leave out findings without a fixed version.") var ignoreUnfixed = false
    @Flag(help: "Report only findings in CISA's Known Exploited Vulnerabilities catalog.") var kev = false
    @Option(help: "Report only findings whose EPSS score is at least this (0 to 1; findings without a score are left out).")
    var epssMin: String?
    @Option(help: "Order of the findings: priority (P1 first, then severity, EPSS score, id), severity, or package.")
    var sort: SortOrder = .priority
    @Option(help: "Platform of a multi-platform image.") var platform: String = "linux/amd64"
    @OptionGroup var access: RegistryAccessOptions
    @Option(help: "Vulnerability database (default <data-dir>/vulndb.sqlite).") var db: String?
    @Flag(help: "Report the inventory only, without a vulnerability database.") var skipDb = false
    @Option(help: "Write the report here instead of standard output.") var output: String?
    @Option(help: "Comma-separated scanners: native (always runs) plus any of syft, trivy, grype; one not on PATH is reported unavailable.")
    var scanners: String = "native"
    @Option(help: "Seconds each external scanner may run before it is stopped.") var scannerTimeout: Int = 600
    @Option(help: "Layers fetched and analysed at once, 1 to 16 (default: the machine's cores, at most 4). Each takes its own inflate buffers.")
    var layerConcurrency: Int?
    @Option(help: ArgumentHelp(
        "A VEX document (OpenVEX 0.2.0 or CycloneDX 1.4-1.6); findings its not_affected or fixed statements except for this image are left out of the report and of --exit-code. Repeatable.",
        valueName: "file"))
    var vex: [String] = []

    func run() async throws {
        var logger = Logger(label: "harborguard.scan")
        logger.logLevel = Logger.Level(rawValue: global.logLevel.lowercased()) ?? .warning
        if logger.logLevel == .info { logger.logLevel = .warning }
        let reference: ImageReference
        do {
            reference = try ImageReference(image)
        } catch {
            fail("\(error)", code: 64)
        }
        guard let wantedPlatform = Platform(parsing: platform) else { fail("--platform must look like linux/amd64", code: 64) }
        var severities: Set<Severity>?
        if let severity {
            var set = Set<Severity>()
            for word in severity.split(separator: ",") {
                guard let s = Severity(rawValue: word.trimmingCharacters(in: .whitespaces).uppercased()) else {
                    fail("unknown severity '\(word)'; use CRITICAL, HIGH, MEDIUM, LOW, UNKNOWN", code: 64)
                }
                set.insert(s)
            }
            severities = set
        }
        var epssThreshold: Double?
        if let epssMin {
            guard let v = FindingFilter.epssThreshold(epssMin) else { fail("--epss-min must be a number from 0 to 1, e.g. 0.5", code: 64) }
            epssThreshold = v
        }
        var external: [String] = []
        for word in scanners.split(separator: ",") {
            let name = word.trimmingCharacters(in: .whitespaces).lowercased()
            guard name == "native" || ExternalScanner(rawValue: name) != nil else {
                fail("unknown scanner '\(word)'; use native, syft, trivy, grype", code: 64)
            }
            if name != "native" { external.append(name) }
        }
        guard scannerTimeout > 0 else { fail("--scanner-timeout must be a positive number of seconds", code: 64) }
        if let layerConcurrency, !(1...16).contains(layerConcurrency) { fail("--layer-concurrency must be from 1 to 16", code: 64) }
        var vexDocuments: [VEXDocument] = []
        for path in vex {
            guard let data = FileManager.default.contents(atPath: path) else { fail("cannot read VEX document \(path)", code: 64) }
            do { vexDocuments.append(try VEXDocument.parse(data)) } catch { fail("VEX document \(path): \(error)", code: 64) }
        }
        var database: VulnerabilityDatabase?
        if !skipDb {
            let path = db ?? DataDirectory(global.dataDir).vulnDBPath
            guard FileManager.default.fileExists(atPath: path) else {
                fail("no vulnerability database at \(path); import OSV records with `harborguard db import PATH`, or pass --skip-db")
            }
            do { database = try VulnerabilityDatabase(path: path) } catch { fail("cannot open \(path): \(error)") }
        }
        let clients = RegistryHTTPClients()
        var report: ImageScanReport
        do {
            let client = try access.client(for: reference, clients: clients, logger: logger)
            // Progress goes to stderr so stdout stays the report alone.
            var scanner = ImageScanner()
            scanner.layerConcurrency = layerConcurrency ?? min(4, max(1, ProcessInfo.processInfo.activeProcessorCount))
            scanner.externalScanners = external
            scanner.scannerTimeout = .seconds(scannerTimeout)
            report = try await scanner.scan(
                reference, client: client, platform: wantedPlatform, database: database,
                progress: { line in FileHandle.standardError.write(Data("harborguard: \(line)\n".utf8)) })
        } catch {
            try? await clients.shutdown()
            fail("scan of \(image) failed: \(error)")
        }
        try? await clients.shutdown()
        let filter = FindingFilter(severities: severities, fixableOnly: ignoreUnfixed, kevOnly: kev, epssMin: epssThreshold)
        // The findings leave the report while they are filtered and sorted, so both happen in
        // place (no copy of each finding).
        var candidates = report.findings
        report.findings = []
        var vexSuppressed: Int?
        if !vexDocuments.isEmpty {
            let applied = VEXFilter(documents: vexDocuments).apply(
                to: candidates, host: reference.registry, repository: reference.repository.name,
                digests: [report.digest, report.manifestDigest])
            candidates = applied.kept
            vexSuppressed = applied.suppressed
        }
        candidates.removeAll { !filter.includes($0) }
        sort.order.sort(&candidates)
        let findings = candidates
        var filtered = report
        filtered.findings = candidates
        filtered.vexSuppressed = vexSuppressed
        let text: String
        switch format {
        case .table: text = Self.table(filtered)
        case .json: text = try Self.json(filtered)
        case .sarif: text = try Self.sarif(filtered)
        case .cyclonedx: text = try Self.sbom(.cyclonedx, filtered)
        case .spdx: text = try Self.sbom(.spdx, filtered)
        }
        if let output {
            do { try Data(text.utf8).write(to: URL(fileURLWithPath: output)) } catch { fail("cannot write \(output): \(error)") }
        } else {
            FileHandle.standardOutput.write(Data(text.utf8))
        }
        if !findings.isEmpty && exitCode != 0 { throw ExitCode(exitCode) }
    }

    static func table(_ r: ImageScanReport) -> String { ScanReportText.table(r) }

    static func json(_ r: ImageScanReport) throws -> String { try ScanReportText.json(r) }

    /// The image's inventory as an SBOM document (no findings in it).
    static func sbom(_ format: SBOMFormat, _ r: ImageScanReport) throws -> String {
        let data = try SBOMWriter.write(
            format, subject: SBOMSubject(reference: r.reference, digest: r.digest, platform: r.platform),
            inventory: ImageInventory(os: r.os, packages: r.packages), createdAt: Date(),
            toolVersion: Harborguard.configuration.version)
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    static func sarif(_ r: ImageScanReport) throws -> String {
        try ScanReportText.sarif(r, toolVersion: Harborguard.configuration.version)
    }
}

/// Credentials from `~/.docker/config.json` (`auths.<host>.auth`, base64 of `user:password`).
enum DockerConfig {
    static func credentials(for host: String) -> RegistryCredentials? {
        let env = ProcessInfo.processInfo.environment
        let dir = env["DOCKER_CONFIG"] ?? (env["HOME"].map { $0 + "/.docker" } ?? "")
        guard let data = FileManager.default.contents(atPath: dir + "/config.json"),
              let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let auths = obj["auths"] as? [String: Any]
        else { return nil }
        let keys = host == ImageReference.dockerHubRegistry
            ? ["https://index.docker.io/v1/", "index.docker.io", "docker.io", host] : [host, "https://\(host)", "http://\(host)"]
        for k in keys {
            if let entry = auths[k] as? [String: Any], let auth = entry["auth"] as? String,
               let decoded = Data(base64Encoded: auth).map({ String(decoding: $0, as: UTF8.self) }),
               let colon = decoded.firstIndex(of: ":")
            {
                return .usernamePassword(username: String(decoded[..<colon]), password: String(decoded[decoded.index(after: colon)...]))
            }
        }
        return nil
    }
}
