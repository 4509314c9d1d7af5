public import Cron
package import Foundation
import GRDB
public import Scan

public enum ScanRepository {
    package static let findingEncoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }()

    /// `host[:port]` of a registry URL, as image references spell it.
    public static func host(ofRegistryURL url: String) -> String {
        guard let c = URLComponents(string: url), let h = c.host else { return url }
        return c.port.map { "\(h):\($0)" } ?? h
    }

    package static func reference(host: String, repository: String, tag: String?, digest: String?) -> String {
        if let tag { return "\(host)/\(repository):\(tag)" }
        if let digest { return "\(host)/\(repository)@\(digest)" }
        return "\(host)/\(repository):latest"
    }

    /// Inserts a queued scan row; returns its id.
    package static func insertScan(
        id: String, request: ScanRequest, orgId: String, jobId: String, registryHost: String?, now: Date, in db: any SQLConnection
    ) throws {
        let host = try registryHost
            ?? db.string("SELECT url FROM registries WHERE id = ?", [request.registryId]).map(host(ofRegistryURL:))
            ?? ""
        let imageId = try db.string("SELECT id FROM images WHERE registry_id = ? AND name = ?", [request.registryId, request.repository])
        let scanners = request.scanners ?? ["native"]
        try db.execute("""
                INSERT INTO scans (id, org_id, registry_id, image_id, job_id, repository, tag, reference, digest, platform,
                                   status, trigger, origin, requested_scanners, queued_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?)
                """, [
                id, orgId, request.registryId, imageId, jobId, request.repository, request.tag,
                reference(host: host, repository: request.repository, tag: request.tag, digest: request.digest),
                request.digest, request.platform ?? "linux/amd64", request.trigger, request.origin ?? "cloud",
                String(decoding: try JSONCoding.encoder.encode(scanners), as: UTF8.self), Timestamp.format(now),
            ])
    }

    /// Marks a queued scan running (false when it was cancelled or deleted meanwhile).
    /// Points a queued scan at the tag's new digest (the scan's job was retargeted).
    package static func retarget(_ id: String, to scan: ScanRequest, host: String, in db: any SQLConnection) throws {
        try db.execute("UPDATE scans SET digest = ?, reference = ?, trigger = ?, requested_scanners = ? WHERE id = ? AND status = 'queued'", [
                scan.digest, reference(host: host, repository: scan.repository, tag: scan.tag, digest: scan.digest),
                scan.trigger, String(decoding: try JSONCoding.encoder.encode(scan.scanners ?? ["native"]), as: UTF8.self), id,
            ])
    }

    package static func markRunning(_ id: String, now: Date, in db: any SQLConnection) throws -> Bool {
        try db.execute(
            "UPDATE scans SET status = 'running', started_at = ?, error = NULL WHERE id = ? AND status IN ('queued', 'running')",
            [Timestamp.format(now), id]) == 1
    }

    /// Back to queued after a failed attempt that will be retried.
    package static func markRetrying(_ id: String, error: String, in db: any SQLConnection) throws {
        try db.execute("UPDATE scans SET status = 'queued', error = ? WHERE id = ? AND status = 'running'", [error, id])
    }

    /// Marks a queued or running scan failed. Returns its organization and reference when
    /// it changed the row (the caller then notifies), nil when the scan had already ended.
    package static func markFailed(
        _ id: String, error: String, durationMs: Int?, scanners: [ScannerRunRecord]?, now: Date, in db: any SQLConnection
    ) throws -> (orgId: String, reference: String)? {
        let changed = try db.execute("""
                UPDATE scans SET status = 'failed', error = ?, finished_at = ?, duration_ms = ?,
                    scanners = COALESCE(?, scanners)
                WHERE id = ? AND status IN ('queued', 'running')
                """, [error, Timestamp.format(now), durationMs,
                        try scanners.map { String(decoding: try JSONCoding.encoder.encode($0), as: UTF8.self) }, id])
        guard changed == 1 else { return nil }
        return try db.queryOne("SELECT org_id, reference FROM scans WHERE id = ?", [id]).map {
            (orgId: $0["org_id"], reference: $0["reference"])
        }
    }

    /// A scan that is running, as a completion needs it.
    package struct RunningScan: Sendable {
        package var orgId: String
        package var registryId: String
        package var repository: String
        package var tag: String?
    }

    /// The scan if it is still running (not cancelled or deleted while it ran).
    package static func runningScan(_ id: String, in db: any SQLConnection) throws -> RunningScan? {
        guard let row = try db.queryOne("SELECT org_id, registry_id, repository, tag, status FROM scans WHERE id = ?", [id]),
            (row["status"] as String) == ScanStatus.running.rawValue
        else { return nil }
        return RunningScan(orgId: row["org_id"], registryId: row["registry_id"], repository: row["repository"], tag: row["tag"])
    }

    /// Writes a finished scan: its inventory (by `inventoryKey`), findings, the completed row
    /// and its counts.
    package static func recordCompletion(
        _ scanId: String, orgId: String, imageId: String?, report: ImageScanReport, scanners: [ScannerRunRecord],
        notes: [String], inventoryKey: String, now: Date, in db: any SQLConnection
    ) throws {
        let ts = Timestamp.format(now)
        try storeInventory(digest: inventoryKey, os: report.os, packages: report.packages, now: ts, in: db)
        try db.execute("DELETE FROM findings WHERE scan_id = ?", [scanId])
        try insertFindings(report.findings, scanId: scanId, orgId: orgId, now: ts, in: db)
        let cached = report.layers.filter(\.cached).count
        let downloaded = report.layers.filter(\.downloaded).reduce(Int64(0)) { $0 + $1.compressedBytes }
        try db.execute("""
                UPDATE scans SET status = 'completed', image_id = ?, digest = ?, manifest_digest = ?, platform = ?,
                    os_family = ?, os_version = ?, package_count = ?, scanners = ?, layers_cached = ?, layers_total = ?,
                    bytes_downloaded = ?, duration_ms = ?, error = NULL, notes = ?, finished_at = ?
                WHERE id = ?
                """, [
                imageId, report.digest, inventoryKey, report.platform, report.os?.family, report.os?.version,
                report.packages.count, String(decoding: try JSONCoding.encoder.encode(scanners), as: UTF8.self),
                cached, report.layers.count, downloaded, report.durationMs,
                String(decoding: try JSONCoding.encoder.encode(notes), as: UTF8.self), ts, scanId,
            ])
        try recount(scanIds: [scanId], orgId: orgId, now: now, in: db)
    }

    /// The image's tags that point at the scanned digest (or carry the scanned tag) now show
    /// this scan; the image's risk follows.
    package static func markTagsScanned(_ scanId: String, imageId: String, digest: String, tag: String?, now: Date, in db: any SQLConnection) throws {
        try db.execute("""
                UPDATE image_tags SET last_scan_id = ?, last_scanned_at = ?
                WHERE image_id = ? AND (digest = ? OR name = ?)
                """, [scanId, Timestamp.format(now), imageId, digest, tag])
        try refreshImageRisk(imageId: imageId, in: db)
    }

    /// What a completion notification says about a scan.
    package struct ScanSummary: Sendable {
        package var reference: String
        package var counts: SeverityCounts
        package var riskScore: Int
        package var digest: String
    }

    package static func summary(_ scanId: String, in db: any SQLConnection) throws -> ScanSummary? {
        try db.queryOne("SELECT reference, critical, high, medium, low, risk_score, digest FROM scans WHERE id = ?", [scanId]
        ).map { row in
            var counts = SeverityCounts()
            counts.critical = row["critical"]
            counts.high = row["high"]
            counts.medium = row["medium"]
            counts.low = row["low"]
            return ScanSummary(reference: row["reference"], counts: counts, riskScore: row["risk_score"], digest: row["digest"] ?? "")
        }
    }

    /// `vulnerability id|package name` of what the tag's previous completed scan reported.
    package static func previousFindingKeys(imageId: String, tag: String?, before scanId: String, in db: any SQLConnection) throws -> Set<String> {
        guard let prior = try db.string("""
                SELECT id FROM scans WHERE image_id = ?1 AND (tag = ?2 OR (tag IS NULL AND CAST(?2 AS TEXT) IS NULL)) AND status = 'completed' AND id != ?3
                ORDER BY finished_at DESC, id DESC LIMIT 1
                """, [imageId, tag, scanId])
        else { return [] }
        var keys: Set<String> = []
        for r in try db.query("SELECT vulnerability_id, pkg_name FROM findings WHERE scan_id = ?", [prior]) {
            let id: String = r[0]
            let name: String = r[1]
            keys.insert("\(id)|\(name)")
        }
        return keys
    }

    /// Vulnerabilities excepted by a `WONT_FIX` or `NOT_AFFECTED` triage (unexpired) for the whole organization or the image.
    package static func suppressedVulnerabilities(orgId: String, imageId: String?, now: Date, in db: any SQLConnection) throws -> Set<String> {
        Set(try db.strings("""
                SELECT vulnerability_id FROM triage WHERE org_id = ? AND status IN ('WONT_FIX', 'NOT_AFFECTED') AND image_id IN ('', ?)
                    AND (expires_at IS NULL OR expires_at > ?)
                """, [orgId, imageId ?? "", Timestamp.format(now)]))
    }

    package static func storeInventory(digest: String, os: OSInfo?, packages: [InstalledPackage], now: String, in db: any SQLConnection) throws {
        try db.execute("""
                INSERT INTO inventories (digest, os, packages, package_count, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT(digest) DO UPDATE SET os = excluded.os, packages = excluded.packages,
                    package_count = excluded.package_count, updated_at = excluded.updated_at
                """, [
                digest, try os.map { String(decoding: try findingEncoder.encode($0), as: UTF8.self) },
                try findingEncoder.encode(packages), packages.count, now, now,
            ])
    }

    /// A stored inventory by image manifest digest.
    public static func inventory(digest: String, in db: any SQLConnection) throws -> ImageInventory? {
        guard let row = try db.queryOne("SELECT os, packages FROM inventories WHERE digest = ?", [digest])
        else { return nil }
        let os = try (row["os"] as String?).map { try JSONDecoder().decode(OSInfo.self, from: Data($0.utf8)) }
        let packages = try JSONDecoder().decode([InstalledPackage].self, from: row["packages"] as Data)
        return ImageInventory(os: os, packages: packages)
    }

    /// Findings ordered most severe first; `seq` is that order.
    package static func insertFindings(_ findings: [Finding], scanId: String, orgId: String, now: String, in db: any SQLConnection) throws {
        try insertFindings(try PreparedFindings(findings), scanId: scanId, orgId: orgId, now: now, in: db)
    }

    /// Findings ready to insert: in stored order (most severe first), each with its priority
    /// and its JSON. Prepared outside the write transaction, so the encoding of several scans'
    /// findings runs in parallel while the writer only inserts.
    package struct PreparedFindings: Sendable {
        let rows: [(finding: Finding, detail: Data, digest: Data)]

        package init(_ findings: [Finding]) throws {
            let sorted = findings.sorted {
                ($0.severity.storedRank, $1.vulnerabilityId, $1.package.name, $1.package.version)
                    > ($1.severity.storedRank, $0.vulnerabilityId, $0.package.name, $0.package.version)
            }
            rows = try sorted.map { f in
                var f = f
                f.priority = f.effectivePriority
                return (f, try ScanRepository.findingEncoder.encode(f), FindingDigest.of(f))
            }
        }
    }

    package static func insertFindings(_ prepared: PreparedFindings, scanId: String, orgId: String, now: String, in db: any SQLConnection) throws {
        var findings: [[any SQLBindable]] = []
        var sightings: [[any SQLBindable]] = []
        var seen: Set<String> = []
        findings.reserveCapacity(prepared.rows.count)
        for (i, (f, detail, digest)) in prepared.rows.enumerated() {
            let row: [any SQLBindable] = [
                scanId, i, f.vulnerabilityId, f.severity.storedRank, f.fixedVersion != nil, f.package.name, f.package.version,
                f.package.type.rawValue, detail, digest, f.package.purl,
            ]
            findings.append(row + priorityColumns(f))
            // One statement may not touch the same conflict key twice on PostgreSQL.
            if seen.insert("\(f.vulnerabilityId)\n\(f.package.name)").inserted {
                sightings.append([orgId, f.vulnerabilityId, f.package.name, now])
            }
        }
        try db.insertMany(
            """
            INSERT INTO findings (scan_id, seq, vulnerability_id, severity_rank, fixable, pkg_name, pkg_version, pkg_type, detail, digest,
                purl, priority_rank, kev, epss, epss_percentile, severity_source, fix_version)
            """, rows: findings)
        try db.insertMany(
            "INSERT INTO vulnerability_sightings (org_id, vulnerability_id, pkg_name, first_detected_at)", rows: sightings,
            tail: "ON CONFLICT DO NOTHING")
    }

    /// The values of `priority_rank, kev, epss, epss_percentile, severity_source, fix_version`.
    static func priorityColumns(_ f: Finding) -> [any SQLBindable] {
        [f.effectivePriority.rank, f.kev != nil, f.epss?.score, f.epss?.percentile, f.severitySource?.rawValue, f.closesWithUpgrade]
    }

    /// Fills the priority columns of every stored finding from its JSON (the migration that
    /// added them), and records the priority in the JSON too.
    package static func backfillPriorityColumns(in db: any SQLConnection) throws {
        let decoder = JSONDecoder()
        let update = """
            UPDATE findings SET detail = ?, priority_rank = ?, kev = ?, epss = ?, epss_percentile = ?, severity_source = ?, fix_version = ?
            WHERE scan_id = ? AND seq = ?
            """
        // In key order, a thousand at a time: memory stays flat however many findings there are.
        var after: (String, Int) = ("", -1)
        while true {
            let batch = try db.query("SELECT scan_id, seq, detail FROM findings WHERE (scan_id, seq) > (?, ?) ORDER BY scan_id, seq LIMIT 1000", [after.0, after.1])
            guard let last = batch.last else { break }
            after = (last[0], last[1])
            for r in batch {
                // A finding that does not decode keeps the defaults (P5, no KEV) and its JSON.
                guard var f = try? decoder.decode(Finding.self, from: r[2] as Data) else { continue }
                f.priority = f.effectivePriority
                try db.execute(update, [try findingEncoder.encode(f)] + priorityColumns(f) + [r[0] as String, r[1] as Int])
            }
        }
    }

    /// Recomputes counts and risk score of scans, leaving out findings suppressed by an
    /// unexpired `WONT_FIX` or `NOT_AFFECTED` triage in the organization or on the scan's image.
    package static func recount(scanIds: [String], orgId: String, now: Date, in db: any SQLConnection) throws {
        let ts = Timestamp.format(now)
        let count = """
            SELECT f.severity_rank, COUNT(*) FROM findings f
            WHERE f.scan_id = ?1 AND NOT EXISTS (
                SELECT 1 FROM triage t WHERE t.org_id = ?2 AND t.vulnerability_id = f.vulnerability_id
                    AND t.status IN ('WONT_FIX', 'NOT_AFFECTED') AND (t.image_id = '' OR t.image_id = COALESCE(?3, ''))
                    AND (t.expires_at IS NULL OR t.expires_at > ?4))
            GROUP BY f.severity_rank
            """
        for id in scanIds {
            let imageId = try db.string("SELECT image_id FROM scans WHERE id = ?", [id])
            var counts = SeverityCounts()
            for row in try db.query(count, [id, orgId, imageId, ts]) {
                counts.add(rank: row[0], count: row[1])
            }
            try db.execute("UPDATE scans SET critical = ?, high = ?, medium = ?, low = ?, unknown = ?, risk_score = ? WHERE id = ?", [counts.critical, counts.high, counts.medium, counts.low, counts.unknown, counts.riskScore, id])
        }
    }

    /// An image shows the latest completed scan of its latest tag, else its latest completed scan.
    package static func refreshImageRisk(imageId: String, in db: any SQLConnection) throws {
        let row = try db.queryOne("""
                SELECT s.risk_score, s.critical, s.high, s.medium, s.low, s.unknown, s.finished_at FROM scans s
                WHERE s.image_id = ?1 AND s.status = 'completed'
                ORDER BY CASE WHEN s.tag IS NOT NULL AND s.tag = (SELECT latest_tag FROM images WHERE id = ?1) THEN 1 ELSE 0 END DESC,
                    s.finished_at DESC, s.id DESC
                LIMIT 1
                """, [imageId])
        guard let row else {
            try db.execute("""
                    UPDATE images SET risk_score = 0, critical = 0, high = 0, medium = 0, low = 0, unknown = 0,
                        last_scanned_at = NULL WHERE id = ?
                    """, [imageId])
            return
        }
        try db.execute("""
                UPDATE images SET risk_score = ?, critical = ?, high = ?, medium = ?, low = ?, unknown = ?,
                    last_scanned_at = ? WHERE id = ?
                """, [row.value(0), row.value(1), row.value(2), row.value(3), row.value(4), row.value(5), row.value(6), imageId])
    }

    /// After a triage change: recount every scan of the organization that has the vulnerability.
    package static func recount(vulnerabilityId: String, orgId: String, now: Date, in db: any SQLConnection) throws {
        let scans = try db.query("""
                SELECT DISTINCT s.id, s.image_id FROM findings f JOIN scans s ON s.id = f.scan_id
                WHERE f.vulnerability_id = ? AND s.org_id = ?
                """, [vulnerabilityId, orgId])
        try recount(scanIds: scans.map { $0[0] }, orgId: orgId, now: now, in: db)
        for imageId in Set(scans.compactMap { $0[1] as String? }) {
            try refreshImageRisk(imageId: imageId, in: db)
        }
    }
}

/// One scanner's part in a scan, as stored and shown (`scanners[]` of a scan).

extension ScanRepository {
    /// A new completed scan that copies `previous` with re-matched findings; tags that showed
    /// `previous` now show it.
    @discardableResult
    package static func recordRematch(
        of previous: String, findings: [Finding], added: Int, resolved: Int, now: Date, in db: any SQLConnection
    ) throws -> String? {
        guard let row = try db.queryOne("SELECT * FROM scans WHERE id = ?", [previous]) else { return nil }
        let id = IDs.make("scn")
        let ts = Timestamp.format(now)
        let note = "Re-matched the stored inventory against the updated vulnerability database: \(added) new, \(resolved) resolved; no layer was pulled."
        try db.execute("""
                INSERT INTO scans (id, org_id, registry_id, image_id, job_id, repository, tag, reference, digest, manifest_digest,
                    platform, status, trigger, origin, requested_scanners, scanners, os_family, os_version, package_count,
                    layers_cached, layers_total, bytes_downloaded, duration_ms, notes, queued_at, started_at, finished_at)
                SELECT ?, org_id, registry_id, image_id, NULL, repository, tag, reference, digest, manifest_digest,
                    platform, 'completed', 'schedule', origin, requested_scanners, scanners, os_family, os_version, package_count,
                    layers_total, layers_total, 0, 0, ?, ?, ?, ?
                FROM scans WHERE id = ?
                """, [id, String(decoding: try JSONCoding.encoder.encode([note]), as: UTF8.self), ts, ts, ts, previous])
        let orgId: String = row["org_id"]
        try insertFindings(findings, scanId: id, orgId: orgId, now: ts, in: db)
        try recount(scanIds: [id], orgId: orgId, now: now, in: db)
        try db.execute("UPDATE image_tags SET last_scan_id = ?, last_scanned_at = ? WHERE last_scan_id = ?", [id, ts, previous])
        if let imageId = row["image_id"] as String? { try refreshImageRisk(imageId: imageId, in: db) }
        return id
    }

    /// Rewrites a scan's findings in place (a re-rank: the same findings with new severities,
    /// EPSS, KEV or priorities) and recounts the scan and its image; no new scan.
    package static func replaceFindings(scanId: String, findings: [Finding], orgId: String, now: Date, in db: any SQLConnection) throws {
        try replaceFindings(scanId: scanId, prepared: try PreparedFindings(findings), orgId: orgId, now: now, in: db)
    }

    package static func replaceFindings(scanId: String, prepared: PreparedFindings, orgId: String, now: Date, in db: any SQLConnection) throws {
        try db.execute("DELETE FROM findings WHERE scan_id = ?", [scanId])
        try insertFindings(prepared, scanId: scanId, orgId: orgId, now: Timestamp.format(now), in: db)
        try recount(scanIds: [scanId], orgId: orgId, now: now, in: db)
        if let imageId = try db.string("SELECT image_id FROM scans WHERE id = ?", [scanId]) {
            try refreshImageRisk(imageId: imageId, in: db)
        }
    }

    /// Re-ranks a scan's findings in place: the same (vulnerability, package, version, type)
    /// findings with new priority data. Each stored row keeps its key and is updated only when
    /// its JSON or digest changed, so the index over vulnerability ids is never touched and the
    /// fix-group index only where a rank moved (a delete and re-insert rewrote both for every
    /// finding). Falls back to ``replaceFindings(scanId:prepared:orgId:now:in:)`` when the
    /// stored keys are not exactly the new ones. Returns the number of rows updated.
    @discardableResult
    package static func rerankFindings(scanId: String, prepared: PreparedFindings, orgId: String, now: Date, in db: any SQLConnection) throws -> Int {
        var stored: [FindingKey: (seq: Int, detail: Data, digest: Data?)] = [:]
        let rows = try db.query(
            "SELECT seq, vulnerability_id, pkg_name, pkg_version, pkg_type, detail, digest FROM findings WHERE scan_id = ?", [scanId])
        for row in rows {
            stored[FindingKey(id: row[1], name: row[2], version: row[3], type: row[4])] = (row[0], row[5], row[6])
        }
        let keyed = prepared.rows.map { (FindingKey($0.finding), $0) }
        guard stored.count == keyed.count, keyed.allSatisfy({ stored[$0.0] != nil }) else {
            try replaceFindings(scanId: scanId, prepared: prepared, orgId: orgId, now: now, in: db)
            return prepared.rows.count
        }
        let changed = keyed.compactMap { key, row -> FindingUpdate? in
            guard let old = stored[key], old.detail != row.detail || old.digest != row.digest else { return nil }
            return FindingUpdate(seq: old.seq, finding: row.finding, detail: row.detail, digest: row.digest)
        }
        return try updateFindings(scanId: scanId, changed, orgId: orgId, now: now, in: db)
    }

    /// A stored finding's key: one row per (vulnerability, package name, version, type) in a scan.
    package struct FindingKey: Hashable, Sendable {
        package var id, name, version, type: String

        package init(id: String, name: String, version: String, type: String) {
            (self.id, self.name, self.version, self.type) = (id, name, version, type)
        }

        package init(_ f: Finding) {
            self.init(id: f.vulnerabilityId, name: f.package.name, version: f.package.version, type: f.package.type.rawValue)
        }
    }

    /// One stored finding as a rematch compares it, without its JSON.
    package struct StoredFinding: Sendable {
        package var seq: Int
        package var key: FindingKey
        /// ``FindingDigest``; nil on rows written before digests existed.
        package var digest: Data?
        package var severity: Severity
        package var priority: Priority
        package var kev: Bool
        package var epssPercentile: Double?
    }

    /// A scan's findings as a rematch compares them, and the findings that only external
    /// scanners reported (decoded: the rematch keeps them as they are). Only JSON without
    /// `"sources":["native"` is decoded (no nested object of a finding has a `sources` key).
    package static func storedFindings(scanId: String, in db: any SQLConnection) throws -> (rows: [StoredFinding], external: [Finding]) {
        let decoder = JSONDecoder()
        var rows: [StoredFinding] = []
        var external: [Finding] = []
        let contains = db.dialect == .postgres
            ? #"position(convert_to('"sources":["native"', 'UTF8') in detail)"#
            : #"instr(detail, CAST('"sources":["native"' AS BLOB))"#
        try db.each("""
            SELECT seq, vulnerability_id, pkg_name, pkg_version, pkg_type, digest, severity_rank, priority_rank, kev, epss_percentile,
                CASE WHEN \(contains) > 0 THEN NULL ELSE detail END
            FROM findings WHERE scan_id = ? ORDER BY seq
            """, [scanId]
        ) { row in
            rows.append(StoredFinding(
                seq: row[0], key: FindingKey(id: row[1], name: row[2], version: row[3], type: row[4]), digest: row[5],
                severity: Severity(rank: row[6]), priority: Priority(rank: row[7] ?? 5) ?? .p5, kev: row[8] ?? false,
                epssPercentile: row[9]))
            if let detail = row[10] as Data? {
                let f = try decoder.decode(Finding.self, from: detail)
                if !f.sources.contains("native") { external.append(f) }
            }
        }
        return (rows, external)
    }

    /// Stored findings by their row numbers, decoded (the few a CVE watch describes as resolved).
    package static func findings(scanId: String, seqs: [Int], in db: any SQLConnection) throws -> [Finding] {
        let decoder = JSONDecoder()
        return try seqs.compactMap { seq in
            try db.data("SELECT detail FROM findings WHERE scan_id = ? AND seq = ?", [scanId, seq])
                .map { try decoder.decode(Finding.self, from: $0) }
        }
    }

    /// One row of an in-place rewrite: the stored row number and the finding's new JSON and digest.
    package struct FindingUpdate: Sendable {
        package var seq: Int
        package var finding: Finding
        package var detail: Data
        package var digest: Data

        /// `finding` with its priority as stored, encoded outside the write transaction.
        package init(seq: Int, finding: Finding) throws {
            var f = finding
            f.priority = f.effectivePriority
            self.init(seq: seq, finding: f, detail: try ScanRepository.findingEncoder.encode(f), digest: FindingDigest.of(f))
        }

        init(seq: Int, finding: Finding, detail: Data, digest: Data) {
            (self.seq, self.finding, self.detail, self.digest) = (seq, finding, detail, digest)
        }
    }

    /// Rewrites the given rows of a scan in place (same keys), then recounts the scan and its
    /// image when any changed. Returns the number of rows updated.
    @discardableResult
    package static func updateFindings(scanId: String, _ changed: [FindingUpdate], orgId: String, now: Date, in db: any SQLConnection) throws -> Int {
        guard !changed.isEmpty else { return 0 }
        let update = """
            UPDATE findings SET detail = ?, digest = ?, severity_rank = ?, fixable = ?,
                priority_rank = ?, kev = ?, epss = ?, epss_percentile = ?, severity_source = ?, fix_version = ?
            WHERE scan_id = ? AND seq = ?
            """
        for u in changed {
            let f = u.finding
            let row: [any SQLBindable] = [u.detail, u.digest, f.severity.storedRank, f.fixedVersion != nil]
            try db.execute(update, row + priorityColumns(f) + [scanId, u.seq])
        }
        try recount(scanIds: [scanId], orgId: orgId, now: now, in: db)
        if let imageId = try db.string("SELECT image_id FROM scans WHERE id = ?", [scanId]) {
            try refreshImageRisk(imageId: imageId, in: db)
        }
        return changed.count
    }

    /// Ids of the completed scans some tag shows as its latest (of one organization, or all).
    package static func latestTagScanIds(orgId: String?, in db: any SQLConnection) throws -> [String] {
        try db.strings("""
                SELECT s.id FROM scans s WHERE s.status = 'completed' AND s.manifest_digest IS NOT NULL
                    AND s.id IN (SELECT DISTINCT last_scan_id FROM image_tags WHERE last_scan_id IS NOT NULL)
                    AND (CAST(?1 AS TEXT) IS NULL OR s.org_id = ?1)
                ORDER BY s.id
                """, [orgId])
    }

    /// What a rematch needs of a scan: its organization, image, reference and the key of its
    /// stored inventory.
    package struct RematchTarget: Sendable {
        package var orgId: String
        package var imageId: String?
        package var reference: String
        package var manifestDigest: String
    }

    package static func rematchTarget(_ id: String, in db: any SQLConnection) throws -> RematchTarget? {
        guard let row = try db.queryOne("SELECT org_id, image_id, reference, manifest_digest FROM scans WHERE id = ?", [id]),
            let digest = row["manifest_digest"] as String?
        else { return nil }
        return RematchTarget(orgId: row["org_id"], imageId: row["image_id"], reference: row["reference"], manifestDigest: digest)
    }

    /// Every finding of a scan, in stored order.
    package static func findings(scanId: String, in db: any SQLConnection) throws -> [Finding] {
        let decoder = JSONDecoder()
        return try db.query("SELECT detail FROM findings WHERE scan_id = ? ORDER BY seq", [scanId]).map { $0[0] as Data }
            .map { try decoder.decode(Finding.self, from: $0) }
    }
}
