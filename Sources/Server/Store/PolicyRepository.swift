package import Cron
package import Foundation
import GRDB

/// The policies aggregate: an organization's policies and the verdict stored with each scan.
package enum PolicyRepository {
    package static func insert(_ db: any SQLConnection, _ policy: PolicyRecord) throws {
        try policy.insert(into: db)
    }

    package static func update(_ db: any SQLConnection, _ policy: PolicyRecord) throws {
        try policy.update(in: db)
    }

    package static func delete(_ db: any SQLConnection, id: String) throws {
        try db.execute("DELETE FROM policies WHERE id = ?", [id])
    }

    package static func policy(_ db: any SQLConnection, id: String, org: String) throws -> PolicyRecord? {
        try db.fetchOne(PolicyRecord.self, "SELECT * FROM policies WHERE id = ? AND org_id = ?", [id, org])
    }

    package static func nameExists(_ db: any SQLConnection, org: String, name: String, except id: String? = nil) throws -> Bool {
        try db.bool("SELECT EXISTS (SELECT 1 FROM policies WHERE org_id = ? AND name = ?2 AND (CAST(?3 AS TEXT) IS NULL OR id <> ?3))", [org, name, id]) ?? false
    }

    /// An organization's policies, oldest first.
    package static func policies(_ db: any SQLConnection, org: String, limit: Int, offset: Int) throws -> (policies: [PolicyRecord], total: Int) {
        let total = try db.int("SELECT COUNT(*) FROM policies WHERE org_id = ?", [org]) ?? 0
        let rows = try db.fetchAll(PolicyRecord.self, "SELECT * FROM policies WHERE org_id = ? ORDER BY created_at, id LIMIT ? OFFSET ?", [org, limit, offset])
        return (rows, total)
    }

    /// Every enabled policy of an organization (what an evaluation reads).
    package static func enabledPolicies(_ db: any SQLConnection, org: String) throws -> [PolicyRecord] {
        try db.fetchAll(PolicyRecord.self, "SELECT * FROM policies WHERE org_id = ? AND enabled = 1 ORDER BY created_at, id", [org])
    }

    // MARK: Verdicts

    /// A stored verdict: `detail` is the server's JSON (violations, noData, policy ids).
    package struct StoredVerdict: Sendable, Hashable {
        package var scanId: String
        package var verdict: String
        package var violationCount: Int
        package var detail: Data
        package var evaluatedAt: Date

        package init(scanId: String, verdict: String, violationCount: Int, detail: Data, evaluatedAt: Date) {
            self.scanId = scanId
            self.verdict = verdict
            self.violationCount = violationCount
            self.detail = detail
            self.evaluatedAt = evaluatedAt
        }
    }

    /// Stores (or replaces) the verdict of a scan; answers the verdict it replaced.
    @discardableResult
    package static func storeVerdict(_ db: any SQLConnection, _ v: StoredVerdict) throws -> String? {
        let previous = try db.string("SELECT verdict FROM policy_verdicts WHERE scan_id = ?", [v.scanId])
        try db.execute("""
                INSERT INTO policy_verdicts (scan_id, verdict, violation_count, detail, evaluated_at) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT (scan_id) DO UPDATE SET verdict = excluded.verdict, violation_count = excluded.violation_count,
                    detail = excluded.detail, evaluated_at = excluded.evaluated_at
                """, [v.scanId, v.verdict, v.violationCount, v.detail, v.evaluatedAt])
        return previous
    }

    package static func verdict(_ db: any SQLConnection, scanId: String) throws -> StoredVerdict? {
        try db.queryOne("SELECT * FROM policy_verdicts WHERE scan_id = ?", [scanId]
        ).map(Self.verdict(from:))
    }

    /// The verdicts (without detail) of several scans, by scan id: what a list shows.
    package static func verdicts(_ db: any SQLConnection, scanIds: [String]) throws -> [String: (verdict: String, violationCount: Int, evaluatedAt: Date)] {
        guard !scanIds.isEmpty else { return [:] }
        var out: [String: (verdict: String, violationCount: Int, evaluatedAt: Date)] = [:]
        for chunk in stride(from: 0, to: scanIds.count, by: 500).map({ Array(scanIds[$0..<min($0 + 500, scanIds.count)]) }) {
            let marks = Array(repeating: "?", count: chunk.count).joined(separator: ",")
            for row in try db.query("SELECT scan_id, verdict, violation_count, evaluated_at FROM policy_verdicts WHERE scan_id IN (\(marks))", chunk)
            {
                out[row["scan_id"]] = (row["verdict"], row["violation_count"], row["evaluated_at"])
            }
        }
        return out
    }

    static func verdict(from row: SQLRow) -> StoredVerdict {
        StoredVerdict(
            scanId: row["scan_id"], verdict: row["verdict"], violationCount: row["violation_count"], detail: row["detail"],
            evaluatedAt: row["evaluated_at"])
    }

    // MARK: Evaluation inputs

    /// One stored finding as a policy reads it.
    package struct FindingInput: Sendable, Hashable {
        package var seq: Int
        package var vulnerabilityId: String
        package var severityRank: Int
        package var fixable: Bool
        package var pkgName: String
        package var pkgVersion: String
        package var pkgType: String
        package var purl: String
        package var kev: Bool
        package var epssPercentile: Double?
        package var firstDetectedAt: Date?
    }

    /// A scan's findings with when each vulnerability was first detected in the organization
    /// (for the same package). The purl (read from the finding's JSON) and the first sighting
    /// (a join) are read only when asked for: only package rules need the one, SLA rules the other.
    package static func findings(_ db: any SQLConnection, scanId: String, org: String, purls: Bool = true, firstSeen: Bool = true) throws
        -> [FindingInput]
    {
        // Rows one at a time and columns by position: a name lookup per column and row was a
        // fifth of a 10,000-finding check.
        var out: [FindingInput] = []
        try db.each("""
            SELECT f.seq, f.vulnerability_id, f.severity_rank, f.fixable, f.pkg_name, f.pkg_version, f.pkg_type,
                CASE WHEN ?3 = 1 THEN COALESCE(f.purl, \(db.dialect.json("f.detail", "package", "purl"))) END AS purl, f.kev, f.epss_percentile,
                CASE WHEN ?4 = 1 THEN (SELECT s.first_detected_at FROM vulnerability_sightings s
                    WHERE s.org_id = ?1 AND s.vulnerability_id = f.vulnerability_id AND s.pkg_name = f.pkg_name) END
                    AS first_detected_at
            FROM findings f
            WHERE f.scan_id = ?2 ORDER BY f.seq
            """, [org, scanId, purls, firstSeen]
        ) { row in
            out.append(FindingInput(
                seq: row[0], vulnerabilityId: row[1], severityRank: row[2], fixable: row[3], pkgName: row[4], pkgVersion: row[5],
                pkgType: row[6], purl: row[7] ?? "", kev: row[8], epssPercentile: row[9], firstDetectedAt: row[10]))
        }
        return out
    }

    /// The triage decisions that except a vulnerability on an image (organization-wide or on
    /// the image): WONT_FIX and NOT_AFFECTED, with their expiry (in force or not: the caller
    /// decides against its own clock).
    package static func exceptions(_ db: any SQLConnection, org: String, imageId: String) throws -> [(vulnerabilityId: String, expiresAt: Date?)] {
        try db.query("""
                    SELECT vulnerability_id, expires_at FROM triage
                    WHERE org_id = ? AND image_id IN ('', ?) AND status IN ('WONT_FIX', 'NOT_AFFECTED')
                    """, [org, imageId]
        ).map { ($0["vulnerability_id"], $0["expires_at"]) }
    }
}

extension PolicyRepository {
    /// What scope matching reads of a scan: its organization, registry, repository, image and
    /// the image's tags pointing at the scanned digest (the scan's own tag included).
    package struct ScanContext: Sendable {
        package var orgId: String
        package var registryId: String
        package var repository: String
        package var imageId: String?
        package var tags: [String]
    }

    package static func scanContext(_ db: any SQLConnection, scanId: String) throws -> ScanContext? {
        guard let row = try db.queryOne("SELECT org_id, registry_id, repository, image_id, tag, digest FROM scans WHERE id = ?", [scanId])
        else { return nil }
        var tags: [String] = []
        if let t: String = row["tag"] { tags.append(t) }
        if let imageId: String = row["image_id"], let digest: String = row["digest"] {
            tags += try db.strings("SELECT name FROM image_tags WHERE image_id = ? AND digest = ? ORDER BY name", [imageId, digest])
        }
        return ScanContext(
            orgId: row["org_id"], registryId: row["registry_id"], repository: row["repository"], imageId: row["image_id"],
            tags: Array(Set(tags)).sorted())
    }

    /// The verdict of the image's most recent other evaluated scan (what a change is measured against).
    package static func previousImageVerdict(_ db: any SQLConnection, imageId: String, otherThan scanId: String) throws -> String? {
        try db.string("""
                SELECT v.verdict FROM policy_verdicts v JOIN scans s ON s.id = v.scan_id
                WHERE s.image_id = ? AND s.id != ? ORDER BY v.evaluated_at DESC, s.finished_at DESC LIMIT 1
                """, [imageId, scanId])
    }
}

extension PolicyRepository {
    /// The current scans of an organization: the latest scan of every tag.
    package static func currentScanIds(_ db: any SQLConnection, org: String) throws -> [String] {
        try db.strings("""
                SELECT DISTINCT t.last_scan_id FROM image_tags t JOIN images i ON i.id = t.image_id
                WHERE i.org_id = ? AND t.last_scan_id IS NOT NULL ORDER BY t.last_scan_id
                """, [org])
    }
}

extension PolicyRepository {
    /// Per image, the verdicts of the current scans of its tags (verdict, violation count, when).
    package static func imageVerdicts(_ db: any SQLConnection, imageIds: [String]) throws
        -> [String: [(verdict: String, violationCount: Int, evaluatedAt: Date)]]
    {
        guard !imageIds.isEmpty else { return [:] }
        var out: [String: [(verdict: String, violationCount: Int, evaluatedAt: Date)]] = [:]
        for start in stride(from: 0, to: imageIds.count, by: 500) {
            let chunk = Array(imageIds[start..<min(start + 500, imageIds.count)])
            let marks = Array(repeating: "?", count: chunk.count).joined(separator: ",")
            for row in try db.query("""
                    SELECT DISTINCT t.image_id, v.scan_id, v.verdict, v.violation_count, v.evaluated_at
                    FROM image_tags t JOIN policy_verdicts v ON v.scan_id = t.last_scan_id WHERE t.image_id IN (\(marks))
                    """, chunk)
            {
                out[row["image_id"], default: []].append((row["verdict"], row["violation_count"], row["evaluated_at"]))
            }
        }
        return out
    }
}
