public import Foundation

/// The Debian security tracker's JSON export (`https://security-tracker.debian.org/tracker/data/json`):
/// `{source package: {CVE id: {description, releases: {codename: {status, fixed_version,
/// urgency, nodsa, nodsa_reason, repositories}}}}}`, read one source package at a time.
public enum DebianTracker {
    /// One (source package, CVE, release) statement.
    public struct Statement: Sendable, Hashable {
        public var sourcePackage: String
        public var cve: String
        /// Codename: `bookworm`, `trixie`, …
        public var release: String
        /// `resolved`, `open` or `undetermined`.
        public var status: String
        public var fixedVersion: String?
        /// As written: `unimportant`, `low`, `medium`, `high`, `not yet assigned`,
        /// `end-of-life`, or an NVD-derived `low*`, `medium**`, …
        public var urgency: String?
        public var nodsaReason: String?

        /// Debian's own rating, when it gives one; nil for `not yet assigned`, for values
        /// derived from NVD (with asterisks) and for `end-of-life`.
        public var severity: Severity? { DebianTracker.severity(urgency: urgency) }

        /// What Debian says about a fix: `end-of-life` (no fix will come for this release)
        /// and `nodsa_reason: ignored` are wont-fix; `postponed` stays not-fixed.
        public var fixState: FixState {
            if status == "resolved", let v = fixedVersion, !v.isEmpty, v != "0" { return .fixed }
            if urgency == "end-of-life" || nodsaReason == "ignored" { return .wontFix }
            return status == "open" || status == "undetermined" ? .notFixed : .unknown
        }
    }

    public struct FeedError: Error, CustomStringConvertible, Equatable {
        public var description: String
    }

    /// The mapping the README states as a table.
    public static func severity(urgency: String?) -> Severity? {
        switch urgency {
        case "unimportant", "low": .low
        case "medium": .medium
        case "high": .high
        default: nil
        }
    }

    /// Reads the export, calling `each` per statement about a CVE (the tracker's `TEMP-…`
    /// placeholders for issues without a CVE id are skipped). Returns how many source
    /// packages were read.
    @discardableResult
    public static func read(file: URL, each: (Statement) throws -> Void) throws -> Int {
        var splitter = JSONStreamSplitter(target: .members)
        let decoder = JSONDecoder()
        try FeedFile.stream(file) { chunk in
            try splitter.feed(chunk) { key, bytes in
                guard let package = key else { return }
                let issues: [String: Issue]
                do {
                    issues = try decoder.decode([String: Issue].self, from: Data(bytes))
                } catch {
                    throw FeedError(description: "source package \(package): not a tracker entry: \(error)")
                }
                for (cve, issue) in issues.sorted(by: { $0.key < $1.key }) where cve.hasPrefix("CVE-") {
                    for (release, r) in (issue.releases ?? [:]).sorted(by: { $0.key < $1.key }) {
                        try each(
                            Statement(
                                sourcePackage: package, cve: cve, release: release, status: r.status ?? "undetermined",
                                fixedVersion: r.fixed_version, urgency: r.urgency, nodsaReason: r.nodsa_reason))
                    }
                }
            }
        }
        do { try splitter.finish() } catch { throw FeedError(description: "\(file.lastPathComponent): \(error)") }
        return splitter.count
    }

    struct Issue: Decodable {
        var releases: [String: Release]?
    }

    struct Release: Decodable {
        var status: String?
        var fixed_version: String?
        var urgency: String?
        var nodsa_reason: String?
    }
}
