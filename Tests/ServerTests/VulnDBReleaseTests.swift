import Cron
import Foundation
import Logging
import SQLTestSupport
import Scan
import Store
import Testing

@testable import Server

/// An OSV record for `package` (PyPI), fixed in `fixed`.
private func record(_ id: String, package: String, fixed: String) -> OSVRecord {
    var r = OSVRecord(id: id, modified: "2026-11-01T00:00:00Z")
    r.summary = "test advisory \(id)"
    r.affected = [OSVAffected(
        package: OSVPackage(ecosystem: "PyPI", name: package),
        ranges: [OSVRange(type: "ECOSYSTEM", events: [OSVEvent(.introduced, "0"), OSVEvent(.fixed, fixed)])])]
    return r
}

private func scratch() throws -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hg-release-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir
}

private func ids(_ db: VulnerabilityDatabase, _ package: String, _ version: String) async throws -> [String] {
    let inventory = ImageInventory(os: nil, packages: [
        InstalledPackage(name: package, version: version, type: .python, purl: "pkg:pypi/\(package)@\(version)")])
    return try await VulnerabilityMatcher(database: db).match(inventory).map(\.vulnerabilityId).sorted()
}

@Suite struct VulnDBSnapshotTests {
    /// A snapshot copied into another open database replaces its whole content; a reader that
    /// holds the old database keeps working and sees the new content afterwards.
    @Test func aSnapshotReplacesAnOpenDatabase() async throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let a = try VulnerabilityDatabase(path: dir.appendingPathComponent("a.sqlite").path)
        _ = try a.import(records: [record("GHSA-aaaa", package: "requests", fixed: "2.20.0")], source: "test")
        let b = try VulnerabilityDatabase(path: dir.appendingPathComponent("b.sqlite").path)
        _ = try b.import(records: [record("GHSA-bbbb", package: "urllib3", fixed: "1.26.5")], source: "test")
        #expect(try await ids(b, "urllib3", "1.25.0") == ["GHSA-bbbb"])

        let snapshot = dir.appendingPathComponent("snap.sqlite").path
        try await a.snapshot(to: snapshot)
        try await b.replaceContents(withSnapshotAt: snapshot)
        #expect(try await ids(b, "requests", "2.19.0") == ["GHSA-aaaa"])
        #expect(try await ids(b, "urllib3", "1.25.0") == [])
        #expect(try await b.status().advisories == 1)
    }

    /// A file that is not a vulnerability database of this schema is refused, and the open
    /// database is left as it was.
    @Test func aForeignFileIsRefused() async throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let b = try VulnerabilityDatabase(path: dir.appendingPathComponent("b.sqlite").path)
        _ = try b.import(records: [record("GHSA-bbbb", package: "urllib3", fixed: "1.26.5")], source: "test")
        let garbage = dir.appendingPathComponent("garbage.sqlite")
        try Data(repeating: 0x41, count: 8192).write(to: garbage)
        await #expect(throws: VulnDBSnapshotError.self) { try await b.replaceContents(withSnapshotAt: garbage.path) }
        let other = dir.appendingPathComponent("other.sqlite").path
        _ = try AppDatabase.open(path: other)  // a SQLite file with GRDB migrations, but the appliance's
        await #expect(throws: VulnDBSnapshotError.self) { try await b.replaceContents(withSnapshotAt: other) }
        #expect(try await ids(b, "urllib3", "1.25.0") == ["GHSA-bbbb"])
    }
}

/// Two nodes on one PostgreSQL database, each with its own `vulndb.sqlite`.
@Suite(.enabled(if: TestBackend.postgresURL != nil, "needs HARBORGUARD_TEST_POSTGRES_URL (make test starts a server)"))
struct VulnDBReleaseTests {
    struct Node {
        let dir: URL
        let vulndb: VulnerabilityDatabase
        let releases: VulnDBReleases
    }

    static func node(_ db: AppDatabase, _ name: String) throws -> Node {
        let dir = try scratch()
        let vulndb = try VulnerabilityDatabase(path: dir.appendingPathComponent("vulndb.sqlite").path)
        return Node(dir: dir, vulndb: vulndb, releases: VulnDBReleases(db: db, vulndb: vulndb, directory: dir, node: name, logger: Logger(label: "test")))
    }

    /// A fresh database and two nodes on it; node A's file holds GHSA-aaaa (requests < 2.20.0).
    static func withTwoNodes(_ body: (AppDatabase, Node, Node) async throws -> Void) async throws {
        let db = try await AppDatabase.open(
            postgresURL: try TestBackend.postgresURL(database: try await TestBackend.createPostgresDatabase()))
        let a = try Self.node(db, "node-a"), b = try Self.node(db, "node-b")
        defer { for n in [a, b] { try? FileManager.default.removeItem(at: n.dir) } }
        _ = try a.vulndb.import(records: [record("GHSA-aaaa", package: "requests", fixed: "2.20.0")], source: "test")
        try await db.closing { db in try await body(db, a, b) }
    }

    /// The first node publishes what it has; the second takes it before it matches; an update
    /// on the second is published and the first takes that before its next match. Both nodes
    /// then hold the same version, named in their markers.
    @Test func nodesMatchAgainstTheCurrentRelease() async throws {
        try await Self.withTwoNodes { db, a, b in
            _ = try b.vulndb.import(records: [record("GHSA-stale", package: "requests", fixed: "9.0.0")], source: "test")

            // No release yet: a node with advisories publishes its own at start.
            #expect(try await a.releases.current() == nil)
            try await a.releases.start()
            let first = try #require(try await a.releases.current())
            #expect(first.publishedBy == "node-a")
            #expect(await a.releases.local == first.version)
            #expect(first.chunks >= 1 && first.size > 0)

            // B started with other data: its next match runs on A's release.
            let seen = try await b.releases.matching { try await ids(b.vulndb, "requests", "2.19.0") }
            #expect(seen == ["GHSA-aaaa"])
            #expect(await b.releases.local == first.version)
            let marker = try String(contentsOf: VulnDBReleases.markerURL(b.dir), encoding: .utf8)
            #expect(marker.trimmingCharacters(in: .whitespacesAndNewlines) == first.version)

            // An update on B is published; A follows before its next match.
            _ = try b.vulndb.import(records: [record("GHSA-cccc", package: "requests", fixed: "2.31.0")], source: "test")
            let second = try await b.releases.publish(reason: "test update")
            #expect(second.version != first.version)
            #expect(try await a.releases.matching { try await ids(a.vulndb, "requests", "2.19.0") } == ["GHSA-aaaa", "GHSA-cccc"])
            #expect(await a.releases.local == second.version)
            // Only the current release is kept.
            #expect(try await db.read { try $0.int("SELECT COUNT(*) FROM vulndb_releases") } == 1)

            // A node restarted with its marker does not copy again; republishing identical
            // content only makes it current.
            // A snapshot a killed process left an hour ago is removed then; one in use is not.
            let stale = a.dir.appendingPathComponent("vulndb.incoming-stale.sqlite")
            let fresh = a.dir.appendingPathComponent("vulndb.outgoing-fresh.sqlite")
            for f in [stale, fresh] { try Data("x".utf8).write(to: f) }
            try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(-7200)], ofItemAtPath: stale.path)
            let again = VulnDBReleases(db: db, vulndb: a.vulndb, directory: a.dir, node: "node-a2", logger: Logger(label: "test"))
            #expect(!FileManager.default.fileExists(atPath: stale.path))
            #expect(FileManager.default.fileExists(atPath: fresh.path))
            #expect(await again.local == second.version)
            #expect(try await again.refresh() == second.version)
        }
    }

    /// A release whose bytes do not hash to its version is refused; the node keeps matching on
    /// what it had and says why.
    @Test func aCorruptReleaseIsRefused() async throws {
        try await Self.withTwoNodes { db, a, b in
            _ = try b.vulndb.import(records: [record("GHSA-bbbb", package: "requests", fixed: "2.20.0")], source: "test")
            let release = try await a.releases.publish(reason: "test")
            _ = try await db.write { c in
                try c.execute("UPDATE vulndb_release_chunks SET data = ? WHERE version = ? AND seq = 0", [Data(repeating: 0, count: 4096), release.version])
            }
            await #expect(throws: VulnDBReleases.ReleaseError.self) { try await b.releases.refresh() }
            #expect(await b.releases.local == nil)
            #expect(try await ids(b.vulndb, "requests", "2.19.0") == ["GHSA-bbbb"])
        }
    }

    /// A release made by another harborguard version (another schema: a rolling upgrade) is
    /// not taken: the node matches against its own database.
    @Test func aReleaseOfAnotherSchemaIsNotTaken() async throws {
        try await Self.withTwoNodes { db, a, b in
            _ = try b.vulndb.import(records: [record("GHSA-bbbb", package: "requests", fixed: "2.20.0")], source: "test")
            let release = try await a.releases.publish(reason: "test")
            _ = try await db.write { c in
                try c.execute("UPDATE vulndb_releases SET schema_version = 'a later schema' WHERE version = ?", [release.version])
            }
            #expect(try await b.releases.matching { try await ids(b.vulndb, "requests", "2.19.0") } == ["GHSA-bbbb"])
            #expect(try await b.releases.refresh() == nil)
            #expect(await b.releases.local == nil)
        }
    }

    /// A copy waits for the matches in flight on the node: a match sees one version from its
    /// start to its end.
    @Test func aCopyWaitsForTheMatchesInFlight() async throws {
        try await Self.withTwoNodes { db, a, b in
            try await a.releases.publish(reason: "one")
            let (entered, enter) = AsyncStream<Void>.makeStream()
            let (proceed, go) = AsyncStream<Void>.makeStream()
            let match = Task {
                try await b.releases.matching {
                    let before = try await ids(b.vulndb, "requests", "2.19.0")
                    enter.yield()
                    for await _ in proceed { break }
                    return (before, try await ids(b.vulndb, "requests", "2.19.0"))
                }
            }
            for await _ in entered { break }
            // A new release while B's match runs: B's background refresh must wait for it.
            _ = try a.vulndb.import(records: [record("GHSA-dddd", package: "requests", fixed: "3.0.0")], source: "test")
            let second = try await a.releases.publish(reason: "two")
            let refresh = Task { try await b.releases.refresh() }
            try await Task.sleep(for: .milliseconds(300))
            #expect(await b.releases.local != second.version)
            go.yield()
            let (before, after) = try await match.value
            #expect(before == ["GHSA-aaaa"] && after == ["GHSA-aaaa"])
            #expect(try await refresh.value == second.version)
            #expect(try await ids(b.vulndb, "requests", "2.19.0") == ["GHSA-aaaa", "GHSA-dddd"])
        }
    }

    /// Two changes at once on two nodes: the second to publish is refused instead of dropping
    /// the first's content; made again on the first's release, it publishes both.
    @Test func aChangeIsNotPublishedOverAReleaseItWasNotMadeOn() async throws {
        try await Self.withTwoNodes { db, a, b in
            try await a.releases.start()
            // B prepares its change: it takes A's release first.
            let base = try await b.releases.prepareChange()
            #expect(base == .version(await a.releases.local))
            #expect(try await ids(b.vulndb, "requests", "2.19.0") == ["GHSA-aaaa"])

            // Meanwhile A changes and publishes.
            let aBase = try await a.releases.prepareChange()
            _ = try a.vulndb.import(records: [record("GHSA-eeee", package: "requests", fixed: "2.25.0")], source: "test")
            let fromA = try await a.releases.publish(reason: "A's change", over: aBase)

            // B's change, made on the earlier release, is refused; the release stays A's.
            _ = try b.vulndb.import(records: [record("GHSA-ffff", package: "urllib3", fixed: "1.26.5")], source: "test")
            await #expect(throws: VulnDBReleases.ReleaseError.self) { try await b.releases.publish(reason: "B's change", over: base) }
            #expect(try await a.releases.current()?.version == fromA.version)

            // Made again: B takes A's release first, then its change publishes on top of it.
            let again = try await b.releases.prepareChange()
            #expect(again == .version(fromA.version))
            _ = try b.vulndb.import(records: [record("GHSA-ffff", package: "urllib3", fixed: "1.26.5")], source: "test")
            let both = try await b.releases.publish(reason: "B's change again", over: again)
            #expect(try await a.releases.matching { try await ids(a.vulndb, "requests", "2.19.0") } == ["GHSA-aaaa", "GHSA-eeee"])
            #expect(try await ids(a.vulndb, "urllib3", "1.25.0") == ["GHSA-ffff"])
            #expect(await a.releases.local == both.version)

            // A release of another schema (a rolling upgrade) is replaced, not a conflict.
            _ = try await db.write { c in
                try c.execute("UPDATE vulndb_releases SET schema_version = 'an earlier schema' WHERE version = ?", [both.version])
            }
            _ = try a.vulndb.import(records: [record("GHSA-gggg", package: "requests", fixed: "2.26.0")], source: "test")
            let upgraded = try await a.releases.prepareChange()
            #expect(upgraded == .version(both.version))
            _ = try await a.releases.publish(reason: "after the upgrade", over: upgraded)
        }
    }
}
