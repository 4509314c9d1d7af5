public import Foundation

/// CISA's Known Exploited Vulnerabilities catalog (`known_exploited_vulnerabilities.json`).
public enum KEVCatalog {
    public struct Entry: Sendable, Hashable, Codable {
        public var cveID: String
        public var vendorProject: String?
        public var product: String?
        public var vulnerabilityName: String?
        /// `YYYY-MM-DD`.
        public var dateAdded: String
        public var dueDate: String?
        /// `Known` or `Unknown`.
        public var knownRansomwareCampaignUse: String?
        public var requiredAction: String?
    }

    public struct Catalog: Sendable, Hashable, Codable {
        public var catalogVersion: String?
        public var dateReleased: String?
        public var count: Int?
        public var vulnerabilities: [Entry]
    }

    public struct FeedError: Error, CustomStringConvertible, Equatable {
        public var description: String
    }

    /// Reads the catalog (gzip or plain); refuses one whose `count` disagrees with its
    /// entries (a truncated download that still parses) or with an entry that is not a CVE.
    public static func read(file: URL) throws -> Catalog {
        let data = try FeedFile.contents(file, max: 256 << 20)
        let catalog: Catalog
        do {
            catalog = try JSONDecoder().decode(Catalog.self, from: data)
        } catch {
            throw FeedError(description: "\(file.lastPathComponent) is not a KEV catalog: \(error)")
        }
        if let count = catalog.count, count != catalog.vulnerabilities.count {
            throw FeedError(description: "the catalog says count \(count) but lists \(catalog.vulnerabilities.count) entries")
        }
        if let bad = catalog.vulnerabilities.first(where: { !$0.cveID.hasPrefix("CVE-") }) {
            throw FeedError(description: "entry \(bad.cveID) is not a CVE id")
        }
        return catalog
    }
}
