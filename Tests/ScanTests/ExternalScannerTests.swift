import Foundation
import Glibc
import NIOCore
import Registry
import Testing

@testable import Scan

/// A scratch directory removed when the test ends.
private func scratch(_ label: String) throws -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hg-ext-\(label)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir
}

/// An executable shell script called `name` in `dir`: a stand-in for a scanner that
/// misbehaves in a way the real tool cannot be made to on demand.
///
/// Written through a close-on-exec descriptor: tests run in parallel and spawn processes, and
/// a child that inherited this script's write descriptor (`Data.write` opens without
/// O_CLOEXEC) makes running the script fail with ETXTBSY for as long as the child lives
/// (another test's `sleep 30`).
private func fakeScanner(_ dir: URL, _ name: String, _ body: String) throws -> URL {
    let url = dir.appendingPathComponent(name)
    let fd = open(url.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o755)
    guard fd >= 0 else { throw CocoaError(.fileWriteUnknown) }
    let bytes = Array("#!/bin/sh\n\(body)\n".utf8)
    let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    close(fd)
    guard written == bytes.count else { throw CocoaError(.fileWriteUnknown) }
    return url
}

/// A database holding only GitHub's record of CVE-2018-18074, without its CVE alias, so the
/// native finding is a GHSA id and only grype's related vulnerabilities link it to the CVE.
private func requestsDatabase(_ dir: URL) throws -> VulnerabilityDatabase {
    let db = try VulnerabilityDatabase(path: dir.appendingPathComponent("vulndb.sqlite").path)
    var r = OSVRecord(id: "GHSA-x84v-xcm2-53pg", modified: "2024-11-21T03:55:28Z")
    r.summary = "Insufficiently Protected Credentials in Requests"
    r.severity = [OSVSeverity(type: "CVSS_V3", score: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N")]
    r.affected = [OSVAffected(
        package: OSVPackage(ecosystem: "PyPI", name: "requests"),
        ranges: [OSVRange(type: "ECOSYSTEM", events: [OSVEvent(.introduced, "0"), OSVEvent(.fixed, "2.20.0")])])]
    r.references = [OSVReference(type: "ADVISORY", url: "https://github.com/advisories/GHSA-x84v-xcm2-53pg")]
    _ = try db.import(records: [r], source: "test")
    return db
}

private let tarDiffID = "sha256:d0f1c3b5a7e9f1b3d5f7a9c1e3b5d7f9a1c3e5b7d9f1a3c5e7b9d1f3a5c7e9b1"
private let pythonDiffID = "sha256:a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
private let layerMap = [
    tarDiffID: "sha256:1111111111111111111111111111111111111111111111111111111111111111",
    pythonDiffID: "sha256:7e1c2b3a4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8",
]

@Suite("External scanners")
struct ExternalScannerTests {
    @Test("trivy report: findings, fix states, CVSS, layers; unmodelled package types counted")
    func trivyAdapter() throws {
        let result = try TrivyAdapter.parse(Data(trivyReportFixture.utf8), layers: layerMap)
        #expect(result.findings.count == 3)
        #expect(result.skipped == 1)
        #expect(result.findings.allSatisfy { $0.sources == ["trivy"] })
        let pax = try #require(result.findings.first { $0.vulnerabilityId == "CVE-2023-39804" })
        #expect(pax.package == FindingPackage(
            name: "tar", version: "1.34+dfsg-1.2+deb12u1", type: .deb,
            purl: "pkg:deb/debian/tar@1.34%2Bdfsg-1.2%2Bdeb12u1?arch=amd64&distro=debian-12.7", layer: layerMap[tarDiffID]))
        #expect(pax.severity == .medium && pax.cvss == 5.5)
        #expect(pax.fixedVersion == nil && pax.fixState == .notFixed)
        #expect(pax.aliases == ["DLA-3755-1"])
        #expect(pax.references.contains("https://avd.aquasec.com/nvd/cve-2023-39804"))
        let setuid = try #require(result.findings.first { $0.vulnerabilityId == "CVE-2005-2541" })
        #expect(setuid.fixState == .wontFix && setuid.severity == .low && setuid.cvss == 10)
        let requests = try #require(result.findings.first { $0.package.name == "requests" })
        #expect(requests.package.type == .python)
        #expect(requests.fixedVersion == "2.20.0" && requests.fixState == .fixed)
        #expect(requests.severity == .high && requests.cvss == 9.8)
        #expect(requests.package.layer == "sha256:7e1c2b3a4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8")
        #expect(requests.title == "python-requests: Redirect from HTTPS to HTTP does not remove Authorization header")
        #expect(TrivyAdapter.version(Data(trivyVersionFixture.utf8)) == "0.58.1")
    }

    @Test("grype report: related vulnerabilities become aliases, the CVE is the id")
    func grypeAdapter() throws {
        let result = try GrypeAdapter.parse(Data(grypeReportFixture.utf8), layers: layerMap)
        #expect(result.findings.count == 3)
        #expect(result.skipped == 1)  // the `binary` busybox match
        let requests = try #require(result.findings.first { $0.package.name == "requests" })
        #expect(requests.vulnerabilityId == "CVE-2018-18074")
        #expect(requests.aliases == ["GHSA-x84v-xcm2-53pg"])
        #expect(requests.advisoryIds == ["GHSA-x84v-xcm2-53pg"])
        #expect(requests.severity == .critical)  // grype's own rating of the match
        #expect(requests.cvss == 9.8)  // the highest score of the match and its related records
        #expect(requests.fixedVersion == "2.20.0" && requests.fixState == .fixed)
        #expect(requests.package.type == .python && requests.package.purl == "pkg:pypi/requests@2.19.0")
        #expect(requests.package.layer == layerMap[pythonDiffID])
        #expect(requests.sources == ["grype"])
        let tar = try #require(result.findings.first { $0.package.name == "tar" })
        #expect(tar.vulnerabilityId == "CVE-2023-39804" && tar.aliases.isEmpty)
        #expect(tar.severity == .low)  // Debian's "Negligible"
        #expect(tar.fixState == .notFixed && tar.fixedVersion == nil)
        #expect(tar.title?.hasPrefix("In GNU tar before 1.35") == true)
        let semver = try #require(result.findings.first { $0.package.name == "semver" })
        #expect(semver.vulnerabilityId == "GHSA-c2qf-rxjj-qqgw" && semver.package.type == .npm)
        #expect(GrypeAdapter.version(Data(grypeVersionFixture.utf8)) == "0.86.1")
    }

    @Test("native, trivy and grype findings of one vulnerability under different ids merge into one")
    func mergeThreeSources() throws {
        let dir = try scratch("merge")
        defer { try? FileManager.default.removeItem(at: dir) }
        let native = try VulnerabilityMatcher(database: requestsDatabase(dir)).match(ImageInventory(
            os: OSInfo(family: "debian", version: "12"),
            packages: [InstalledPackage(
                name: "requests", version: "2.19.0", type: .python, purl: "pkg:pypi/requests@2.19.0",
                layer: layerMap[pythonDiffID])]))
        #expect(native.map(\.vulnerabilityId) == ["GHSA-x84v-xcm2-53pg"])
        let trivy = try TrivyAdapter.parse(Data(trivyReportFixture.utf8), layers: layerMap).findings
        let grype = try GrypeAdapter.parse(Data(grypeReportFixture.utf8), layers: layerMap).findings
        // trivy knows it only as the CVE, native only as the GHSA: grype's related list links them.
        let merged = FindingMerger.merge([native, trivy, grype])
        let requests = merged.filter { $0.package.name == "requests" }
        #expect(requests.count == 1)
        let f = try #require(requests.first)
        #expect(f.vulnerabilityId == "CVE-2018-18074")
        #expect(f.sources == ["grype", "native", "trivy"])
        #expect(f.aliases == ["GHSA-x84v-xcm2-53pg"])
        #expect(f.severity == .critical && f.cvss == 9.8)
        #expect(f.fixedVersion == "2.20.0" && f.fixState == .fixed)
        #expect(f.advisoryIds == ["CVE-2018-18074", "GHSA-x84v-xcm2-53pg"])
        #expect(f.title == "Insufficiently Protected Credentials in Requests")  // the native one, listed first
        // tar: trivy and grype agree on the id; the higher severity and score are kept.
        let tar = try #require(merged.first { $0.vulnerabilityId == "CVE-2023-39804" })
        #expect(tar.sources == ["grype", "trivy"] && tar.severity == .medium && tar.cvss == 5.5)
        #expect(tar.aliases == ["DLA-3755-1"] && tar.fixState == .notFixed)
        // Nothing else merged; order is severity, then id, then package.
        #expect(merged.count == 4)
        #expect(merged.map(\.vulnerabilityId) == ["CVE-2018-18074", "CVE-2023-39804", "GHSA-c2qf-rxjj-qqgw", "CVE-2005-2541"])
        // Input order changes neither membership nor order.
        #expect(FindingMerger.merge([grype, trivy, native]).map(\.vulnerabilityId) == merged.map(\.vulnerabilityId))
        #expect(FindingMerger.merge([grype, trivy, native]).map(\.sources) == merged.map(\.sources))
    }

    @Test("merge keys: other versions and unrelated ids stay apart; a later fixed version fills a gap")
    func mergeKeys() {
        func finding(_ id: String, aliases: [String] = [], name: String = "openssl", version: String = "3.0.11",
                     type: PackageType = .deb, fix: String? = nil, source: String) -> Finding {
            Finding(
                vulnerabilityId: id, aliases: aliases, severity: .high, cvss: nil,
                package: FindingPackage(name: name, version: version, type: type, purl: "", layer: nil),
                fixedVersion: fix, fixState: fix == nil ? .unknown : .fixed, title: nil, references: [],
                sources: [source], advisoryIds: [id])
        }
        let merged = FindingMerger.merge([
            [finding("DEBIAN-CVE-2023-5678", aliases: ["CVE-2023-5678"], source: "native"),
             finding("CVE-2023-5678", version: "3.0.13", source: "native")],
            [finding("CVE-2023-5678", fix: "3.0.13-1~deb12u1", source: "trivy"),
             finding("CVE-2023-9999", source: "trivy"),
             finding("PYSEC-1", name: "Zope_Interface", version: "5.4.0", type: .python, source: "trivy")],
            [finding("GHSA-aaaa", aliases: ["PYSEC-1"], name: "zope-interface", version: "5.4.0", type: .python, source: "grype")],
        ])
        #expect(merged.count == 4)
        let both = merged.filter { $0.vulnerabilityId == "CVE-2023-5678" && $0.package.version == "3.0.11" }
        #expect(both.count == 1)
        #expect(both.first?.sources == ["native", "trivy"])
        #expect(both.first?.aliases == ["DEBIAN-CVE-2023-5678"])
        #expect(both.first?.fixedVersion == "3.0.13-1~deb12u1" && both.first?.fixState == .fixed)
        // No CVE among the ids: the first list's id wins; PEP 503 names meet.
        let zope = merged.first { $0.package.type == .python }
        #expect(zope?.vulnerabilityId == "PYSEC-1" && zope?.aliases == ["GHSA-aaaa"] && zope?.sources == ["grype", "trivy"])
    }

    @Test("unreadable reports are parse errors that say what was wrong")
    func garbage() {
        #expect(throws: ExternalScannerError.parse(scanner: "trivy", detail: "not valid JSON (starts with \"Segmentation fault\")")) {
            try TrivyAdapter.parse(Data("Segmentation fault\n".utf8))
        }
        #expect(throws: ExternalScannerError.parse(scanner: "grype", detail: "missing field matches")) {
            try GrypeAdapter.parse(Data(#"{"source": {}}"#.utf8))
        }
        #expect(throws: ExternalScannerError.parse(scanner: "syft", detail: "empty output")) {
            try SyftAdapter.parse(Data())
        }
        let e = ExternalScannerError.parse(scanner: "trivy", detail: "missing field SchemaVersion")
        #expect(e.description == "trivy output is not a trivy JSON report: missing field SchemaVersion")
    }

    @Test("a scanner not on the search path is not found; bare names only")
    func locator() throws {
        let empty = try scratch("empty")
        defer { try? FileManager.default.removeItem(at: empty) }
        #expect(BinaryLocator(searchPath: [empty.path]).locate("trivy") == nil)
        #expect(BinaryLocator(searchPath: [empty.path, "/bin"]).locate("sh")?.path == "/bin/sh")
        #expect(BinaryLocator(searchPath: ["/"]).locate("bin/sh") == nil)
        let notExecutable = empty.appendingPathComponent("grype")
        try Data("#!/bin/sh\n".utf8).write(to: notExecutable)
        #expect(BinaryLocator(searchPath: [empty.path]).locate("grype") == nil)
    }

    @Test("a scanner that outlives its timeout is stopped and reported failed", .timeLimit(.minutes(1)))
    func timeout() async throws {
        let dir = try scratch("timeout")
        defer { try? FileManager.default.removeItem(at: dir) }
        // `sleep` is a child of the shell: stopping only the shell would leave it holding stdout.
        let trivy = try fakeScanner(dir, "trivy", "sleep 30")
        let start = ContinuousClock.now
        let outcome = await ExternalScanner.trivy.run(
            binary: trivy, layout: dir, home: dir.appendingPathComponent("home"), timeout: .seconds(1))
        let elapsed = ContinuousClock.now - start
        #expect(outcome.run.status == .failed)
        #expect(outcome.run.error == "timed out after 1s and was stopped")
        #expect(outcome.run.version == nil)
        #expect(outcome.result == nil)
        #expect(elapsed < .seconds(10), "\(elapsed)")
    }

    @Test("a scanner that ignores SIGTERM is killed", .timeLimit(.minutes(1)))
    func ignoresTerm() async throws {
        let dir = try scratch("term")
        defer { try? FileManager.default.removeItem(at: dir) }
        let grype = try fakeScanner(dir, "grype", "trap '' TERM\nwhile true; do sleep 1; done")
        let start = ContinuousClock.now
        let outcome = await ExternalScanner.grype.run(binary: grype, layout: dir, home: dir.appendingPathComponent("home"), timeout: .milliseconds(500))
        #expect(outcome.run.status == .failed)
        #expect(outcome.run.error?.hasPrefix("timed out after 0.5s") == true)
        #expect(ContinuousClock.now - start < .seconds(15))
    }

    @Test("garbage output, a failing exit status and oversized output are failed runs with clear errors")
    func faults() async throws {
        let dir = try scratch("faults")
        defer { try? FileManager.default.removeItem(at: dir) }
        let home = dir.appendingPathComponent("home")
        let garbage = try fakeScanner(dir, "trivy", #"echo "this is not json""#)
        let g = await ExternalScanner.trivy.run(binary: garbage, layout: dir, home: home, timeout: .seconds(20))
        #expect(g.run.status == .failed)
        #expect(g.run.error == "trivy output is not a trivy JSON report: not valid JSON (starts with \"this is not json\")")

        let crash = try fakeScanner(dir, "grype", "echo 'failed to load vulnerability db: no such file' >&2\nexit 3")
        let c = await ExternalScanner.grype.run(binary: crash, layout: dir, home: home, timeout: .seconds(20))
        #expect(c.run.status == .failed)
        #expect(c.run.error == "exited with status 3: failed to load vulnerability db: no such file")

        let flood = try fakeScanner(dir, "syft", "yes '{}'")
        let f = await ExternalScanner.syft.run(
            binary: flood, layout: dir, home: home, timeout: .seconds(20), options: ExternalScannerOptions(outputLimit: 1 << 20))
        #expect(f.run.status == .failed)
        #expect(f.run.error == "wrote more than 1048576 bytes of output and was stopped")
    }

    @Test("scanners see a scrubbed environment with HOME in the work directory")
    func environment() async throws {
        let dir = try scratch("env")
        defer { try? FileManager.default.removeItem(at: dir) }
        setenv("HARBORGUARD_REGISTRY_PASSWORD", "s3cret", 1)
        defer { unsetenv("HARBORGUARD_REGISTRY_PASSWORD") }
        let home = dir.appendingPathComponent("home")
        let env = ScannerProcess.environment(home: home, path: nil, extra: ExternalScanner.grype.environment(options: .init()))
        #expect(env["HARBORGUARD_REGISTRY_PASSWORD"] == nil)
        let out = try await ScannerProcess.run(
            URL(fileURLWithPath: "/usr/bin/env"), arguments: [], environment: env, timeout: .seconds(10))
        let text = String(decoding: out.stdout, as: UTF8.self)
        #expect(!text.contains("s3cret"))
        #expect(text.contains("HOME=\(home.path)\n"))
        #expect(text.contains("DOCKER_CONFIG=\(home.path)/.docker\n"))
        #expect(text.contains("GRYPE_CHECK_FOR_APP_UPDATE=false\n"))
        // trivy gets offline flags only when asked.
        let plain = ExternalScanner.trivy.scanArguments(layout: dir, timeout: .seconds(300), options: .init())
        #expect(!plain.contains("--skip-db-update") && plain.contains("300s"))
        let offline = ExternalScanner.trivy.scanArguments(
            layout: dir, timeout: .seconds(300), options: .init(cacheDirectory: URL(fileURLWithPath: "/var/cache/trivy"), offline: true))
        #expect(offline.contains("--skip-db-update") && offline.contains("--offline-scan") && offline.contains("/var/cache/trivy"))
    }

    @Test("the real syft reads an OCI layout teed from the native pass and lists what native finds",
          .enabled(if: BinaryLocator.fromEnvironment().locate("syft") != nil, "syft not installed"),
          .timeLimit(.minutes(5)))
    func realSyft() async throws {
        let dir = try scratch("syft")
        defer { try? FileManager.default.removeItem(at: dir) }
        // Layer 1: os-release and a dpkg database; layer 2: a Python dist-info and an npm package.
        var base = TarWriter()
        base.file("etc/os-release", "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\nID=debian\n")
        base.file("var/lib/dpkg/status", """
            Package: tar
            Status: install ok installed
            Priority: required
            Section: utils
            Installed-Size: 3152
            Maintainer: Janos Lenart <ocsi@debian.org>
            Architecture: amd64
            Multi-Arch: foreign
            Version: 1.34+dfsg-1.2+deb12u1
            Description: GNU version of the tar archiving utility

            Package: libc6
            Status: install ok installed
            Priority: optional
            Section: libs
            Installed-Size: 12986
            Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>
            Architecture: amd64
            Multi-Arch: same
            Source: glibc
            Version: 2.36-9+deb12u4
            Description: GNU C Library: Shared libraries

            """)
        base.end()
        var app = TarWriter()
        app.file("usr/lib/python3/dist-packages/requests-2.19.0.dist-info/METADATA",
                 "Metadata-Version: 2.1\nName: requests\nVersion: 2.19.0\nSummary: Python HTTP for Humans.\n\n")
        app.file("usr/lib/python3/dist-packages/requests-2.19.0.dist-info/RECORD", "")
        app.file("app/node_modules/semver/package.json", #"{"name": "semver", "version": "7.5.1", "license": "ISC"}"#)
        app.file("app/package.json", #"{"name": "my-app", "version": "1.0.0", "private": true}"#)
        app.end()
        let tars = [base.bytes, app.bytes]
        let blobs = try tars.map { try Shell.gzip($0) }
        let layout = try OCILayoutWriter(directory: dir.appendingPathComponent("layout"))
        var analyses: [(digest: String, analysis: LayerAnalysis)] = []
        var descriptors: [String] = []
        for blob in blobs {
            let digest = Digest.sha256(of: blob)
            // The bytes the analysis reads are the bytes written to the layout.
            let analysis = try await analyzeLayer(
                stream: layout.tee(ChunkedBytes(blob, chunkSize: 1000), digest: digest),
                mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", expectedDigest: digest.description)
            analyses.append((digest.description, analysis))
            #expect(try Data(contentsOf: layout.blobURL(digest)) == Data(blob))
            descriptors.append(#"{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"\#(digest)","size":\#(blob.count)}"#)
        }
        let diffIDs = tars.map { Digest.sha256(of: $0).description }
        let config = Data(#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["\#(diffIDs.joined(separator: #"",""#))"]},"config":{}}"#.utf8)
        let manifestJSON = #"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"\#(Digest.sha256(of: config))","size":\#(config.count)},"layers":[\#(descriptors.joined(separator: ","))]}"#
        guard case let .image(manifest) = try Manifest.decode(Data(manifestJSON.utf8), contentType: nil).0 else {
            Issue.record("not an image manifest")
            return
        }
        try layout.finish(manifest: manifest, config: config, platform: nil)
        #expect(layout.error == nil)

        let syft = try #require(BinaryLocator.fromEnvironment().locate("syft"))
        let outcome = await ExternalScanner.syft.run(
            binary: syft, layout: layout.directory, home: dir.appendingPathComponent("home"),
            layers: Dictionary(uniqueKeysWithValues: zip(diffIDs, analyses.map(\.digest))), timeout: .seconds(240))
        #expect(outcome.run.status == .ok, "\(outcome.run.error ?? "")")
        #expect(outcome.run.version?.first?.isNumber == true, "\(outcome.run.version ?? "nil")")
        let result = try #require(outcome.result)
        let native = ImageAnalyzer.mergeWithNotes(layers: analyses).inventory
        struct Key: Hashable, CustomStringConvertible {
            var type: PackageType, name: String, version: String
            var description: String { "\(type.rawValue):\(name)@\(version)" }
        }
        let nativeSet = Set(native.packages.map { Key(type: $0.type, name: $0.name, version: $0.version) })
        let syftSet = Set(result.packages.map { Key(type: $0.type, name: $0.name, version: $0.version) })
        print("native: \(nativeSet.map(\.description).sorted())")
        print("syft:   \(syftSet.map(\.description).sorted()) (+\(result.skipped) unmodelled)")
        #expect(nativeSet == [
            Key(type: .deb, name: "tar", version: "1.34+dfsg-1.2+deb12u1"), Key(type: .deb, name: "libc6", version: "2.36-9+deb12u4"),
            Key(type: .python, name: "requests", version: "2.19.0"), Key(type: .npm, name: "semver", version: "7.5.1"),
        ])
        // syft sees every package native sees here.
        #expect(nativeSet.isSubset(of: syftSet), "only native: \(nativeSet.subtracting(syftSet))")
        #expect(outcome.os?.family == "debian" && outcome.os?.version == "12")
        // Packages are attributed to the layer digests, not syft's diff ids.
        let libc = try #require(result.packages.first { $0.name == "libc6" })
        #expect(libc.layer == analyses[0].digest && libc.sourceName == "glibc")
        #expect(result.packages.first { $0.name == "semver" }?.layer == analyses[1].digest)
        print(ImageScanner.inventoryDifference(native: native.packages, syft: result.packages, skipped: result.skipped))
    }
}
