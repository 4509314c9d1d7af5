import Cron
import Foundation
public import GRDB
public import Scan
import Store


/// The lifecycle of a scan as the API shows it.
public enum ScanStatus: String, Sendable, Codable, CaseIterable {
    case queued, running, completed, failed, cancelled

    public var isActive: Bool { self == .queued || self == .running }
}

extension Severity {
    /// Ordering for storage and sorting: CRITICAL 4 … UNKNOWN 0.
    var storedRank: Int {
        switch self {
        case .critical: 4
        case .high: 3
        case .medium: 2
        case .low: 1
        case .unknown: 0
        }
    }

    init(rank: Int) {
        self = [.unknown, .low, .medium, .high, .critical][max(0, min(4, rank))]
    }
}

/// Finding counts by severity, and the risk score the README defines over them.
public struct SeverityCounts: Sendable, Hashable, Codable {
    public var critical = 0, high = 0, medium = 0, low = 0, unknown = 0

    public init() {}

    /// 25·critical + 10·high + 3·medium + 1·low, capped at 100.
    public var riskScore: Int { min(100, 25 * critical + 10 * high + 3 * medium + low) }

    mutating func add(rank: Int, count: Int = 1) {
        switch rank {
        case 4: critical += count
        case 3: high += count
        case 2: medium += count
        case 1: low += count
        default: unknown += count
        }
    }
}

/// Storage of scans and what they found. Every function runs inside the caller's
/// transaction so a scan's row, findings, inventory and aggregates change together.
public enum ScanStore {
    static let findingEncoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }()

    /// `host[:port]` of a registry URL, as image references spell it.
    public static func host(ofRegistryURL url: String) -> String {
        guard let c = URLComponents(string: url), let h = c.host else { return url }
        return c.port.map { "\(h):\($0)" } ?? h
    }

    static func reference(host: String, repository: String, tag: String?, digest: String?) -> String {
        if let tag { return "\(host)/\(repository):\(tag)" }
        if let digest { return "\(host)/\(repository)@\(digest)" }
        return "\(host)/\(repository):latest"
    }

    /// Inserts a queued scan row; returns its id.
    static func insertScan(
        id: String, request: ScanRequest, orgId: String, jobId: String, registryHost: String?, now: Date, in db: Database
    ) throws {
        let host = try registryHost
            ?? String.fetchOne(db, sql: "SELECT url FROM registries WHERE id = ?", arguments: [request.registryId]).map(host(ofRegistryURL:))
            ?? ""
        let imageId = try String.fetchOne(
            db, sql: "SELECT id FROM images WHERE registry_id = ? AND name = ?", arguments: [request.registryId, request.repository])
        let scanners = request.scanners ?? ["native"]
        try db.execute(
            sql: """
                INSERT INTO scans (id, org_id, registry_id, image_id, job_id, repository, tag, reference, digest, platform,
                                   status, trigger, origin, requested_scanners, queued_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?)
                """,
            arguments: [
                id, orgId, request.registryId, imageId, jobId, request.repository, request.tag,
                reference(host: host, repository: request.repository, tag: request.tag, digest: request.digest),
                request.digest, request.platform ?? "linux/amd64", request.trigger, request.origin ?? "cloud",
                String(decoding: try JSONCoding.encoder.encode(scanners), as: UTF8.self), Timestamp.format(now),
            ])
    }

    /// Marks a queued scan running (false when it was cancelled or deleted meanwhile).
    /// Points a queued scan at the tag's new digest (the scan's job was retargeted).
    static func retarget(_ id: String, to scan: ScanRequest, host: String, in db: Database) throws {
        try db.execute(
            sql: "UPDATE scans SET digest = ?, reference = ?, trigger = ?, requested_scanners = ? WHERE id = ? AND status = 'queued'",
            arguments: [
                scan.digest, reference(host: host, repository: scan.repository, tag: scan.tag, digest: scan.digest),
                scan.trigger, String(decoding: try JSONCoding.encoder.encode(scan.scanners ?? ["native"]), as: UTF8.self), id,
            ])
    }

    static func markRunning(_ id: String, now: Date, in db: Database) throws -> Bool {
        try db.execute(
            sql: "UPDATE scans SET status = 'running', started_at = ?, error = NULL WHERE id = ? AND status IN ('queued', 'running')",
            arguments: [Timestamp.format(now), id])
        return db.changesCount == 1
    }

    /// Back to queued after a failed attempt that will be retried.
    static func markRetrying(_ id: String, error: String, in db: Database) throws {
        try db.execute(
            sql: "UPDATE scans SET status = 'queued', error = ? WHERE id = ? AND status = 'running'", arguments: [error, id])
    }

    static func markFailed(_ id: String, error: String, durationMs: Int?, scanners: [ScannerRunRecord]?, now: Date, in db: Database) throws {
        defer {
            if db.changesCount == 1, let row = try? Row.fetchOne(db, sql: "SELECT org_id, reference FROM scans WHERE id = ?", arguments: [id]) {
                try? Notifications.emit(
                    .scanFailed, orgId: row["org_id"], severity: "warning", title: "Scan failed: \(row["reference"] as String)",
                    message: error, fields: ["scanId": id, "reference": row["reference"]], now: now, in: db)
            }
        }
        try db.execute(
            sql: """
                UPDATE scans SET status = 'failed', error = ?, finished_at = ?, duration_ms = ?,
                    scanners = COALESCE(?, scanners)
                WHERE id = ? AND status IN ('queued', 'running')
                """,
            arguments: [error, Timestamp.format(now), durationMs,
                        try scanners.map { String(decoding: try JSONCoding.encoder.encode($0), as: UTF8.self) }, id])
    }

    /// Records a finished scan: inventory by digest, findings, counts, image and tag aggregates.
    /// False when the scan was cancelled or deleted while it ran (nothing is written then).
    static func complete(
        _ scanId: String, report: ImageScanReport, scanners: [ScannerRunRecord], notes: [String], registryHost: String,
        inventoryKey: String? = nil, now: Date, in db: Database
    ) throws -> Bool {
        // Inventories are shared by digest between scans the server made itself; what a sensor
        // uploads is kept under its registry's own key, so no sensor can change another's.
        let inventoryKey = inventoryKey ?? report.manifestDigest
        guard let row = try Row.fetchOne(
            db, sql: "SELECT org_id, registry_id, repository, tag, status FROM scans WHERE id = ?", arguments: [scanId]),
            (row["status"] as String) == ScanStatus.running.rawValue
        else { return false }
        let orgId: String = row["org_id"]
        let registryId: String = row["registry_id"]
        let repository: String = row["repository"]
        let tag: String? = row["tag"]
        let ts = Timestamp.format(now)

        // The tag now points at what was scanned (a scan may be the first sight of it).
        var imageId = try String.fetchOne(
            db, sql: "SELECT id FROM images WHERE registry_id = ? AND name = ?", arguments: [registryId, repository])
        if let tag, let registry = try RegistryRecord.fetch(db, id: registryId, org: orgId) {
            _ = try SyncStore.recordTag(
                registry: registry, registryHost: registryHost, repository: repository, tag: tag, digest: report.digest,
                now: now, in: db)
            imageId = try String.fetchOne(
                db, sql: "SELECT id FROM images WHERE registry_id = ? AND name = ?", arguments: [registryId, repository])
        }

        try storeInventory(digest: inventoryKey, os: report.os, packages: report.packages, now: ts, in: db)
        try db.execute(sql: "DELETE FROM findings WHERE scan_id = ?", arguments: [scanId])
        try insertFindings(report.findings, scanId: scanId, orgId: orgId, now: ts, in: db)

        let cached = report.layers.filter(\.cached).count
        let downloaded = report.layers.filter(\.downloaded).reduce(Int64(0)) { $0 + $1.compressedBytes }
        try db.execute(
            sql: """
                UPDATE scans SET status = 'completed', image_id = ?, digest = ?, manifest_digest = ?, platform = ?,
                    os_family = ?, os_version = ?, package_count = ?, scanners = ?, layers_cached = ?, layers_total = ?,
                    bytes_downloaded = ?, duration_ms = ?, error = NULL, notes = ?, finished_at = ?
                WHERE id = ?
                """,
            arguments: [
                imageId, report.digest, inventoryKey, report.platform, report.os?.family, report.os?.version,
                report.packages.count, String(decoding: try JSONCoding.encoder.encode(scanners), as: UTF8.self),
                cached, report.layers.count, downloaded, report.durationMs,
                String(decoding: try JSONCoding.encoder.encode(notes), as: UTF8.self), ts, scanId,
            ])
        try recount(scanIds: [scanId], orgId: orgId, now: now, in: db)
        try notifyCompleted(scanId, orgId: orgId, imageId: imageId, tag: tag, findings: report.findings, now: now, in: db)
        if let imageId {
            try db.execute(
                sql: """
                    UPDATE image_tags SET last_scan_id = ?, last_scanned_at = ?
                    WHERE image_id = ? AND (digest = ? OR name = ?)
                    """,
                arguments: [scanId, ts, imageId, report.digest, tag])
            try refreshImageRisk(imageId: imageId, in: db)
        }
        return true
    }

    /// `scan_complete`, and `critical_cve` / `high_cve` for findings the tag's previous
    /// completed scan did not have (not suppressed by triage).
    static func notifyCompleted(
        _ scanId: String, orgId: String, imageId: String?, tag: String?, findings: [Finding], now: Date, in db: Database
    ) throws {
        guard let row = try Row.fetchOne(
            db, sql: "SELECT reference, critical, high, medium, low, risk_score, digest FROM scans WHERE id = ?", arguments: [scanId])
        else { return }
        let reference: String = row["reference"]
        let critical: Int = row["critical"]
        let high: Int = row["high"]
        let medium: Int = row["medium"]
        let low: Int = row["low"]
        let risk: Int = row["risk_score"]
        let digest: String = row["digest"] ?? ""
        try Notifications.emit(
            .scanComplete, orgId: orgId, severity: critical > 0 ? "critical" : high > 0 ? "high" : "info",
            title: "Scan complete: \(reference)",
            message: "\(findings.count) findings (critical \(critical), high \(high), medium \(medium), low \(low)); risk score \(risk).",
            fields: ["scanId": scanId, "reference": reference, "digest": digest, "riskScore": "\(risk)"], now: now, in: db)
        // What the tag's previous completed scan already reported.
        var previous: Set<String> = []
        if let imageId, let prior = try String.fetchOne(
            db,
            sql: """
                SELECT id FROM scans WHERE image_id = ? AND tag IS ? AND status = 'completed' AND id != ?
                ORDER BY finished_at DESC, id DESC LIMIT 1
                """,
            arguments: [imageId, tag, scanId])
        {
            for r in try Row.fetchAll(db, sql: "SELECT vulnerability_id, pkg_name FROM findings WHERE scan_id = ?", arguments: [prior]) {
                let id: String = r[0]
                let name: String = r[1]
                previous.insert("\(id)|\(name)")
            }
        }
        let suppressed = Set(try String.fetchAll(
            db,
            sql: """
                SELECT vulnerability_id FROM triage WHERE org_id = ? AND status = 'WONT_FIX' AND image_id IN ('', ?)
                    AND (expires_at IS NULL OR expires_at > ?)
                """,
            arguments: [orgId, imageId ?? "", Timestamp.format(now)]))
        for (event, severity) in [(NotificationEvent.criticalCVE, Severity.critical), (.highCVE, .high)] {
            let new = findings.filter {
                $0.severity == severity && !suppressed.contains($0.vulnerabilityId)
                    && !previous.contains("\($0.vulnerabilityId)|\($0.package.name)")
            }
            guard !new.isEmpty else { continue }
            let ids = Array(Set(new.map(\.vulnerabilityId))).sorted()
            let plural = new.count == 1 ? "" : "s"
            try Notifications.emit(
                event, orgId: orgId, severity: severity.rawValue.lowercased(),
                title: "\(new.count) new \(severity.rawValue) finding\(plural) in \(reference)",
                message: new.prefix(10).map { "\($0.vulnerabilityId) in \($0.package.name) \($0.package.version)" }.joined(separator: "; "),
                fields: ["scanId": scanId, "reference": reference, "vulnerabilityIds": ids.joined(separator: ",")], now: now, in: db)
        }
    }

    static func storeInventory(digest: String, os: OSInfo?, packages: [InstalledPackage], now: String, in db: Database) throws {
        try db.execute(
            sql: """
                INSERT INTO inventories (digest, os, packages, package_count, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT(digest) DO UPDATE SET os = excluded.os, packages = excluded.packages,
                    package_count = excluded.package_count, updated_at = excluded.updated_at
                """,
            arguments: [
                digest, try os.map { String(decoding: try findingEncoder.encode($0), as: UTF8.self) },
                try findingEncoder.encode(packages), packages.count, now, now,
            ])
    }

    /// A stored inventory by image manifest digest.
    public static func inventory(digest: String, in db: Database) throws -> ImageInventory? {
        guard let row = try Row.fetchOne(db, sql: "SELECT os, packages FROM inventories WHERE digest = ?", arguments: [digest])
        else { return nil }
        let os = try (row["os"] as String?).map { try JSONDecoder().decode(OSInfo.self, from: Data($0.utf8)) }
        let packages = try JSONDecoder().decode([InstalledPackage].self, from: row["packages"] as Data)
        return ImageInventory(os: os, packages: packages)
    }

    /// Findings ordered most severe first; `seq` is that order.
    static func insertFindings(_ findings: [Finding], scanId: String, orgId: String, now: String, in db: Database) throws {
        let sorted = findings.sorted {
            ($0.severity.storedRank, $1.vulnerabilityId, $1.package.name, $1.package.version)
                > ($1.severity.storedRank, $0.vulnerabilityId, $0.package.name, $0.package.version)
        }
        let insert = try db.cachedStatement(sql: """
            INSERT INTO findings (scan_id, seq, vulnerability_id, severity_rank, fixable, pkg_name, pkg_version, pkg_type, detail)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        let sighting = try db.cachedStatement(sql: """
            INSERT OR IGNORE INTO vulnerability_sightings (org_id, vulnerability_id, pkg_name, first_detected_at) VALUES (?, ?, ?, ?)
            """)
        for (i, f) in sorted.enumerated() {
            try insert.execute(arguments: [
                scanId, i, f.vulnerabilityId, f.severity.storedRank, f.fixedVersion != nil, f.package.name, f.package.version,
                f.package.type.rawValue, try findingEncoder.encode(f),
            ])
            try sighting.execute(arguments: [orgId, f.vulnerabilityId, f.package.name, now])
        }
    }

    /// Recomputes counts and risk score of scans, leaving out findings suppressed by an
    /// unexpired `WONT_FIX` triage in the organization or on the scan's image.
    static func recount(scanIds: [String], orgId: String, now: Date, in db: Database) throws {
        let ts = Timestamp.format(now)
        let count = try db.cachedStatement(sql: """
            SELECT f.severity_rank, COUNT(*) FROM findings f
            WHERE f.scan_id = ?1 AND NOT EXISTS (
                SELECT 1 FROM triage t WHERE t.org_id = ?2 AND t.vulnerability_id = f.vulnerability_id
                    AND t.status = 'WONT_FIX' AND (t.image_id = '' OR t.image_id = COALESCE(?3, ''))
                    AND (t.expires_at IS NULL OR t.expires_at > ?4))
            GROUP BY f.severity_rank
            """)
        for id in scanIds {
            let imageId = try String.fetchOne(db, sql: "SELECT image_id FROM scans WHERE id = ?", arguments: [id])
            var counts = SeverityCounts()
            for row in try Row.fetchAll(count, arguments: [id, orgId, imageId, ts]) {
                counts.add(rank: row[0], count: row[1])
            }
            try db.execute(
                sql: "UPDATE scans SET critical = ?, high = ?, medium = ?, low = ?, unknown = ?, risk_score = ? WHERE id = ?",
                arguments: [counts.critical, counts.high, counts.medium, counts.low, counts.unknown, counts.riskScore, id])
        }
    }

    /// An image shows the latest completed scan of its latest tag, else its latest completed scan.
    static func refreshImageRisk(imageId: String, in db: Database) throws {
        let row = try Row.fetchOne(
            db,
            sql: """
                SELECT s.risk_score, s.critical, s.high, s.medium, s.low, s.unknown, s.finished_at FROM scans s
                WHERE s.image_id = ?1 AND s.status = 'completed'
                ORDER BY (s.tag IS NOT NULL AND s.tag = (SELECT latest_tag FROM images WHERE id = ?1)) DESC,
                    s.finished_at DESC, s.id DESC
                LIMIT 1
                """,
            arguments: [imageId])
        guard let row else {
            try db.execute(
                sql: """
                    UPDATE images SET risk_score = 0, critical = 0, high = 0, medium = 0, low = 0, unknown = 0,
                        last_scanned_at = NULL WHERE id = ?
                    """,
                arguments: [imageId])
            return
        }
        try db.execute(
            sql: """
                UPDATE images SET risk_score = ?, critical = ?, high = ?, medium = ?, low = ?, unknown = ?,
                    last_scanned_at = ? WHERE id = ?
                """,
            arguments: [row[0], row[1], row[2], row[3], row[4], row[5], row[6], imageId])
    }

    /// After a triage change: recount every scan of the organization that has the vulnerability.
    static func recount(vulnerabilityId: String, orgId: String, now: Date, in db: Database) throws {
        let scans = try Row.fetchAll(
            db,
            sql: """
                SELECT DISTINCT s.id, s.image_id FROM findings f JOIN scans s ON s.id = f.scan_id
                WHERE f.vulnerability_id = ? AND s.org_id = ?
                """,
            arguments: [vulnerabilityId, orgId])
        try recount(scanIds: scans.map { $0[0] }, orgId: orgId, now: now, in: db)
        for imageId in Set(scans.compactMap { $0[1] as String? }) {
            try refreshImageRisk(imageId: imageId, in: db)
        }
    }
}

/// One scanner's part in a scan, as stored and shown (`scanners[]` of a scan).
public struct ScannerRunRecord: Sendable, Hashable, Codable {
    public var name: String
    public var status: String
    public var version: String?
    public var durationMs: Int
    public var error: String?

    public init(name: String, status: String, version: String?, durationMs: Int, error: String?) {
        self.name = name
        self.status = status
        self.version = version
        self.durationMs = durationMs
        self.error = error
    }
}

/// The layer-analysis cache in the appliance database, keyed by (layer digest, analyser
/// version): a rescan of an image whose layers were seen downloads no layer.
public struct SQLiteLayerCache: LayerAnalysisCache {
    let writer: any DatabaseWriter

    public init(writer: any DatabaseWriter) {
        self.writer = writer
    }

    public func get(digest: String) async -> LayerAnalysis? {
        let data: Data? = try? await writer.read { db in
            try Data.fetchOne(
                db.cachedStatement(sql: "SELECT analysis FROM layer_analyses WHERE digest = ? AND analyzer_version = ?"),
                arguments: [digest, LayerAnalysis.analyzerVersion])
        }
        guard let data else { return nil }
        return try? JSONDecoder().decode(LayerAnalysis.self, from: data)
    }

    public func put(_ analysis: LayerAnalysis, digest: String) async {
        guard let data = try? ScanStore.findingEncoder.encode(analysis) else { return }
        let ts = Timestamp.format(Date())
        _ = try? await writer.write { db in
            try db.execute(
                sql: "INSERT OR REPLACE INTO layer_analyses (digest, analyzer_version, analysis, created_at) VALUES (?, ?, ?, ?)",
                arguments: [digest, analysis.analyzerVersion, data, ts])
        }
    }
}
