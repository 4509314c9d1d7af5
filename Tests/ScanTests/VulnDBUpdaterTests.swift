import AsyncHTTPClient
import Foundation
import HTTPTestSupport
import Registry
import Testing

@testable import Scan

/// Archives served by the local server, by decoded path (`/Go/all.zip`), with scripted
/// one-off answers taken first and a log of what was asked.
actor ArchiveHost {
    struct Archive {
        var data: Data
        var etag: String?
    }

    var archives: [String: Archive] = [:]
    var scripted: [String: [FakeResponse]] = [:]
    /// Whether `If-None-Match` is honoured with 304.
    var conditional = true
    private(set) var log: [(path: String, ifNoneMatch: String?)] = []

    func put(_ path: String, _ data: Data, etag: String?) { archives[path] = Archive(data: data, etag: etag) }
    func script(_ path: String, _ answers: [FakeResponse]) { scripted[path, default: []] += answers }
    func setConditional(_ on: Bool) { conditional = on }
    func requests(_ path: String) -> Int { log.filter { $0.path == path }.count }
    func lastIfNoneMatch(_ path: String) -> String? { log.last { $0.path == path }?.ifNoneMatch }

    func respond(_ r: FakeRequest) -> FakeResponse {
        let path = r.path.removingPercentEncoding ?? r.path
        log.append((path, r.header("If-None-Match")))
        if var queue = scripted[path], !queue.isEmpty {
            let answer = queue.removeFirst()
            scripted[path] = queue
            return answer
        }
        guard let a = archives[path] else { return .status(404) }
        if conditional, let etag = a.etag, r.header("If-None-Match") == etag { return .status(304, headers: [("ETag", etag)]) }
        var headers = [("Content-Type", "application/zip")]
        if let etag = a.etag { headers.append(("ETag", etag)) }
        return FakeResponse(status: 200, headers: headers, body: a.data)
    }
}

/// An OSV export of the fixture records under `dir/` (e.g. `go`), one `<ID>.json` per entry.
func fixtureArchive(_ dir: String, excluding: Set<String> = [], replacing: [String: Data] = [:], extra: [(String, Data)] = [])
    throws -> Data
{
    var zip = ZipWriter()
    for (path, json) in osvFixtureFiles where path.hasPrefix(dir + "/") {
        let name = String(path.dropFirst(dir.count + 1))
        if excluding.contains(name) { continue }
        try zip.add(name: name, contents: replacing[name] ?? Data(json.utf8))
    }
    for (name, data) in extra { try zip.add(name: name, contents: data) }
    return zip.finish()
}

let quickRetry = RetryPolicy(maxAttempts: 3, baseDelay: .milliseconds(5), maxDelay: .milliseconds(20), maxTotalDelay: .seconds(2))

/// A database file in a fresh directory (the updater downloads next to it).
func temporaryDatabase() throws -> (VulnerabilityDatabase, URL) {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vulndb-update-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return (try VulnerabilityDatabase(path: dir.appendingPathComponent("vulndb.sqlite").path), dir)
}

func result(_ s: VulnDBUpdateSummary, _ ecosystem: String) throws -> VulnDBUpdateSummary.EcosystemResult {
    try #require(s.ecosystems.first { $0.ecosystem == ecosystem })
}

@Suite("db update: OSV ecosystem archives over HTTP")
struct VulnDBUpdaterTests {
    @Test("imports each ecosystem, skips a missing one, answers 304 with nothing imported, drops records removed upstream")
    func updateCycle() async throws {
        let (db, dir) = try temporaryDatabase()
        defer { try? FileManager.default.removeItem(at: dir) }
        let host = ArchiveHost()
        await host.put("/Go/all.zip", try fixtureArchive("go"), etag: "\"go-1\"")
        await host.put("/Debian/all.zip", try fixtureArchive("debian"), etag: "\"deb-1\"")
        try await withFakeServer({ await host.respond($0) }) { base in
            try await withTestHTTPClient { http in
                let updater = VulnDBUpdater(
                    database: db, baseURL: base + "/", ecosystems: ["Go", "Debian", "Rocky Linux"], httpClient: http, retry: quickRetry)
                #expect(updater.archiveURL(for: "Rocky Linux") == base + "/Rocky%20Linux/all.zip")
                let calls = ProgressLog()
                let first = try await updater.update { done, total, eco in calls.append("\(done)/\(total) \(eco)") }
                #expect(calls.lines == ["1/3 Go", "2/3 Debian", "3/3 Rocky Linux"])
                #expect(first.succeeded)
                let go = try result(first, "Go")
                #expect(go.outcome == .updated)
                #expect(go.source == "osv:Go")
                #expect(go.url == base + "/Go/all.zip")
                #expect(go.imported?.inserted == 5)
                #expect(go.records == 5)
                #expect(go.bytes > 0)
                #expect(try result(first, "Debian").imported?.inserted == 3)
                let rocky = try result(first, "Rocky Linux")
                #expect(rocky.outcome == .skipped)
                #expect(rocky.message?.contains("Rocky%20Linux/all.zip") == true)
                #expect(await host.requests("/Rocky Linux/all.zip") == 1)

                let status = try await db.status()
                #expect(status.advisories == 8)
                #expect(status.ecosystems["Go"] == 5)
                #expect(status.ecosystems["Debian:12"] == 3)
                #expect(status.sources.map(\.name) == ["osv:Debian", "osv:Go"])
                #expect(status.sources.map(\.records) == [3, 5])
                #expect(status.sources.last?.location == base + "/Go/all.zip")
                #expect(status.sources.allSatisfy { $0.checkedAt != nil })
                #expect(status.lastUpdated != nil && status.lastChecked != nil)
                let importedAt = try #require(status.sources.last?.importedAt)
                // No temporary download is left next to the database.
                #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).allSatisfy { !$0.hasPrefix(".osv-download") })

                // Second run: conditional requests, 304, nothing imported.
                let second = try await updater.update()
                #expect(await host.lastIfNoneMatch("/Go/all.zip") == "\"go-1\"")
                #expect(second.ecosystems.map(\.outcome) == [.unchanged, .unchanged, .skipped])
                #expect(try result(second, "Go").imported == nil)
                #expect(try result(second, "Go").records == 5)
                #expect(try await db.status().sources.last?.importedAt == importedAt)

                // Upstream drops a record: the new snapshot replaces the old one.
                await host.put("/Go/all.zip", try fixtureArchive("go", excluding: ["GO-2021-0157.json"]), etag: "\"go-2\"")
                let third = try await updater.update()
                let go3 = try result(third, "Go")
                #expect(go3.outcome == .updated)
                #expect(go3.imported?.removed == 1)
                #expect(go3.imported?.unchanged == 4)
                #expect(go3.records == 4)
                #expect(try await db.record(id: "GO-2021-0157") == nil)
                #expect(try await db.advisories(aliasedAs: "CVE-2015-5739") == ["GO-2021-0159"])
                #expect(try await db.status().ecosystems["Go"] == 4)
                #expect(try result(third, "Debian").outcome == .unchanged)
            }
        }
    }

    @Test("an archive identical to the last import is unchanged even without conditional GET")
    func sameBytesUnchanged() async throws {
        let (db, dir) = try temporaryDatabase()
        defer { try? FileManager.default.removeItem(at: dir) }
        let host = ArchiveHost()
        await host.setConditional(false)
        await host.put("/Go/all.zip", try fixtureArchive("go"), etag: nil)
        try await withFakeServer({ await host.respond($0) }) { base in
            try await withTestHTTPClient { http in
                let updater = VulnDBUpdater(database: db, baseURL: base, ecosystems: ["Go"], httpClient: http, retry: quickRetry)
                let first = try await updater.update()
                #expect(try result(first, "Go").outcome == .updated)
                let second = try await updater.update()
                #expect(await host.requests("/Go/all.zip") == 2)
                let go = try result(second, "Go")
                #expect(go.outcome == .unchanged)
                #expect(go.imported == nil)
                #expect(go.records == 5)
            }
        }
    }

    @Test("a corrupt, cut-short or dropped download fails that ecosystem only and keeps its previous data")
    func failuresKeepPreviousData() async throws {
        let (db, dir) = try temporaryDatabase()
        defer { try? FileManager.default.removeItem(at: dir) }
        let host = ArchiveHost()
        let good = try fixtureArchive("go")
        await host.put("/Go/all.zip", good, etag: "\"go-1\"")
        await host.put("/Debian/all.zip", try fixtureArchive("debian", excluding: ["DSA-5514-1.json"]), etag: "\"deb-1\"")
        try await withFakeServer({ await host.respond($0) }) { base in
            try await withTestHTTPClient { http in
                let updater = VulnDBUpdater(database: db, baseURL: base, ecosystems: ["Go", "Debian"], httpClient: http, retry: quickRetry)
                let first = try await updater.update()
                #expect(first.succeeded)
                let before = try await db.status()
                #expect(before.advisories == 7)

                // A byte flipped inside a stored entry: CRC mismatch. Debian still updates.
                var stored = ZipWriter()
                for (path, json) in osvFixtureFiles where path.hasPrefix("go/") && !path.hasSuffix("0572.json") {
                    try stored.add(name: String(path.dropFirst(3)), contents: Data(json.utf8), deflate: false)
                }
                var corrupt = stored.finish()
                let marker = try #require(corrupt.range(of: Data("leafInfo.match()".utf8)))
                corrupt[marker.lowerBound] ^= 0x20
                await host.put("/Go/all.zip", corrupt, etag: "\"go-corrupt\"")
                await host.put("/Debian/all.zip", try fixtureArchive("debian"), etag: "\"deb-2\"")
                let second = try await updater.update()
                #expect(!second.succeeded)
                let go = try result(second, "Go")
                #expect(go.outcome == .failed)
                #expect(go.message?.contains("previous osv:Go data kept") == true)
                #expect(go.message?.contains("CRC") == true)
                #expect(go.records == 5)
                #expect(try await db.record(id: "GO-2022-0572") != nil)
                #expect(try result(second, "Debian").outcome == .updated)
                #expect(try result(second, "Debian").imported?.inserted == 1)
                #expect(try await db.status().advisories == 8)

                // The failed archive's validators were not stored: the next run fetches again.
                await host.put("/Go/all.zip", good.prefix(good.count / 2), etag: "\"go-cut\"")
                let third = try await updater.update()
                #expect(await host.lastIfNoneMatch("/Go/all.zip") == "\"go-1\"")
                let cut = try result(third, "Go")
                #expect(cut.outcome == .failed)
                #expect(cut.message?.contains("ZIP") == true)
                #expect(try result(third, "Debian").outcome == .unchanged)

                // The connection drops mid-body on every attempt: retried, then failed.
                let half = good.prefix(good.count / 2)
                await host.script("/Go/all.zip", Array(repeating: FakeResponse(status: 200, chunks: [Data(half)], failAfterChunks: true), count: 3))
                let fourth = try await updater.update()
                let dropped = try result(fourth, "Go")
                #expect(dropped.outcome == .failed)
                #expect(dropped.message?.contains("download of \(base)/Go/all.zip failed") == true)
                #expect(await host.scripted["/Go/all.zip"]?.isEmpty == true)

                let after = try await db.status()
                #expect(after.ecosystems["Go"] == 5)
                #expect(after.sources.first { $0.name == "osv:Go" }?.records == 5)
                #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).allSatisfy { !$0.hasPrefix(".osv-download") })
            }
        }
    }

    @Test("an archive over the size cap is refused, with or without Content-Length")
    func sizeCap() async throws {
        let (db, dir) = try temporaryDatabase()
        defer { try? FileManager.default.removeItem(at: dir) }
        let host = ArchiveHost()
        let archive = try fixtureArchive("go")
        await host.put("/Go/all.zip", archive, etag: "\"go-1\"")
        await host.script("/Debian/all.zip", [FakeResponse(status: 200, chunks: [archive, archive])])
        try await withFakeServer({ await host.respond($0) }) { base in
            try await withTestHTTPClient { http in
                let updater = VulnDBUpdater(
                    database: db, baseURL: base, ecosystems: ["Go", "Debian"], httpClient: http,
                    maxArchiveBytes: Int64(archive.count) - 1, retry: quickRetry)
                let s = try await updater.update()
                for eco in ["Go", "Debian"] {
                    let r = try result(s, eco)
                    #expect(r.outcome == .failed)
                    #expect(r.message?.contains("larger than the \(archive.count - 1)-byte limit") == true, "\(r.message ?? "")")
                }
                #expect(await host.requests("/Debian/all.zip") == 1)
                #expect(try await db.status().advisories == 0)
            }
        }
    }

    @Test("429 and 503 are retried with backoff; a persistent 503 or a 403 fails")
    func retries() async throws {
        let (db, dir) = try temporaryDatabase()
        defer { try? FileManager.default.removeItem(at: dir) }
        let host = ArchiveHost()
        await host.put("/Go/all.zip", try fixtureArchive("go"), etag: "\"go-1\"")
        await host.script("/Go/all.zip", [.status(503), .status(429, headers: [("Retry-After", "0")])])
        await host.script("/Debian/all.zip", Array(repeating: .status(503), count: 5))
        await host.script("/npm/all.zip", [.status(403)])
        try await withFakeServer({ await host.respond($0) }) { base in
            try await withTestHTTPClient { http in
                let updater = VulnDBUpdater(
                    database: db, baseURL: base, ecosystems: ["Go", "Debian", "npm"], httpClient: http, retry: quickRetry)
                let s = try await updater.update()
                #expect(try result(s, "Go").outcome == .updated)
                #expect(try result(s, "Go").records == 5)
                #expect(await host.requests("/Go/all.zip") == 3)
                let debian = try result(s, "Debian")
                #expect(debian.outcome == .failed)
                #expect(debian.message == "\(base)/Debian/all.zip answered HTTP 503")
                #expect(await host.requests("/Debian/all.zip") == 3)
                #expect(try result(s, "npm").message == "\(base)/npm/all.zip answered HTTP 403")
                #expect(await host.requests("/npm/all.zip") == 1)
            }
        }
    }

    @Test("a broken entry late in a large archive rolls the whole import back")
    func transactional() async throws {
        let (db, dir) = try temporaryDatabase()
        defer { try? FileManager.default.removeItem(at: dir) }
        var zip = ZipWriter()
        let count = VulnerabilityDatabase.chunkSize + 50
        for i in 0..<count {
            let id = String(format: "TEST-%05d", i)
            let json = #"{"id":"\#(id)","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"npm","name":"p\#(i)"},"versions":["1.0.0"]}]}"#
            try zip.add(name: id + ".json", contents: Data(json.utf8), deflate: i != count - 1)
        }
        let host = ArchiveHost()
        await host.put("/npm/all.zip", zip.finish(), etag: "\"npm-1\"")
        try await withFakeServer({ await host.respond($0) }) { base in
            try await withTestHTTPClient { http in
                let updater = VulnDBUpdater(database: db, baseURL: base, ecosystems: ["npm"], httpClient: http, retry: quickRetry)
                let good = try await updater.update()
                #expect(try result(good, "npm").imported?.inserted == count)

                // Version 2 bumps every record; its last (stored) entry is damaged.
                var v2 = ZipWriter()
                for i in 0..<count {
                    let id = String(format: "TEST-%05d", i)
                    let json = #"{"id":"\#(id)","modified":"2024-02-01T00:00:00Z","affected":[{"package":{"ecosystem":"npm","name":"q\#(i)"},"versions":["2.0.0"]}]}"#
                    try v2.add(name: id + ".json", contents: Data(json.utf8), deflate: i != count - 1)
                }
                var archive = v2.finish()
                let last = String(format: "q%d\"", count - 1)
                let at = try #require(archive.range(of: Data(last.utf8)))
                archive[at.lowerBound] = UInt8(ascii: "x")
                await host.put("/npm/all.zip", archive, etag: "\"npm-2\"")
                let bad = try await updater.update()
                #expect(try result(bad, "npm").outcome == .failed)
                let entries = try db.affectedEntries(for: [PackageKey(ecosystem: "npm", name: "p0"), PackageKey(ecosystem: "npm", name: "q0")])
                #expect(entries.map(\.name) == ["p0"])
                #expect(try await db.status().ecosystems["npm"] == count)
            }
        }
    }

    @Test("an undecodable entry is reported and its stored copy kept")
    func undecodableEntryKept() async throws {
        let (db, dir) = try temporaryDatabase()
        defer { try? FileManager.default.removeItem(at: dir) }
        let host = ArchiveHost()
        await host.put("/Go/all.zip", try fixtureArchive("go"), etag: "\"go-1\"")
        try await withFakeServer({ await host.respond($0) }) { base in
            try await withTestHTTPClient { http in
                let updater = VulnDBUpdater(database: db, baseURL: base, ecosystems: ["Go"], httpClient: http, retry: quickRetry)
                _ = try await updater.update()
                await host.put(
                    "/Go/all.zip", try fixtureArchive("go", replacing: ["GO-2022-0463.json": Data("{not json".utf8)]), etag: "\"go-2\"")
                let s = try await updater.update()
                let go = try result(s, "Go")
                #expect(go.outcome == .updated)
                #expect(go.imported?.failures.count == 1)
                #expect(go.imported?.removed == 0)
                #expect(go.records == 5)
                #expect(try await db.record(id: "GO-2022-0463") != nil)
            }
        }
    }

    @Test("a local mirror directory; an advisory listed by two ecosystems goes only when neither lists it; hand imports stay")
    func mirrorAndSharedAdvisories() async throws {
        let (db, dir) = try temporaryDatabase()
        defer { try? FileManager.default.removeItem(at: dir) }
        let mirror = dir.appendingPathComponent("mirror")
        let shared = Data(
            #"{"id":"GHSA-shar-edxx-xxxx","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"npm","name":"left-pad"},"versions":["1.0.0"]},{"package":{"ecosystem":"PyPI","name":"leftpad"},"versions":["1.0"]}]}"#.utf8)
        func publish(_ eco: String, _ data: Data) throws {
            let d = mirror.appendingPathComponent(eco)
            try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
            try data.write(to: d.appendingPathComponent("all.zip"))
        }
        try publish("npm", try fixtureArchive("npm", extra: [("GHSA-shar-edxx-xxxx.json", shared)]))
        try publish("PyPI", try fixtureArchive("pypi", extra: [("GHSA-shar-edxx-xxxx.json", shared)]))
        // A record also imported by hand from another source.
        let handDir = dir.appendingPathComponent("hand")
        try FileManager.default.createDirectory(at: handDir, withIntermediateDirectories: true)
        try Data(osvFixtureFiles.first { $0.path == "rubygems/GHSA-crjr-9rc5-ghw8.json" }!.json.utf8)
            .write(to: handDir.appendingPathComponent("r.json"))
        _ = try db.import(directory: handDir, source: "hand")
        try publish("RubyGems", try fixtureArchive("rubygems"))

        try await withTestHTTPClient { http in
            for base in ["file://" + mirror.path, mirror.path] {
                let updater = VulnDBUpdater(
                    database: db, baseURL: base, ecosystems: ["npm", "PyPI", "RubyGems", "Go"], httpClient: http)
                let s = try await updater.update()
                #expect(s.succeeded)
                #expect(try result(s, "Go").outcome == .skipped)
                #expect(try result(s, "npm").url == mirror.appendingPathComponent("npm/all.zip").path)
            }
            #expect(try await db.record(id: "GHSA-shar-edxx-xxxx") != nil)
            let updater = VulnDBUpdater(database: db, baseURL: mirror.path, ecosystems: ["npm", "PyPI", "RubyGems"], httpClient: http)
            let again = try await updater.update()
            #expect(again.ecosystems.map(\.outcome) == [.unchanged, .unchanged, .unchanged])

            try publish("npm", try fixtureArchive("npm"))
            try publish("RubyGems", try fixtureArchive("rubygems", excluding: ["GHSA-crjr-9rc5-ghw8.json"]))
            let s1 = try await updater.update()
            #expect(try result(s1, "npm").imported?.removed == 0)
            #expect(try await db.record(id: "GHSA-shar-edxx-xxxx") != nil)
            // Owned by the hand import: not deleted with the RubyGems snapshot.
            #expect(try result(s1, "RubyGems").records == 0)
            #expect(try await db.record(id: "GHSA-crjr-9rc5-ghw8") != nil)

            try publish("PyPI", try fixtureArchive("pypi"))
            let s2 = try await updater.update()
            #expect(try result(s2, "PyPI").imported?.removed == 1)
            #expect(try await db.record(id: "GHSA-shar-edxx-xxxx") == nil)
            #expect(try await db.status().ecosystems["npm"] == 1)
        }
    }

    @Test("only http(s), file:// and absolute paths are accepted as the base")
    func baseURLs() async throws {
        let db = try VulnerabilityDatabase.inMemory()
        try await withTestHTTPClient { http in
            for bad in ["ftp://mirror.example/osv", "relative/dir", "https://user:pw@example.com", "http://"] {
                let updater = VulnDBUpdater(database: db, baseURL: bad, ecosystems: ["Go"], httpClient: http)
                await #expect(throws: VulnDBUpdateError.self) { _ = try await updater.update() }
            }
        }
        #expect(VulnDBUpdater.defaultEcosystems.contains("Debian") && VulnDBUpdater.defaultEcosystems.contains("crates.io"))
        #expect(VulnDBUpdater.source(for: "Rocky Linux") == "osv:Rocky Linux")
    }
}

/// Progress lines collected from a `@Sendable` callback.
final class ProgressLog: @unchecked Sendable {
    private var items: [String] = []
    private let lock = NSLock()
    func append(_ s: String) { lock.withLock { items.append(s) } }
    var lines: [String] { lock.withLock { items } }
}
