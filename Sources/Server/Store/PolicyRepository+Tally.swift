package import Cron
package import Foundation

extension PolicyRepository {
    /// One current scan's stored verdict detail (the latest scan of one of the image's tags).
    package struct CurrentVerdict: Sendable, Hashable {
        package var imageId: String
        package var scanId: String
        package var detail: Data
    }

    /// The stored verdicts of the current scans of an organization's images (every image, or
    /// those in `imageIds`): what the console's badges and per-policy counts are tallied from.
    package static func currentVerdicts(_ db: any SQLConnection, org: String, imageIds: [String]? = nil) throws -> [CurrentVerdict] {
        func rows(_ filter: String, _ args: [any SQLBindable]) throws -> [CurrentVerdict] {
            try db.query("""
                    SELECT DISTINCT t.image_id, v.scan_id, v.detail
                    FROM image_tags t JOIN images i ON i.id = t.image_id JOIN policy_verdicts v ON v.scan_id = t.last_scan_id
                    WHERE i.org_id = ?\(filter) ORDER BY t.image_id, v.scan_id
                    """, [org as any SQLBindable] + args
            ).map { CurrentVerdict(imageId: $0["image_id"], scanId: $0["scan_id"], detail: $0["detail"]) }
        }
        guard let imageIds else { return try rows("", []) }
        var out: [CurrentVerdict] = []
        for start in stride(from: 0, to: imageIds.count, by: 500) {
            let chunk = Array(imageIds[start..<min(start + 500, imageIds.count)])
            let marks = Array(repeating: "?", count: chunk.count).joined(separator: ",")
            out += try rows(" AND t.image_id IN (\(marks))", chunk as [any SQLBindable])
        }
        return out
    }
}
