import ArgumentParser
import Cron
import Foundation
import Scan
import Server
import Store

struct DBCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "db", abstract: "The vulnerability database (OSV records, NVD, EPSS, CISA KEV, the Debian security tracker).",
        subcommands: [Import.self, Update.self, Status.self])

    /// Queues a rematch in the data directory's appliance database (the server re-matches
    /// stored inventories; no image is pulled).
    static func queueRematch(_ dir: DataDirectory, databaseURL: String?, reason: String) async {
        do {
            if let job = try await ScanRunner.enqueueRematch(dataDir: dir, databaseURL: databaseURL, reason: reason) {
                print("queued rematch job \(job.id): the server re-matches stored inventories")
            }
        } catch {
            FileHandle.standardError.write(Data("warning: could not queue a rematch: \(error)\n".utf8))
        }
    }

    /// A data directory that follows a PostgreSQL installation's release is changed only
    /// with `--database`, so that the change is published to every node (without it the
    /// node's next match would copy the release back over it).
    static func refuseUnpublishedChange(_ dir: DataDirectory, databaseURL: String?) {
        guard databaseURL == nil, let version = VulnDBReleases.followedRelease(dataDir: dir) else { return }
        fail(
            "\(dir.path)/vulndb.sqlite follows a PostgreSQL installation's vulnerability database (release \(version.prefix(12))): "
                + "pass --database postgres://… (or HARBORGUARD_DATABASE_URL) so the change is published to every node",
            code: 64)
    }

    /// On PostgreSQL, before the change: takes the installation's current release first (the
    /// change is made on top of it; its publish is refused if another node publishes
    /// meanwhile) and records the change as unpublished until it is. nil on SQLite.
    static func beginChange(
        _ dir: DataDirectory, databaseURL: String?, vulndb: VulnerabilityDatabase, reason: String
    ) async -> VulnDBLocalChange? {
        guard let databaseURL else { return nil }
        let base: VulnDBReleases.Base
        do {
            base = try await VulnDBReleases.prepareChange(dataDir: dir, databaseURL: databaseURL, vulndb: vulndb)
        } catch {
            // The change goes ahead on the release this directory holds; its publish is
            // refused if another one became current meanwhile.
            let held = VulnDBReleases.followedRelease(dataDir: dir)
            FileHandle.standardError.write(Data(
                "warning: could not take the current vulnerability database release first (\(error)); changing release \(held.map { String($0.prefix(12)) } ?? "none")\n".utf8))
            base = .version(held)
        }
        do {
            return try VulnDBLocalChange.begin(URL(fileURLWithPath: dir.path), base: base, reason: reason)
        } catch {
            fail("cannot write to \(dir.path): \(error)")
        }
    }

    /// Opens the data directory's vulnerability database (created if missing).
    static func openVulnDB(_ dir: DataDirectory) -> VulnerabilityDatabase {
        do {
            try FileIO.makeDirectory(dir.path, mode: 0o700)
            return try VulnerabilityDatabase(path: dir.vulnDBPath)
        } catch {
            fail("cannot open \(dir.vulnDBPath): \(error)")
        }
    }

    /// Ends a change: publishes and queues the rematch when it changed the database or an
    /// earlier change is unpublished; otherwise forgets it.
    static func endChange(
        _ dir: DataDirectory, databaseURL: String?, vulndb: VulnerabilityDatabase, changed: Bool, change: VulnDBLocalChange?,
        reason: String
    ) async {
        guard let reason = VulnDBLocalChange.finish(change, changed: changed, reason: reason) else { return }
        await publish(dir, databaseURL: databaseURL, vulndb: vulndb, reason: reason, over: change?.base ?? .any)
        await queueRematch(dir, databaseURL: databaseURL, reason: reason)
    }

    /// On PostgreSQL: publishes the changed database (before the rematch is queued, so the node
    /// that runs the rematch matches against it).
    static func publish(
        _ dir: DataDirectory, databaseURL: String?, vulndb: VulnerabilityDatabase, reason: String, over base: VulnDBReleases.Base
    ) async {
        guard let databaseURL else { return }
        do {
            let release = try await VulnDBReleases.publish(dataDir: dir, databaseURL: databaseURL, vulndb: vulndb, reason: reason, over: base)
            print("published vulnerability database release \(release.version.prefix(12)) (\(release.size) bytes): every node matches against it")
        } catch {
            fail("the import is in \(dir.vulnDBPath) but could not be published to the other nodes: \(error); run the command again")
        }
    }

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Load OSV records and enrichment feeds from a file or a directory.",
            discussion: """
                Each file's kind is told by its content (gzip inflated first): OSV JSON records or an OSV all.zip, \
                NVD CVE 2.0 feeds (nvdcve-2.0-*.json[.gz], checked against a .meta beside them), EPSS CSV \
                (.csv or .csv.gz), the CISA KEV catalog JSON and the Debian security tracker JSON. A feed file \
                that cannot be imported keeps its source's previous data; the exit status is then 1.
                """)
        @OptionGroup var global: GlobalOptions
        @Argument(help: "A directory (OSV JSON files and feed files), or one file.") var path: String
        @OptionGroup var database: DatabaseOption

        func run() async throws {
            _ = global.bootstrapLogging()
            guard FileManager.default.fileExists(atPath: path) else { fail("\(path) does not exist", code: 64) }
            let dir = DataDirectory(global.dataDir)
            DBCommand.refuseUnpublishedChange(dir, databaseURL: database.url)
            let db = DBCommand.openVulnDB(dir)
            let change = await DBCommand.beginChange(dir, databaseURL: database.url, vulndb: db, reason: "db import \(path)")
            let s: PathImportSummary
            do {
                s = try db.importPath(URL(fileURLWithPath: path))
            } catch {
                fail("import failed: \(error)")
            }
            if let o = s.osv {
                print("imported \(o.recordsRead) records from \(o.filesRead) files: \(o.inserted) new, \(o.updated) updated, "
                    + "\(o.unchanged) unchanged, \(o.withdrawn) withdrawn, \(o.failures.count) unreadable")
                for f in o.failures.prefix(10) { FileHandle.standardError.write(Data("  \(f)\n".utf8)) }
            }
            for f in s.feeds { print("imported \(f.kind.rawValue): \(f.records) records from \(f.file)") }
            if s.osv == nil && s.feeds.isEmpty && s.failures.isEmpty { print("nothing to import in \(path)") }
            if !s.unrecognised.isEmpty {
                FileHandle.standardError.write(Data("harborguard: \(s.unrecognised.count) files not recognised, ignored: \(s.unrecognised.prefix(5).joined(separator: ", "))\n".utf8))
            }
            for f in s.failures { print("failed: \(f)") }
            await DBCommand.endChange(
                dir, databaseURL: database.url, vulndb: db, changed: s.changed, change: change, reason: "db import \(path)")
            if !s.failures.isEmpty { throw ExitCode.failure }
        }
    }

    struct Update: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Download the OSV ecosystem archives and the enrichment feeds (NVD, EPSS, KEV, Debian tracker); import what changed.",
            discussion: """
                Each OSV ecosystem's archive (<url>/<Ecosystem>/all.zip) replaces what that ecosystem held before, in \
                one transaction; EPSS, KEV and the tracker are replaced whole, NVD records newer-wins (a yearly feed is \
                fetched only when its .meta hash changed). Unchanged files (ETag / Last-Modified) are not downloaded \
                again. A source that fails keeps its previous data; the others are still imported and the exit status \
                is 1. Every URL may also be a file:// URL or a directory holding the upstream's file names (an offline mirror).
                """)
        @OptionGroup var global: GlobalOptions
        @OptionGroup var database: DatabaseOption
        @Option(
            name: .customLong("source"),
            help: "Sources to update: osv, nvd, epss, kev, debian-tracker (repeatable or a comma list; default: those whose --url/--ecosystem or --<source>-url is given, else all).")
        var sources: [String] = []
        @Option(help: "Base URL of the OSV archives (default \(VulnDBUpdater.defaultBaseURL)).") var url: String?
        @Option(name: .customLong("ecosystem"), help: "An OSV ecosystem to update (repeatable; default: all of those the scanner matches, the only names accepted).")
        var ecosystems: [String] = []
        @Option(help: "NVD CVE 2.0 feed directory (nvdcve-2.0-<year>|modified.json.gz and .meta; default \(EnrichmentSource.nvd.defaultLocation)).")
        var nvdUrl: String?
        @Option(help: "EPSS scores (.csv.gz), or a directory holding epss_scores-current.csv.gz (default \(EnrichmentSource.epss.defaultLocation)).")
        var epssUrl: String?
        @Option(help: "CISA KEV catalog JSON, or a directory holding known_exploited_vulnerabilities.json (default \(EnrichmentSource.kev.defaultLocation)).")
        var kevUrl: String?
        @Option(help: "Debian security tracker JSON, or a directory holding a file named json (default \(EnrichmentSource.debianTracker.defaultLocation)).")
        var debianTrackerUrl: String?

        /// The locations given on the command line (the others are upstream's).
        var locations: [EnrichmentSource: String] {
            enrichmentLocations(nvd: nvdUrl, epss: epssUrl, kev: kevUrl, debianTracker: debianTrackerUrl)
        }

        /// `--source` when given; else the sources whose location or ecosystems are given (a
        /// mirror named for one source does not send the others upstream); else all.
        var selection: VulnDBSourceSelection {
            if !sources.isEmpty { return (try? VulnDBSourceSelection.parse(sources)) ?? .all }
            let osv = url != nil || !ecosystems.isEmpty
            let named = EnrichmentSource.allCases.filter { locations[$0] != nil }
            return osv || !named.isEmpty ? VulnDBSourceSelection(osv: osv, enrichment: named) : .all
        }

        func validate() throws {
            if let bad = VulnDBUpdater.firstUnknownEcosystem(ecosystems) {
                throw ValidationError(VulnDBUpdateError.unknownEcosystem(bad.name).description)
            }
            do { _ = try VulnDBSourceSelection.parse(sources) } catch { throw ValidationError(error.description) }
            for (source, location) in locations.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
                do { try EnrichmentUpdater.validate(location: location) } catch {
                    throw ValidationError("\(source.flag): \(error)")
                }
            }
        }

        func run() async throws {
            _ = global.bootstrapLogging()
            let dir = DataDirectory(global.dataDir)
            DBCommand.refuseUnpublishedChange(dir, databaseURL: database.url)
            let db = DBCommand.openVulnDB(dir)
            let change = await DBCommand.beginChange(dir, databaseURL: database.url, vulndb: db, reason: "db update")
            let refresh: VulnDBRefresh
            do {
                refresh = try await VulnDBRefresh.run(
                    database: db, selection: selection, osvBaseURL: url ?? VulnDBUpdater.defaultBaseURL, ecosystems: ecosystems.isEmpty ? nil : ecosystems,
                    locations: locations,
                    progress: { done, total, name in FileHandle.standardError.write(Data("harborguard: \(done)/\(total) \(name)\n".utf8)) })
            } catch let error as VulnDBUpdateError {
                fail("\(error)", code: 64)
            } catch {
                fail("update failed: \(error)")
            }
            for r in refresh.osv?.ecosystems ?? [] {
                var line = "\(r.ecosystem): \(r.outcome.rawValue), \(r.records) records"
                if let s = r.imported {
                    line += " (\(s.inserted) new, \(s.updated) updated, \(s.removed) removed, \(s.failures.count) unreadable; \(r.bytes) bytes)"
                }
                if let m = r.message { line += ": \(m)" }
                print(line)
                for f in r.imported?.failures.prefix(5) ?? [] { FileHandle.standardError.write(Data("  \(f)\n".utf8)) }
            }
            for r in refresh.enrichment { print(Self.line(r)) }
            await DBCommand.endChange(
                dir, databaseURL: database.url, vulndb: db, changed: refresh.changed, change: change,
                reason: "db update: \(refresh.changed ? refresh.changedNames.joined(separator: ", ") : "no source changed")")
            if !refresh.succeeded {
                // On stdout, after the per-source lines, so the two stay in order.
                let total = (refresh.osv?.ecosystems.count ?? 0) + refresh.enrichment.count
                let failures = refresh.failures
                print("\(failures.count) of \(total) sources failed: \(failures.map(\.name).joined(separator: ", "))")
                throw ExitCode.failure
            }
        }

        static func line(_ r: EnrichmentUpdateResult) -> String {
            var line = "\(r.source): \(r.outcome.rawValue), \(r.records) records"
            if r.outcome == .updated {
                line += r.source == EnrichmentSource.nvd.rawValue
                    ? " (\(r.filesImported) feed files, \(r.bytes) bytes)" : " (\(r.bytes) bytes)"
            }
            line += " from \(r.url)"
            if let m = r.message { line += ": \(m)" }
            return line
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Sources, advisory counts per ecosystem, enrichment feeds, last update.")
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            _ = global.bootstrapLogging()
            let path = DataDirectory(global.dataDir).vulnDBPath
            guard FileManager.default.fileExists(atPath: path) else { fail("no vulnerability database at \(path)") }
            do {
                let db = try VulnerabilityDatabase(path: path)
                let s = try await db.status()
                let enrichment = try await db.enrichmentStatus()
                let enrichmentNames = Set(enrichment.map(\.name))
                print("advisories: \(s.advisories) (\(s.withdrawn) withdrawn)")
                for (eco, n) in s.ecosystems.sorted(by: { $0.key < $1.key }) { print("  \(eco): \(n)") }
                for src in s.sources where !enrichmentNames.contains(src.name) {
                    print("source \(src.name): \(src.records) records from \(src.location) at \(RFC3339.string(src.importedAt))")
                }
                for e in enrichment { print(Self.line(e)) }
                if let checked = s.lastChecked { print("upstream last checked at \(RFC3339.string(checked))") }
            } catch {
                fail("\(error)")
            }
        }

        static func line(_ e: EnrichmentSourceStatus) -> String {
            var line = "enrichment \(e.name): \(e.records) records"
            if let location = e.location, let at = e.importedAt {
                line += " from \(location) at \(RFC3339.string(at))"
            } else {
                line += ", never imported"
            }
            if let n = e.cpeConfigurations, e.records > 0 { line += ", \(n) with CPE configurations" }
            if let v = e.version { line += ", version \(v)" }
            if let d = e.date { line += ", dated \(d)" }
            if let c = e.checkedAt { line += ", last checked \(RFC3339.string(c))" }
            if e.outcome == "failed" { line += "; last update failed: \(e.message ?? "")" }
            if let n = e.awaitingRefetch, n > 0 {
                line += "; \(n) records from before CPE configurations were kept: the next `db update` fetches the NVD feeds again"
            }
            return line
        }
    }
}

/// The feed locations given by `--nvd-url`, `--epss-url`, `--kev-url` and
/// `--debian-tracker-url` (of `db update` and of `serve`), keyed by source.
func enrichmentLocations(nvd: String?, epss: String?, kev: String?, debianTracker: String?) -> [EnrichmentSource: String] {
    var out: [EnrichmentSource: String] = [:]
    out[.nvd] = nvd
    out[.epss] = epss
    out[.kev] = kev
    out[.debianTracker] = debianTracker
    return out
}
