import Foundation

/// How one scanner fared on one scan: the native engine always, plus each requested
/// external scanner (`syft`, `trivy`, `grype`).
public struct ScannerRun: Sendable, Codable, Hashable {
    public enum Status: String, Sendable, Codable, Hashable {
        /// Ran and its output was read.
        case ok
        /// Found but did not produce a usable report (exit status, timeout, unreadable output).
        case failed
        /// Not installed (not on the search path): not a failure of the scan.
        case unavailable
    }

    public var name: String
    public var status: Status
    /// The scanner's own version string, when it told us.
    public var version: String?
    public var durationMs: Int
    /// Why it failed or is unavailable.
    public var error: String?

    public init(name: String, status: Status, version: String? = nil, durationMs: Int = 0, error: String? = nil) {
        self.name = name
        self.status = status
        self.version = version
        self.durationMs = durationMs
        self.error = error
    }
}

extension Duration {
    /// Whole milliseconds, rounded down.
    var wholeMilliseconds: Int {
        Int(components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000)
    }
}
