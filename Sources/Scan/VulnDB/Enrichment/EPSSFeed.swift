public import Foundation

/// FIRST's daily EPSS scores (`epss_scores-YYYY-MM-DD.csv.gz`): a comment line
/// `#model_version:v2025.03.14,score_date:2025-03-20T00:00:00+0000`, a header
/// `cve,epss,percentile`, then one row per CVE.
public enum EPSSFeed {
    public struct Score: Sendable, Hashable {
        public var cve: String
        /// Probability of exploitation activity in the next 30 days, 0…1.
        public var epss: Double
        /// Rank among all scored CVEs, 0…1.
        public var percentile: Double
    }

    public struct Header: Sendable, Hashable {
        public var modelVersion: String?
        /// As written in the file (`2025-03-20T00:00:00+0000`).
        public var scoreDate: String?
    }

    public struct FeedError: Error, CustomStringConvertible, Equatable {
        public var description: String
    }

    /// Reads the file, calling `each` per row; any malformed row fails the whole read (a
    /// feed is replaced whole or not at all), naming the line.
    public static func read(file: URL, each: (Score) throws -> Void) throws -> (header: Header, rows: Int) {
        var header = Header()
        var rows = 0
        var lineNumber = 0
        var sawColumns = false
        var pending: [UInt8] = []
        func line(_ bytes: ArraySlice<UInt8>) throws {
            lineNumber += 1
            var text = String(decoding: bytes, as: UTF8.self)
            if text.hasSuffix("\r") { text.removeLast() }
            if text.isEmpty { return }
            if text.hasPrefix("#") {
                for field in text.dropFirst().split(separator: ",") {
                    let kv = field.split(separator: ":", maxSplits: 1).map(String.init)
                    guard kv.count == 2 else { continue }
                    switch kv[0] {
                    case "model_version": header.modelVersion = kv[1]
                    case "score_date": header.scoreDate = kv[1]
                    default: break
                    }
                }
                return
            }
            if !sawColumns {
                guard text.lowercased() == "cve,epss,percentile" else {
                    throw FeedError(description: "line \(lineNumber): expected the header cve,epss,percentile, found \(text.prefix(80))")
                }
                sawColumns = true
                return
            }
            let f = text.split(separator: ",", omittingEmptySubsequences: false)
            guard f.count == 3, f[0].hasPrefix("CVE-"), let e = Double(f[1]), let p = Double(f[2]),
                (0...1).contains(e), (0...1).contains(p)
            else {
                throw FeedError(description: "line \(lineNumber): not a cve,epss,percentile row: \(text.prefix(80))")
            }
            try each(Score(cve: String(f[0]), epss: e, percentile: p))
            rows += 1
        }
        try FeedFile.stream(file) { chunk in
            var start = 0
            let bytes = Array(chunk)
            for i in 0..<bytes.count where bytes[i] == 0x0A {
                if pending.isEmpty {
                    try line(bytes[start..<i])
                } else {
                    pending.append(contentsOf: bytes[start..<i])
                    try line(pending[...])
                    pending.removeAll(keepingCapacity: true)
                }
                start = i + 1
            }
            pending.append(contentsOf: bytes[start...])
            if pending.count > 1 << 20 { throw FeedError(description: "line \(lineNumber + 1) is longer than 1 MiB") }
        }
        if !pending.isEmpty { try line(pending[...]) }
        guard sawColumns else { throw FeedError(description: "no cve,epss,percentile header: not an EPSS file") }
        return (header, rows)
    }
}
