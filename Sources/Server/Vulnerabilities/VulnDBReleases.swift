import Cron
import Crypto
public import Foundation
import Logging
import Registry
public import Scan
import ServiceLifecycle
public import Store

/// One vulnerability-database version for every node of a PostgreSQL installation.
///
/// Each node matches against its own `vulndb.sqlite` (matching is local reads, never a round
/// trip). The node that changes it (an update job, `db import|update --database`) publishes
/// the result: a `VACUUM INTO` snapshot, stored in PostgreSQL in 4 MiB chunks under its
/// SHA-256 (`vulndb_releases`, `vulndb_release_chunks`), then made the current release in one
/// short transaction. Every node, before it matches (a scan, a rematch, a sensor's
/// inventory), compares the current release with the version its own file holds (the
/// `vulndb.release` marker beside it) and, when they differ, copies the release in first
/// (SQLite's online backup into the open database, after checking the SHA-256). A background
/// task does the same every `followInterval`, so the copy is usually done before a job needs it.
///
/// Matches and copies exclude each other on a node: a copy waits for the matches in flight
/// and new matches wait for the copy, so one match sees one version from start to end.
public actor VulnDBReleases {
    public struct Release: Sendable, Equatable {
        public var version: String
        public var schemaVersion: String
        public var size: Int64
        public var chunks: Int
        public var publishedBy: String
        public var reason: String
        public var publishedAt: String
    }

    public enum ReleaseError: Error, CustomStringConvertible {
        case superseded(String)
        case corrupt(String)
        /// Another node published this release while a change was made on the previous one.
        case conflict(String)
        public var description: String {
            switch self {
            case .superseded(let v): "vulnerability database release \(v.prefix(12)) was replaced while it was copied"
            case .conflict(let v):
                "another node published vulnerability database release \(v.prefix(12)) while this change was made: it is not published over it"
            case .corrupt(let m): "vulnerability database release: \(m)"
            }
        }
    }

    static let chunkSize = 4 << 20
    /// The PostgreSQL advisory lock a conditional publish holds for its switch.
    static let publishLock: Int64 = 0x6867_7664_6272_6c73  // "hgvdbrls"
    /// Uploads that never completed (a node died mid-publish) are removed after this long.
    static let abandonedAfter: TimeInterval = 3600

    let db: AppDatabase
    public let vulndb: VulnerabilityDatabase
    let directory: URL
    let node: String
    let logger: Logger
    /// The version this node's file holds (nil: unknown, e.g. a file no release made).
    private(set) public var local: String?

    private var readers = 0
    private var changing = false
    private var waitingReaders: [CheckedContinuation<Void, Never>] = []
    private var waitingChangers: [CheckedContinuation<Void, Never>] = []

    /// `directory` holds `vulndb.sqlite` and its `vulndb.release` marker.
    init(db: AppDatabase, vulndb: VulnerabilityDatabase, directory: URL, node: String, logger: Logger) {
        self.db = db
        self.vulndb = vulndb
        self.directory = directory
        self.node = node
        self.logger = logger
        local = Self.readMarker(directory)
        Self.removeLeftovers(directory)
    }

    /// Snapshots of a publish or a copy that a killed process left behind (an hour old: the
    /// command line and the server may be working in the same directory right now).
    static func removeLeftovers(_ directory: URL) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        let cutoff = Date().addingTimeInterval(-abandonedAfter)
        for name in names where name.hasPrefix("vulndb.incoming-") || name.hasPrefix("vulndb.outgoing-") {
            let url = directory.appendingPathComponent(name)
            let modified = (try? FileManager.default.attributesOfItem(atPath: url.path)[.modificationDate]) as? Date
            if let modified, modified < cutoff { try? FileManager.default.removeItem(at: url) }
        }
    }

    public static func markerURL(_ directory: URL) -> URL { directory.appendingPathComponent("vulndb.release") }

    /// `vulndb.unpublished`: written before this node changes its database on a PostgreSQL
    /// installation, removed when the change is published (or a release replaces it). While it
    /// exists, the next update or import publishes even when it changes nothing itself: a
    /// change whose publish failed (PostgreSQL unreachable) is not left on one node.
    public static func unpublishedURL(_ directory: URL) -> URL { directory.appendingPathComponent("vulndb.unpublished") }

    /// Records that a change is about to be made; returns whether an earlier one is still unpublished.
    public static func beginLocalChange(_ directory: URL, reason: String) throws -> Bool {
        let url = unpublishedURL(directory)
        let pending = FileManager.default.fileExists(atPath: url.path)
        if !pending { try Data("\(RFC3339.string(Date())) \(reason)\n".utf8).write(to: url) }
        return pending
    }

    /// The change turned out to change nothing and nothing earlier is pending.
    public static func discardLocalChange(_ directory: URL) {
        try? FileManager.default.removeItem(at: unpublishedURL(directory))
    }

    static func readMarker(_ directory: URL) -> String? {
        guard let data = FileManager.default.contents(atPath: markerURL(directory).path) else { return nil }
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.count == 64 && text.allSatisfy(\.isHexDigit) ? text : nil
    }

    private func setLocal(_ version: String) throws {
        let url = Self.markerURL(directory)
        let temporary = directory.appendingPathComponent("vulndb.release.tmp")
        try Data((version + "\n").utf8).write(to: temporary)
        guard rename(temporary.path, url.path) == 0 else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: url.path])
        }
        local = version
    }

    /// `db import|update --database` on this node's data directory publishes and moves the
    /// marker itself: no need to copy back what the file already holds.
    private func rereadMarker() {
        if let marker = Self.readMarker(directory) { local = marker }
    }

    // MARK: The current release

    /// The current release (nil before any node published one).
    public func current() async throws -> Release? {
        try await db.read { db in try Self.current(db) }
    }

    static func current(_ db: any SQLConnection) throws -> Release? {
        guard let r = try db.queryOne(
            """
            SELECT version, schema_version, size, chunks, published_by, reason, published_at FROM vulndb_releases
            WHERE release_seq IS NOT NULL ORDER BY release_seq DESC LIMIT 1
            """, [])
        else { return nil }
        return Release(
            version: r.string(0) ?? "", schemaVersion: r.string(1) ?? "", size: Int64(r.int(2) ?? 0), chunks: r.int(3) ?? 0,
            publishedBy: r.string(4) ?? "", reason: r.string(5) ?? "", publishedAt: r.string(6) ?? "")
    }

    // MARK: Matching

    /// Runs `body` (a match) against the current release: copied in first when this node's
    /// file holds another version, and not replaced until `body` returns.
    public nonisolated func matching<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        try await enterMatch()
        do {
            let result = try await body()
            await leaveMatch()
            return result
        } catch {
            await leaveMatch()
            throw error
        }
    }

    func enterMatch() async throws {
        var superseded = 0
        while true {
            while changing || !waitingChangers.isEmpty {
                await withCheckedContinuation { waitingReaders.append($0) }
            }
            let released = try await current()
            rereadMarker()
            if let released, released.version != local, followable(released) {
                do {
                    try await follow(released)
                } catch ReleaseError.superseded(let v) where superseded < 3 {
                    superseded += 1
                    logger.info("vulnerability database release replaced during its copy; copying the new one", metadata: ["release": "\(v.prefix(12))"])
                }
                continue
            }
            // Another change may have started while the release was read.
            if changing || !waitingChangers.isEmpty { continue }
            readers += 1
            return
        }
    }

    func leaveMatch() {
        readers -= 1
        if readers == 0, !changing, !waitingChangers.isEmpty {
            changing = true
            waitingChangers.removeFirst().resume()
        }
    }

    /// The release a node cannot take (another harborguard version made it, with another
    /// vulnerability-database schema) was logged for.
    private var warnedSchema: String?

    /// Whether this binary can take `release`. A release of another schema (a rolling upgrade:
    /// old and new nodes side by side) is not taken: the node matches against its own file
    /// and says so in its log, once per release.
    private func followable(_ release: Release) -> Bool {
        guard release.schemaVersion != VulnerabilityDatabase.schemaVersion else { return true }
        if warnedSchema != release.version {
            warnedSchema = release.version
            logger.warning(
                "vulnerability database release made by another harborguard version: this node matches against its own database until a release of its version is published",
                metadata: [
                    "release": "\(release.version.prefix(12))", "release_schema": "\(release.schemaVersion)",
                    "schema": "\(VulnerabilityDatabase.schemaVersion)", "published_by": "\(release.publishedBy)",
                ])
        }
        return false
    }

    private func beginChange() async {
        if changing || readers > 0 {
            // Whoever resumes this continuation hands over with `changing` already set.
            await withCheckedContinuation { waitingChangers.append($0) }
            return
        }
        changing = true
    }

    private func endChange() {
        if !waitingChangers.isEmpty {
            waitingChangers.removeFirst().resume()
            return
        }
        changing = false
        let resumed = waitingReaders
        waitingReaders = []
        for r in resumed { r.resume() }
    }

    // MARK: Following

    /// Copies the current release in when this node holds another version (the background
    /// task's step, and the first step at start). Returns the version now held.
    @discardableResult
    public func refresh() async throws -> String? {
        guard let released = try await current() else { return local }
        rereadMarker()
        if released.version != local, followable(released) { try await follow(released) }
        return local
    }

    /// Before a change of this node's file (an update job, `db import|update --database`):
    /// copies the current release in, so that the change is made on top of it. Returns what
    /// the change's publish may replace (`publish(reason:over:)`): that release (also when it
    /// cannot be taken: another schema, a rolling upgrade).
    public func prepareChange() async throws -> Base {
        guard let released = try await current() else { return .version(nil) }
        rereadMarker()
        if released.version != local, followable(released) { try await follow(released) }
        return .version(released.version)
    }

    private func follow(_ release: Release) async throws {
        await beginChange()
        defer { endChange() }
        guard release.version != local else { return }
        let start = ContinuousClock.now
        let file = directory.appendingPathComponent("vulndb.incoming-\(UUID().uuidString).sqlite")
        defer { try? FileManager.default.removeItem(at: file) }
        _ = FileManager.default.createFile(atPath: file.path, contents: nil, attributes: [.posixPermissions: 0o600])
        let handle = try FileHandle(forWritingTo: file)
        var hash = SHA256()
        var size: Int64 = 0
        do {
            for seq in 0..<release.chunks {
                let version = release.version
                guard let chunk = try await db.read({ db in
                    try db.data("SELECT data FROM vulndb_release_chunks WHERE version = ? AND seq = ?", [version, seq])
                }) else { throw ReleaseError.superseded(release.version) }
                hash.update(data: chunk)
                size += Int64(chunk.count)
                try handle.write(contentsOf: chunk)
            }
            try handle.close()
        } catch {
            try? handle.close()
            throw error
        }
        let digest = hash.finalize().hexString
        guard size == release.size, digest == release.version else {
            throw ReleaseError.corrupt("release \(release.version.prefix(12)) read back as \(size) bytes with SHA-256 \(digest.prefix(12))")
        }
        try await vulndb.replaceContents(withSnapshotAt: file.path)
        try setLocal(release.version)
        Self.discardLocalChange(directory)
        logger.info(
            "vulnerability database follows the current release",
            metadata: [
                "release": "\(release.version.prefix(12))", "bytes": "\(size)", "published_by": "\(release.publishedBy)",
                "ms": "\(Self.milliseconds(since: start))",
            ])
    }

    // MARK: Publishing

    /// What a publish replaces: any release (the first node's own database at start), or only
    /// the version the change was made on (nil: no release then).
    public enum Base: Sendable, Equatable {
        case any
        case version(String?)
    }

    /// Publishes this node's database as the current release (after a change to it). With
    /// `.version(v)`, refused (`ReleaseError.conflict`) when another release than `v` became
    /// current meanwhile: publishing would drop that release's content. Follow it and make the
    /// change again.
    @discardableResult
    public func publish(reason: String, over base: Base = .any) async throws -> Release {
        await beginChange()
        defer { endChange() }
        let start = ContinuousClock.now
        let file = directory.appendingPathComponent("vulndb.outgoing-\(UUID().uuidString).sqlite")
        defer { try? FileManager.default.removeItem(at: file) }
        try await vulndb.snapshot(to: file.path)
        let (version, size) = try Self.digest(of: file)
        let chunks = Int((size + Int64(Self.chunkSize) - 1) / Int64(Self.chunkSize))
        let now = RFC3339.string(Date())
        let cutoff = RFC3339.string(Date().addingTimeInterval(-Self.abandonedAfter))
        let node = self.node
        let schema = VulnerabilityDatabase.schemaVersion
        // A release row first (uncompleted: invisible), then the chunks, a transaction each
        // (no long write lock), then the switch. The same content already released is only
        // made current again.
        let needsChunks: Bool = try await db.write { db in
            if let row = try db.queryOne("SELECT release_seq FROM vulndb_releases WHERE version = ?", [version]) {
                if row.int(0) != nil { return false }
                try db.execute("DELETE FROM vulndb_release_chunks WHERE version = ?", [version])
                try db.execute(
                    "UPDATE vulndb_releases SET published_by = ?, reason = ?, started_at = ? WHERE version = ?", [node, reason, now, version])
                return true
            }
            try db.execute(
                """
                INSERT INTO vulndb_releases (version, schema_version, size, chunks, published_by, reason, started_at)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """, [version, schema, size, chunks, node, reason, now])
            return true
        }
        if needsChunks {
            let handle = try FileHandle(forReadingFrom: file)
            defer { try? handle.close() }
            for seq in 0..<chunks {
                guard let chunk = try handle.read(upToCount: Self.chunkSize), !chunk.isEmpty else {
                    throw ReleaseError.corrupt("the snapshot ended before chunk \(seq + 1) of \(chunks)")
                }
                _ = try await db.write { db in
                    try db.execute("INSERT INTO vulndb_release_chunks (version, seq, data) VALUES (?, ?, ?)", [version, seq, chunk])
                }
            }
        }
        let release: Release = try await db.write { db in
            guard try db.int("SELECT 1 FROM vulndb_releases WHERE version = ?", [version]) != nil else {
                throw ReleaseError.superseded(version)
            }
            if case .version(let expected) = base {
                // One publish at a time checks and switches (each statement reads what the
                // previous holder committed).
                _ = try db.queryOne("SELECT pg_advisory_xact_lock(\(Self.publishLock))", [])
                if let current = try Self.current(db), current.version != version, current.version != expected {
                    throw ReleaseError.conflict(current.version)
                }
            }
            try db.execute(
                """
                UPDATE vulndb_releases SET release_seq = nextval('vulndb_release_seq'), published_at = ?, published_by = ?, reason = ?
                WHERE version = ?
                """, [now, node, reason, version])
            // Only the current release is kept (a node copying an older one starts again),
            // and uploads abandoned an hour ago.
            try db.execute(
                "DELETE FROM vulndb_releases WHERE version <> ? AND (release_seq IS NOT NULL OR started_at < ?)", [version, cutoff])
            return try Self.current(db)!
        }
        try setLocal(version)
        Self.discardLocalChange(directory)
        logger.info(
            "vulnerability database published",
            metadata: ["release": "\(version.prefix(12))", "bytes": "\(size)", "reason": "\(reason)", "ms": "\(Self.milliseconds(since: start))"])
        return release
    }

    static func milliseconds(since start: ContinuousClock.Instant) -> Int64 {
        let d = ContinuousClock.now - start
        return d.components.seconds * 1000 + d.components.attoseconds / 1_000_000_000_000_000
    }

    static func digest(of file: URL) throws -> (String, Int64) {
        let handle = try FileHandle(forReadingFrom: file)
        defer { try? handle.close() }
        var hash = SHA256()
        var size: Int64 = 0
        while let chunk = try handle.read(upToCount: chunkSize), !chunk.isEmpty {
            hash.update(data: chunk)
            size += Int64(chunk.count)
        }
        return (hash.finalize().hexString, size)
    }

    // MARK: At start

    /// At start: follows the current release, or, when there is none yet and this node's
    /// database has advisories, publishes it (the first node of an installation).
    public func start() async throws {
        if try await current() == nil {
            if (try await vulndb.status().advisories) > 0 { try await publish(reason: "first node with a vulnerability database") }
            return
        }
        try await refresh()
    }
}

/// Follows the current release in the background (every `interval`), so that jobs rarely
/// wait for a copy. Failures are logged and retried at the next step.
struct VulnDBFollowerService: Service {
    let releases: VulnDBReleases
    let interval: Duration
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            var failing = false
            var first = true
            while !Task.isCancelled {
                do {
                    if first { try await releases.start() } else { try await releases.refresh() }
                    first = false
                    if failing { logger.info("vulnerability database release: following again") }
                    failing = false
                } catch is CancellationError {
                    return
                } catch {
                    if !failing { logger.warning("vulnerability database release: cannot follow", metadata: ["error": "\(error)"]) }
                    failing = true
                }
                try? await Task.sleep(for: interval)
            }
        }
    }
}

extension VulnDBReleases {
    /// For `db import|update --database` on the command line: publishes the data directory's
    /// vulnerability database to the PostgreSQL installation at `databaseURL` (every node takes
    /// it before it matches again) and moves the directory's marker to it.
    public static func publish(
        dataDir: DataDirectory, databaseURL: String, vulndb: VulnerabilityDatabase, reason: String, over base: Base
    ) async throws -> (version: String, size: Int64) {
        try await commandLine(dataDir: dataDir, databaseURL: databaseURL, vulndb: vulndb) { releases in
            let release = try await releases.publish(reason: reason, over: base)
            return (release.version, release.size)
        }
    }

    /// For `db import|update --database`, before the change: `prepareChange()` on the data
    /// directory's database.
    public static func prepareChange(dataDir: DataDirectory, databaseURL: String, vulndb: VulnerabilityDatabase) async throws -> Base {
        try await commandLine(dataDir: dataDir, databaseURL: databaseURL, vulndb: vulndb) { try await $0.prepareChange() }
    }

    private static func commandLine<T: Sendable>(
        dataDir: DataDirectory, databaseURL: String, vulndb: VulnerabilityDatabase, _ body: (VulnDBReleases) async throws -> T
    ) async throws -> T {
        try await dataDir.openDatabase(databaseURL: databaseURL).closing { db in
            try await body(VulnDBReleases(
                db: db, vulndb: vulndb, directory: URL(fileURLWithPath: dataDir.path),
                node: "\(ProcessInfo.processInfo.hostName) command line", logger: Logger(label: "harborguard.vulndb")))
        }
    }

    /// The version the data directory's vulnerability database was last given by a release
    /// (nil when it never followed one: a single-node installation).
    public static func followedRelease(dataDir: DataDirectory) -> String? {
        readMarker(URL(fileURLWithPath: dataDir.path))
    }
}
