import Cron
import Foundation
import GRDB
import Scan
import Store

/// What ends a scan, across the repositories it touches and the notifications it emits:
/// the scan job, the sensor's results and cancellation all end scans through here.
enum ScanRecording {
    /// Marks the scan failed and emits `scan_failed` when it was still queued or running.
    static func markFailed(_ id: String, error: String, durationMs: Int?, scanners: [ScannerRunRecord]?, now: Date, in db: any SQLConnection) throws {
        guard let failed = try ScanRepository.markFailed(id, error: error, durationMs: durationMs, scanners: scanners, now: now, in: db)
        else { return }
        try? Notifications.emit(
            .scanFailed, orgId: failed.orgId, severity: "warning", title: "Scan failed: \(failed.reference)",
            message: error, fields: ["scanId": id, "reference": failed.reference], now: now, in: db)
    }

    /// Records a finished scan: inventory by digest, findings, counts, image and tag aggregates.
    /// False when the scan was cancelled or deleted while it ran (nothing is written then).
    static func complete(
        _ scanId: String, report: ImageScanReport, scanners: [ScannerRunRecord], notes: [String], registryHost: String,
        inventoryKey: String? = nil, enrichment: PolicyEnrichment, now: Date, in db: any SQLConnection
    ) throws -> Bool {
        // Inventories are shared by digest between scans the server made itself; what a sensor
        // uploads is kept under its registry's own key, so no sensor can change another's.
        let inventoryKey = inventoryKey ?? report.manifestDigest
        guard let scan = try ScanRepository.runningScan(scanId, in: db) else { return false }
        // The tag now points at what was scanned (a scan may be the first sight of it).
        var imageId = try ImageRepository.imageId(db, registryId: scan.registryId, repository: scan.repository)
        if let tag = scan.tag, let registry = try RegistryRecord.fetch(db, id: scan.registryId, org: scan.orgId) {
            _ = try SyncStore.recordTag(
                registry: registry, registryHost: registryHost, repository: scan.repository, tag: tag, digest: report.digest,
                now: now, in: db)
            imageId = try ImageRepository.imageId(db, registryId: scan.registryId, repository: scan.repository)
        }
        try ScanRepository.recordCompletion(
            scanId, orgId: scan.orgId, imageId: imageId, report: report, scanners: scanners, notes: notes,
            inventoryKey: inventoryKey, now: now, in: db)
        try notifyCompleted(scanId, orgId: scan.orgId, imageId: imageId, tag: scan.tag, findings: report.findings, now: now, in: db)
        if let imageId {
            try ScanRepository.markTagsScanned(scanId, imageId: imageId, digest: report.digest, tag: scan.tag, now: now, in: db)
        }
        try PolicyRecording.record(scanId: scanId, enrichment: enrichment, now: now, in: db)
        return true
    }

    /// `scan_complete`, and `critical_cve` / `high_cve` for findings the tag's previous
    /// completed scan did not have (not suppressed by triage).
    static func notifyCompleted(
        _ scanId: String, orgId: String, imageId: String?, tag: String?, findings: [Finding], now: Date, in db: any SQLConnection
    ) throws {
        guard let s = try ScanRepository.summary(scanId, in: db) else { return }
        let c = s.counts
        try Notifications.emit(
            .scanComplete, orgId: orgId, severity: c.critical > 0 ? "critical" : c.high > 0 ? "high" : "info",
            title: "Scan complete: \(s.reference)",
            message: "\(findings.count) findings (critical \(c.critical), high \(c.high), medium \(c.medium), low \(c.low)); risk score \(s.riskScore).",
            fields: ["scanId": scanId, "reference": s.reference, "digest": s.digest, "riskScore": "\(s.riskScore)"],
            priority: findings.map(\.effectivePriority).min(), now: now, in: db)
        let previous = try imageId.map { try ScanRepository.previousFindingKeys(imageId: $0, tag: tag, before: scanId, in: db) } ?? []
        let suppressed = try ScanRepository.suppressedVulnerabilities(orgId: orgId, imageId: imageId, now: now, in: db)
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
                title: "\(new.count) new \(severity.rawValue) finding\(plural) in \(s.reference)",
                message: new.prefix(10).map { "\($0.vulnerabilityId) in \($0.package.name) \($0.package.version)" }.joined(separator: "; "),
                fields: ["scanId": scanId, "reference": s.reference, "vulnerabilityIds": ids.joined(separator: ",")],
                priority: new.map(\.effectivePriority).min(), now: now, in: db)
        }
    }
}
