public import Foundation

/// How external scanners are run beyond the layout they read.
///
/// By default a scanner runs with an empty `HOME` inside the scan's work directory, so it
/// keeps nothing between scans and fetches its vulnerability database itself (trivy and
/// grype download theirs on every run). Point `cacheDirectory` at a directory the
/// appliance keeps to reuse their databases (`trivy --cache-dir`, `GRYPE_DB_CACHE_DIR`),
/// and set `offline` when that cache is kept up to date by other means and the scanners
/// must not reach the network (`trivy --skip-db-update --skip-java-db-update
/// --offline-scan`, `GRYPE_DB_AUTO_UPDATE=false GRYPE_DB_VALIDATE_AGE=false`). Nothing of
/// that is assumed.
public struct ExternalScannerOptions: Sendable, Hashable {
    public var cacheDirectory: URL?
    public var offline: Bool
    /// Standard output beyond this many bytes stops the scanner (a failed run).
    public var outputLimit: Int

    public init(cacheDirectory: URL? = nil, offline: Bool = false, outputLimit: Int = 256 << 20) {
        self.cacheDirectory = cacheDirectory
        self.offline = offline
        self.outputLimit = outputLimit
    }
}

/// The external scanners harborguard knows how to run and read.
public enum ExternalScanner: String, Sendable, CaseIterable, Hashable {
    case syft, trivy, grype

    /// What a run gave: its status for the report and, when ok, its normalised output.
    public struct Outcome: Sendable {
        public var run: ScannerRun
        public var result: ExternalScanResult?
        /// The OS the scanner saw (syft's `distro`).
        public var os: OSInfo?
    }

    var versionArguments: [String] {
        switch self {
        case .syft: ["version", "-o", "json"]
        case .trivy: ["--version", "--format", "json"]
        case .grype: ["version", "-o", "json"]
        }
    }

    func scanArguments(layout: URL, timeout: Duration, options: ExternalScannerOptions) -> [String] {
        switch self {
        case .syft:
            return ["scan", "oci-dir:\(layout.path)", "-o", "syft-json", "-q"]
        case .trivy:
            // trivy's own deadline (default 5 min) is set to ours so ours is the one that counts.
            var args = ["image", "--input", layout.path, "--format", "json", "--quiet", "--scanners", "vuln",
                        "--timeout", "\(max(1, timeout.components.seconds))s"]
            if let dir = options.cacheDirectory { args += ["--cache-dir", dir.path] }
            if options.offline { args += ["--skip-db-update", "--skip-java-db-update", "--offline-scan"] }
            return args
        case .grype:
            return ["oci-dir:\(layout.path)", "-o", "json", "-q"]
        }
    }

    func environment(options: ExternalScannerOptions) -> [String: String] {
        switch self {
        case .syft:
            return ["SYFT_CHECK_FOR_APP_UPDATE": "false"]
        case .trivy:
            return ["TRIVY_NO_PROGRESS": "true"]
        case .grype:
            var env = ["GRYPE_CHECK_FOR_APP_UPDATE": "false"]
            if let dir = options.cacheDirectory { env["GRYPE_DB_CACHE_DIR"] = dir.path }
            if options.offline {
                env["GRYPE_DB_AUTO_UPDATE"] = "false"
                env["GRYPE_DB_VALIDATE_AGE"] = "false"
            }
            return env
        }
    }

    /// Reads the scanner's report. `layers` maps uncompressed diff ids to layer digests.
    public func parse(_ data: Data, layers: [String: String] = [:]) throws(ExternalScannerError) -> ExternalScanResult {
        switch self {
        case .syft: try SyftAdapter.parse(data, layers: layers)
        case .trivy: try TrivyAdapter.parse(data, layers: layers)
        case .grype: try GrypeAdapter.parse(data, layers: layers)
        }
    }

    public func parseVersion(_ data: Data) -> String? {
        switch self {
        case .syft: SyftAdapter.version(data)
        case .trivy: TrivyAdapter.version(data)
        case .grype: GrypeAdapter.version(data)
        }
    }

    /// Runs the scanner at `binary` on the OCI layout at `layout`: first its version
    /// command (at most 30 s; a timeout there ends the run), then the scan (at most `timeout`). `home` becomes its
    /// `HOME`; it is created and left for the caller to remove. Never throws: every
    /// problem is a `failed` run with the reason in `error`.
    public func run(
        binary: URL, layout: URL, home: URL, layers: [String: String] = [:], timeout: Duration,
        options: ExternalScannerOptions = .init()
    ) async -> Outcome {
        let start = ContinuousClock.now
        func done(_ status: ScannerRun.Status, version: String?, error: String?) -> ScannerRun {
            ScannerRun(name: rawValue, status: status, version: version, durationMs: (ContinuousClock.now - start).wholeMilliseconds, error: error)
        }
        do {
            try FileManager.default.createDirectory(at: home.appendingPathComponent("tmp"), withIntermediateDirectories: true)
        } catch {
            return Outcome(run: done(.failed, version: nil, error: "cannot create \(home.path): \(error.localizedDescription)"))
        }
        let env = ScannerProcess.environment(home: home, path: nil, extra: environment(options: options))
        var version: String?
        do {
            let out = try await ScannerProcess.run(
                binary, arguments: versionArguments, environment: env, directory: home,
                timeout: min(timeout, .seconds(30)), stdoutLimit: 1 << 20)
            if out.status == 0 { version = parseVersion(out.stdout) }
        } catch .launch(let message) {
            return Outcome(run: done(.failed, version: nil, error: "could not start: \(message)"))
        } catch let error where error.isTimeout {
            // A tool that hangs on printing its version would hang on the scan too.
            return Outcome(run: done(.failed, version: nil, error: error.description))
        } catch {
            // No version is no reason to skip the scan; the scan run says what is wrong.
        }
        do {
            let out = try await ScannerProcess.run(
                binary, arguments: scanArguments(layout: layout, timeout: timeout, options: options),
                environment: env, directory: home, timeout: timeout, stdoutLimit: options.outputLimit)
            guard out.status == 0 else {
                throw ExternalScannerError.exit(status: out.status, stderr: out.stderrTail)
            }
            let result = try parse(out.stdout, layers: layers)
            return Outcome(run: done(.ok, version: version, error: nil), result: result, os: self == .syft ? SyftAdapter.os(out.stdout) : nil)
        } catch {
            return Outcome(run: done(.failed, version: version, error: "\(error)"))
        }
    }
}
