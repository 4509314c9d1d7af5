public import Foundation
import Crypto
import Registry

/// One CVSS rating of a CVE as NVD publishes it.
public struct CVSSRating: Sendable, Hashable, Codable {
    /// `"4.0"`, `"3.1"`, `"3.0"` or `"2.0"`.
    public var version: String
    public var vector: String
    public var score: Double
    /// `Primary` (the CNA or NVD's own analysis) or `Secondary`.
    public var type: String
    /// Who rated it (`nvd@nist.gov`, a CNA's address).
    public var source: String

    public init(version: String, vector: String, score: Double, type: String, source: String) {
        self.version = version
        self.vector = vector
        self.score = score
        self.type = type
        self.source = source
    }

    /// The level this rating means, by its own version's bands: CVSS v2 has no CRITICAL
    /// (7.0 and above is HIGH, 4.0–6.9 MEDIUM, below LOW); v3 and v4 share 9/7/4/0.1.
    public var severity: Severity {
        if version.hasPrefix("2") {
            switch score {
            case 7...: return .high
            case 4..<7: return .medium
            case let s where s > 0: return .low
            default: return .unknown
            }
        }
        return Severity(score: score)
    }
}

/// What harborguard keeps of an NVD CVE record.
public struct NVDRecord: Sendable, Hashable, Codable {
    public var id: String
    public var published: String?
    public var lastModified: String?
    public var status: String?
    public var description: String?
    public var cwes: [String]
    public var ratings: [CVSSRating]
    /// The CPE configurations (which software, which versions, on what platform). Stored in
    /// a table of their own (``VulnerabilityDatabase/nvdConfigurations(_:cves:)``), not in the
    /// record's JSON.
    public var configurations: [CPEConfiguration] = []

    enum CodingKeys: String, CodingKey {
        case id, published, lastModified, status, description, cwes, ratings
    }

    public init(
        id: String, published: String?, lastModified: String?, status: String?, description: String?, cwes: [String],
        ratings: [CVSSRating], configurations: [CPEConfiguration] = []
    ) {
        self.id = id
        self.published = published
        self.lastModified = lastModified
        self.status = status
        self.description = description
        self.cwes = cwes
        self.ratings = ratings
        self.configurations = configurations
    }

    /// NVD's preferred rating: the newest CVSS version present (4.0, 3.1, 3.0, 2.0), and
    /// within a version the `Primary` entry before a `Secondary` one.
    public var preferredRating: CVSSRating? {
        let order = ["4.0": 0, "3.1": 1, "3.0": 2, "2.0": 3]
        return ratings.min { a, b in
            let va = order[a.version] ?? 9
            let vb = order[b.version] ?? 9
            if va != vb { return va < vb }
            return (a.type == "Primary" ? 0 : 1) < (b.type == "Primary" ? 0 : 1)
        }
    }
}

/// The NVD CVE JSON 2.0 data feeds (`nvdcve-2.0-YYYY.json.gz`, `nvdcve-2.0-modified.json.gz`,
/// each with a `.meta` file), read streaming: one `vulnerabilities[]` element in memory at a time.
public enum NVDFeed {
    public struct FeedError: Error, CustomStringConvertible, Equatable {
        public var description: String
    }

    /// A feed's `.meta` file: `lastModifiedDate`, sizes, and the SHA-256 of the uncompressed JSON.
    public struct Meta: Sendable, Hashable {
        public var lastModifiedDate: String?
        public var size: Int?
        public var gzSize: Int?
        /// Lowercase hex.
        public var sha256: String

        public static func parse(_ text: String) throws -> Meta {
            var fields: [String: String] = [:]
            for line in text.split(whereSeparator: \.isNewline) {
                guard let colon = line.firstIndex(of: ":") else { continue }
                let k = line[..<colon].trimmingCharacters(in: .whitespaces)
                fields[k] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
            guard let sha = fields["sha256"]?.lowercased(), sha.count == 64, sha.allSatisfy(\.isHexDigit) else {
                throw FeedError(description: "the .meta file has no sha256 line")
            }
            return Meta(
                lastModifiedDate: fields["lastModifiedDate"], size: fields["size"].flatMap { Int($0) },
                gzSize: fields["gzSize"].flatMap { Int($0) }, sha256: sha)
        }
    }

    /// What reading one feed found.
    public struct ReadSummary: Sendable, Hashable {
        public var records = 0
        /// SHA-256 of the uncompressed JSON (lowercase hex), to compare with the `.meta`.
        public var sha256 = ""
        public var uncompressedBytes: Int64 = 0
    }

    /// Reads a feed file (gzip or plain JSON), calling `each` for every CVE in it. Fails on
    /// a corrupt gzip stream, truncated JSON, or an element that is not a CVE record; when
    /// `expectedSHA256` is given (from the `.meta`), fails unless the JSON hashes to it.
    public static func read(
        file: URL, expectedSHA256: String? = nil, each: (NVDRecord) throws -> Void
    ) throws -> ReadSummary {
        var splitter = JSONStreamSplitter(target: .elementsOf(key: "vulnerabilities"))
        var hasher = SHA256()
        var summary = ReadSummary()
        let decoder = JSONDecoder()
        try FeedFile.stream(file) { chunk in
            hasher.update(bufferPointer: chunk)
            summary.uncompressedBytes += Int64(chunk.count)
            try splitter.feed(chunk) { _, bytes in
                let item: Item
                do {
                    item = try decoder.decode(Item.self, from: Data(bytes))
                } catch {
                    throw FeedError(description: "vulnerabilities[\(summary.records)] is not an NVD CVE record: \(error)")
                }
                try each(item.cve.record)
                summary.records += 1
            }
        }
        do { try splitter.finish() } catch { throw FeedError(description: "\(file.lastPathComponent): \(error)") }
        summary.sha256 = hasher.finalize().hexString
        if let expected = expectedSHA256?.lowercased(), expected != summary.sha256 {
            throw FeedError(
                description: "\(file.lastPathComponent): SHA-256 of the JSON is \(summary.sha256), the .meta file says \(expected)")
        }
        return summary
    }

    // MARK: The feed's JSON (the fields harborguard reads)

    struct Item: Decodable {
        var cve: CVE
    }

    struct CVE: Decodable {
        var id: String
        var published: String?
        var lastModified: String?
        var vulnStatus: String?
        var descriptions: [LangString]?
        var metrics: Metrics?
        var weaknesses: [Weakness]?
        var configurations: [CPEConfiguration]?

        var record: NVDRecord {
            var ratings: [CVSSRating] = []
            for m in metrics?.cvssMetricV40 ?? [] { ratings.append(m.rating) }
            for m in metrics?.cvssMetricV31 ?? [] { ratings.append(m.rating) }
            for m in metrics?.cvssMetricV30 ?? [] { ratings.append(m.rating) }
            for m in metrics?.cvssMetricV2 ?? [] { ratings.append(m.rating) }
            var cwes: [String] = []
            for w in weaknesses ?? [] {
                for d in w.description where d.value.hasPrefix("CWE-") && !cwes.contains(d.value) { cwes.append(d.value) }
            }
            return NVDRecord(
                id: id, published: published, lastModified: lastModified, status: vulnStatus,
                description: descriptions?.first { $0.lang == "en" }?.value, cwes: cwes, ratings: ratings,
                configurations: configurations ?? [])
        }
    }

    struct LangString: Decodable {
        var lang: String
        var value: String
    }

    struct Metrics: Decodable {
        var cvssMetricV40: [Metric]?
        var cvssMetricV31: [Metric]?
        var cvssMetricV30: [Metric]?
        var cvssMetricV2: [Metric]?
    }

    struct Metric: Decodable {
        var source: String
        var type: String
        var cvssData: CVSSData

        var rating: CVSSRating {
            CVSSRating(version: cvssData.version, vector: cvssData.vectorString, score: cvssData.baseScore, type: type, source: source)
        }
    }

    struct CVSSData: Decodable {
        var version: String
        var vectorString: String
        var baseScore: Double
    }

    struct Weakness: Decodable {
        var description: [LangString]
    }
}
