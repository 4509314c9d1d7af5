public import Cron
public import Foundation
public import GRDB
import Logging
import Scan
import Registry
import Store

/// The `vulndb_update` job: download the OSV ecosystem archives into the server's
/// vulnerability database, then queue a rematch when anything changed.
extension ScanRunner {
    /// Enqueues an update (one queued or running at a time).
    @discardableResult
    public static func enqueueVulnDBUpdate(
        url: String?, ecosystems: [String]?, orgId: String?, now: Date, in db: Database
    ) throws -> (job: Job, created: Bool) {
        try JobStore.enqueue(
            try NewJob(
                .vulndbUpdate, VulnDBUpdateJobPayload(url: url, ecosystems: ecosystems), orgId: orgId,
                dedupeKey: JobKind.vulndbUpdate.rawValue, maxAttempts: 3),
            now: now, in: db)
    }

    public func vulndbUpdate(_ context: JobContext, _ payload: VulnDBUpdateJobPayload) async throws -> String? {
        guard let vulndb = services.vulnDB else { throw PermanentJobError("no vulnerability database is configured") }
        let base = payload.url ?? services.config.vulnDBUpdateURL ?? VulnDBUpdater.defaultBaseURL
        let summary: VulnDBUpdateSummary
        do {
            summary = try await VulnDBUpdater.update(
                database: vulndb, baseURL: base, ecosystems: payload.ecosystems,
                policy: OutgoingPolicy(allowPrivateTargets: services.config.allowPrivateTargets)
            ) { done, total, _ in
                Task { await context.progress(done: done, total: total) }
            }
        } catch let e as VulnDBUpdateError {
            throw PermanentJobError(e.description)
        }
        let changed = summary.ecosystems.filter { $0.outcome == .updated }
        if !changed.isEmpty {
            let now = services.now
            let names = changed.map(\.ecosystem).joined(separator: ", ")
            try await services.db.writer.write { db in
                _ = try Self.enqueueRematch(reason: "vulndb update: \(names)", now: now, in: db)
            }
        }
        struct Line: Encodable { var ecosystem: String, outcome: String, records: Int, bytes: Int64, message: String? }
        let lines = summary.ecosystems.map {
            Line(ecosystem: $0.ecosystem, outcome: $0.outcome.rawValue, records: $0.records, bytes: $0.bytes, message: $0.message)
        }
        let text = String(decoding: try JSONCoding.encoder.encode(lines), as: UTF8.self)
        guard summary.succeeded else {
            // The ecosystems that worked are imported; a retry fetches only what changed.
            throw VulnDBJobFailure(description: "\(summary.failed.count) ecosystem(s) failed: "
                + summary.failed.map { "\($0.ecosystem): \($0.message ?? "failed")" }.joined(separator: "; "))
        }
        return text
    }
}

struct VulnDBJobFailure: Error, CustomStringConvertible {
    var description: String
}
