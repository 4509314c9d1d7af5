public import Cron
public import Foundation
import GRDB
import Logging
public import Scan
import Registry
import Store

/// The `vulndb_update` job: download the OSV ecosystem archives and the configured
/// enrichment feeds into the server's vulnerability database, then queue a rematch when
/// anything changed.
extension ScanRunner {
    /// Enqueues an update (one queued or running at a time).
    @discardableResult
    public static func enqueueVulnDBUpdate(
        url: String?, ecosystems: [String]?, sources: [String]? = nil, orgId: String?, now: Date, in db: any SQLConnection
    ) throws -> (job: Job, created: Bool) {
        try JobStore.enqueue(
            try NewJob(
                .vulndbUpdate, VulnDBUpdateJobPayload(url: url, ecosystems: ecosystems, sources: sources), orgId: orgId,
                dedupeKey: JobKind.vulndbUpdate.rawValue, maxAttempts: 3),
            now: now, in: db)
    }

    /// What an update job with `sources` (nil: the default) updates on a server configured
    /// with `config`: OSV when named (or by default), and the named enrichment sources that
    /// have a URL. Unknown names → nil.
    public static func vulndbSelection(_ sources: [String]?, config: ServerConfiguration) -> VulnDBSourceSelection? {
        let configured = config.configuredEnrichment
        guard let sources else { return VulnDBSourceSelection(osv: true, enrichment: configured) }
        guard let parsed = try? VulnDBSourceSelection.parse(sources) else { return nil }
        return VulnDBSourceSelection(osv: parsed.osv, enrichment: parsed.enrichment.filter(configured.contains))
    }

    public func vulndbUpdate(_ context: JobContext, _ payload: VulnDBUpdateJobPayload) async throws -> String? {
        guard let vulndb = services.vulnDB else { throw PermanentJobError("no vulnerability database is configured") }
        let config = services.config
        guard let selection = Self.vulndbSelection(payload.sources, config: config) else {
            throw PermanentJobError("unknown source in \(payload.sources ?? []); use \(VulnDBSourceSelection.names.joined(separator: ", "))")
        }
        let base = payload.url ?? config.vulnDBUpdateURL ?? VulnDBUpdater.defaultBaseURL
        // On PostgreSQL: the update is made on the current release, and published only if no
        // other node published meanwhile (else the job fails and its retry starts again from
        // that release). An earlier update whose publish failed is published now, even when
        // this one changes nothing (its sources are unchanged since then).
        let releases = services.vulnDBReleases
        var change: VulnDBLocalChange?
        if let releases {
            let base = try await releases.prepareChange()
            change = try VulnDBLocalChange.begin(releases.directory, base: base, reason: "vulndb update")
        }
        let refresh: VulnDBRefresh
        do {
            refresh = try await VulnDBRefresh.run(
                database: vulndb, selection: selection, osvBaseURL: base, ecosystems: payload.ecosystems,
                locations: config.enrichmentURLs, policy: OutgoingPolicy(allowPrivateTargets: config.allowPrivateTargets)
            ) { done, total, _ in
                Task { await context.progress(done: done, total: total) }
            }
        } catch let e as VulnDBUpdateError {
            throw PermanentJobError(e.description)
        }
        let reason = "vulndb update: " + (refresh.changed ? refresh.changedNames.joined(separator: ", ") : "no source changed")
        if let reason = VulnDBLocalChange.finish(change, changed: refresh.changed, reason: reason) {
            let now = services.now
            // Every node takes this version before it matches again; the rematch below runs
            // on whichever node claims it, against the release.
            try await releases?.publish(reason: reason, over: change?.base ?? .any)
            try await services.db.write { db in
                _ = try Self.enqueueRematch(reason: reason, now: now, in: db)
            }
        }
        struct Line: Encodable {
            var ecosystem: String?, source: String, outcome: String, records: Int, bytes: Int64, message: String?
        }
        let lines = (refresh.osv?.ecosystems ?? []).map {
            Line(ecosystem: $0.ecosystem, source: $0.source, outcome: $0.outcome.rawValue, records: $0.records, bytes: $0.bytes, message: $0.message)
        } + refresh.enrichment.map {
            Line(ecosystem: nil, source: $0.source, outcome: $0.outcome.rawValue, records: $0.records, bytes: $0.bytes, message: $0.message)
        }
        let text = String(decoding: try JSONCoding.encoder.encode(lines), as: UTF8.self)
        guard refresh.succeeded else {
            // The sources that worked are imported; a retry fetches only what changed.
            throw VulnDBJobFailure(description: "\(refresh.failures.count) source(s) failed: "
                + refresh.failures.map { "\($0.name): \($0.message)" }.joined(separator: "; "))
        }
        return text
    }
}

struct VulnDBJobFailure: Error, CustomStringConvertible {
    var description: String
}
