import Foundation
import Testing

@testable import Scan

private let tarType = "application/vnd.oci.image.layer.v1.tar"

/// This machine's CPython builds from source (pyenv), newest first by directory name.
private func pyenvBuild(_ version: String) throws -> (library: String, bytes: [UInt8]) {
    let lib = NSHomeDirectory() + "/.pyenv/versions/\(version)/lib"
    let name = try FileManager.default.contentsOfDirectory(atPath: lib).first {
        $0.hasPrefix("libpython3.") && $0.hasSuffix(".so.1.0")
    }
    let found = try #require(name, "no libpython in \(lib) (scripts/install-deps.sh builds CPython with pyenv)")
    return (found, try HostFiles.read(lib + "/" + found))
}

private func analyzePlain(_ tar: TarWriter, chunk: Int = 65_536, runtimes: Bool = true) async throws -> LayerAnalysis {
    try await analyzeLayer(
        stream: ChunkedBytes(tar.bytes, chunkSize: chunk), mediaType: tarType, expectedDigest: nil, runtimes: runtimes)
}

private func binaries(_ analyses: [LayerAnalysis]) -> [InstalledPackage] {
    ImageAnalyzer.merge(layers: analyses.map { ($0.digest, $0) }).packages.filter { $0.type == .binary }
}

@Suite struct RuntimeDetectorTests {
    @Test func realCPythonBuildsAndOpenJDKReleaseFile() async throws {
        var tar = TarWriter()
        let py38 = try pyenvBuild("3.8.18")
        let py312 = try pyenvBuild("3.12.1")
        tar.file("usr/local/lib/\(py38.library)", py38.bytes, mode: 0o755)
        tar.file("opt/py312/lib/\(py312.library)", py312.bytes, mode: 0o644)
        tar.file("usr/lib/jvm/java-17-openjdk-amd64/release", try HostFiles.read("/usr/lib/jvm/java-17-openjdk-amd64/release"))
        tar.file("usr/local/go/VERSION", "go1.21.5\ntime 2023-11-29T21:21:51Z\n")
        // Not runtimes: a `release` file outside a Java home, and a python-named text file.
        tar.file("etc/release", "JAVA_VERSION=\"1.0\"\n")
        tar.file("usr/local/bin/python3.8-config", "#!/bin/sh\necho 3.8.99\n", mode: 0o755)
        tar.end()
        // Odd chunk sizes put anchors and versions across chunk boundaries.
        for chunk in [65_536, 4_093, 511] {
            let found = binaries([try await analyzePlain(tar, chunk: chunk)])
            let summary = found.map { "\($0.name) \($0.version) \($0.path ?? "")" }
            #expect(
                summary == [
                    "go 1.21.5 usr/local/go/VERSION",
                    "openjdk 17.0.15 usr/lib/jvm/java-17-openjdk-amd64/release",
                    "python 3.12.1 opt/py312/lib/\(py312.library)",
                    "python 3.8.18 usr/local/lib/\(py38.library)",
                ], "chunk \(chunk)")
            let python = try #require(found.first { $0.version == "3.8.18" })
            #expect(python.purl == "pkg:generic/python@3.8.18")
            #expect(python.cpes == ["cpe:2.3:a:python:python:3.8.18:*:*:*:*:*:*:*"])
            #expect(python.evidence?.contains("version string") == true)
            let jdk = try #require(found.first { $0.name == "openjdk" })
            #expect(jdk.cpes == ["cpe:2.3:a:oracle:openjdk:17.0.15:*:*:*:*:*:*:*"])
            #expect(jdk.evidence == "release file JAVA_VERSION (IMPLEMENTOR=Debian)")
            #expect(found.first { $0.name == "go" }?.cpes == ["cpe:2.3:a:golang:go:1.21.5:*:*:*:*:*:*:*"])
        }
        // Switched off, nothing is found: the search is what finds them.
        #expect(binaries([try await analyzePlain(tar, runtimes: false)]).isEmpty)
    }

    @Test func realNodeBinaryAndRuby() async throws {
        let version = String(decoding: try Shell.run("node --version"), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines).dropFirst()
        var tar = TarWriter()
        tar.file("usr/local/bin/node", try HostFiles.read("/usr/bin/node"), mode: 0o755)
        let libruby = try FileManager.default.contentsOfDirectory(atPath: "/usr/lib/x86_64-linux-gnu").first {
            $0.hasPrefix("libruby-") && $0.contains(".so.")
        }
        let rubyName = try #require(libruby, "libruby (Debian's ruby) is installed by scripts/install-deps.sh")
        tar.file("usr/local/lib/\(rubyName)", try HostFiles.read("/usr/lib/x86_64-linux-gnu/\(rubyName)"), mode: 0o644)
        tar.end()
        let rubyVersion = String(decoding: try Shell.run("ruby -e 'print RUBY_VERSION'"), as: UTF8.self)
        let found = binaries([try await analyzePlain(tar, chunk: 1 << 20)])
        #expect(found.map { "\($0.name) \($0.version)" } == ["node \(version)", "ruby \(rubyVersion)"])
        #expect(found.first?.cpes == ["cpe:2.3:a:nodejs:node.js:\(version):*:*:*:*:*:*:*"])
        #expect(found.first?.path == "usr/local/bin/node")
        #expect(found.last?.cpes == ["cpe:2.3:a:ruby-lang:ruby:\(rubyVersion):*:*:*:*:*:*:*"])
    }

    /// Debian's nginx, Apache httpd, PHP, PostgreSQL and Redis binaries, placed where the official
    /// images unpack theirs (no dpkg database in the layer); versions from the binaries' own `-v`.
    @Test func realServerBinaries() async throws {
        func output(_ command: String) throws -> String {
            String(decoding: try Shell.run(command + " 2>&1"), as: UTF8.self)
        }
        func firstVersion(_ text: String, after marker: String) throws -> String {
            let range = try #require(text.range(of: marker), "\(marker) in \(text)")
            return String(text[range.upperBound...].prefix { $0.isNumber || $0 == "." })
        }
        let expected = [
            "httpd \(try firstVersion(try output("/usr/sbin/apache2 -v"), after: "Apache/"))",
            "nginx \(try firstVersion(try output("/usr/sbin/nginx -v"), after: "nginx/"))",
            "php \(try output("/usr/bin/php8.2 -r 'echo PHP_VERSION;'"))",
            "postgresql \(try firstVersion(try output("/usr/lib/postgresql/15/bin/postgres --version"), after: "(PostgreSQL) "))",
            "redis \(try firstVersion(try output("/usr/bin/redis-check-rdb --version"), after: "redis-check-rdb "))",
        ]
        var tar = TarWriter()
        tar.file("usr/local/apache2/bin/httpd", try HostFiles.read("/usr/sbin/apache2"), mode: 0o755)
        tar.file("usr/sbin/nginx", try HostFiles.read("/usr/sbin/nginx"), mode: 0o755)
        tar.file("usr/local/bin/php", try HostFiles.read("/usr/bin/php8.2"), mode: 0o755)
        tar.file("usr/local/bin/postgres", try HostFiles.read("/usr/lib/postgresql/15/bin/postgres"), mode: 0o755)
        // Debian's redis-server is this same binary under another name.
        tar.file("usr/local/bin/redis-server", try HostFiles.read("/usr/bin/redis-check-rdb"), mode: 0o755)
        tar.end()
        let found = binaries([try await analyzePlain(tar, chunk: 8_191)])
        #expect(found.map { "\($0.name) \($0.version)" } == expected)
        #expect(found.first { $0.name == "nginx" }?.cpes?.count == 2)
        #expect(found.first { $0.name == "httpd" }?.cpes?.first?.hasPrefix("cpe:2.3:a:apache:http_server:2.4.") == true)
    }

    /// Debian's /usr/bin/python3.11 is listed in python3.11-minimal.list: dpkg reports it, the
    /// runtime search does not report it again; a CPython in /usr/local is still reported.
    @Test func dpkgOwnedPythonIsNotReportedTwice() async throws {
        let list = "/var/lib/dpkg/info/python3.11-minimal.list"
        #expect(String(decoding: try HostFiles.read(list), as: UTF8.self).contains("/usr/bin/python3.11\n"))
        let local = try pyenvBuild("3.11.7")
        var base = TarWriter()
        base.file("var/lib/dpkg/status", try HostFiles.read("/var/lib/dpkg/status"))
        base.file("usr/bin/python3.11", try HostFiles.read("/usr/bin/python3.11"), mode: 0o755)
        base.file("usr/local/lib/\(local.library)", local.bytes, mode: 0o755)
        var withList = base
        withList.file("var/lib/dpkg/info/python3.11-minimal.list", try HostFiles.read(list))
        withList.end()
        base.end()

        // Without the file list the Debian binary is found (the check below can fail).
        let unowned = binaries([try await analyzePlain(base)]).map { "\($0.version) \($0.path ?? "")" }
        #expect(unowned == ["3.11.2 usr/bin/python3.11", "3.11.7 usr/local/lib/\(local.library)"])

        let analysis = try await analyzePlain(withList)
        let inventory = ImageAnalyzer.merge(layers: [(analysis.digest, analysis)])
        #expect(inventory.packages.contains { $0.type == .deb && $0.name == "python3.11-minimal" })
        #expect(inventory.packages.filter { $0.type == .binary }.map(\.version) == ["3.11.7"])

        // Ownership is that of the final image: a later layer deleting the list brings the binary back.
        var upper = TarWriter()
        upper.file("var/lib/dpkg/info/.wh.python3.11-minimal.list", [UInt8]())
        upper.end()
        let top = try await analyzePlain(upper)
        #expect(binaries([analysis, top]).map(\.version) == ["3.11.2", "3.11.7"])
    }

    @Test func anchorsAcrossEveryChunkBoundary() {
        let text = Array("..\u{0}node.js/v20.20.2\u{0}(delegate_)".utf8)
        for split in 0...text.count {
            for size in [1, 3, 7] where split > 0 || size == 1 {
                var scan = RuntimeScan(path: "usr/bin/node", rule: RuntimeDetector.rule(for: "usr/bin/node")!)
                var index = 0
                let cuts = [split] + Array(stride(from: split + size, to: text.count, by: size))
                for cut in cuts + [text.count] where cut >= index {
                    text[index..<cut].withUnsafeBytes { scan.feed($0) }
                    index = cut
                }
                #expect(scan.finish()?.version == "20.20.2", "split \(split) size \(size)")
            }
        }
        // A longer number is not the version; a version with nothing after it at the end of a file is.
        var scan = RuntimeScan(path: "usr/bin/node", rule: RuntimeDetector.rule(for: "usr/bin/node")!)
        Array("node.js/v1.2.3456789 node.js/v18.19.0".utf8).withUnsafeBytes { scan.feed($0) }
        #expect(scan.finish()?.version == "18.19.0")
    }

    @Test func candidatesAreOnlyRuntimeNames() {
        for path in [
            "usr/local/lib/libpython3.12.so.1.0", "usr/lib/x86_64-linux-gnu/libpython3.11.so.1", "usr/local/bin/python3.8",
            "usr/local/lib/libpython3.7m.so.1.0", "usr/local/bin/node", "usr/local/bin/ruby", "usr/lib/libruby.so.3.2",
            "usr/local/bin/php", "usr/sbin/php-fpm8.2", "usr/sbin/nginx", "usr/local/apache2/bin/httpd",
            "usr/local/bin/redis-server", "usr/lib/postgresql/15/bin/postgres", "opt/java/openjdk/release",
            "usr/local/go/VERSION",
        ] {
            #expect(RuntimeDetector.isCandidate(path), "\(path)")
        }
        for path in [
            "usr/bin/python3.8-config", "etc/release", "usr/lib/python3.11/os.py", "usr/share/doc/nodejs", "VERSION",
            "usr/local/bin/nodejs-helper", "usr/bin/python", "usr/lib/libpython3.so",
        ] {
            #expect(!RuntimeDetector.isCandidate(path), "\(path)")
        }
    }

    @Test func hostileCandidates() async throws {
        // A truncated libpython (cut before its version string) gives nothing and no error.
        let py = try pyenvBuild("3.8.18")
        var tar = TarWriter()
        tar.file("usr/local/lib/\(py.library)", Array(py.bytes.prefix(1 << 20)), mode: 0o755)
        tar.file("usr/local/go/VERSION", [UInt8](repeating: 0x41, count: 200_000))
        tar.file("usr/lib/jvm/x/release", "JAVA_VERSION=\"17; rm -rf /\"\n")
        tar.end()
        let analysis = try await analyzePlain(tar)
        #expect(binaries([analysis]).isEmpty)

        // A huge file at a candidate path is searched with a bounded window, then given up on.
        var scan = RuntimeScan(path: "usr/local/bin/node", rule: RuntimeDetector.rule(for: "usr/local/bin/node")!)
        let zeros = [UInt8](repeating: 0, count: 4 << 20)
        var fed: Int64 = 0
        while fed <= RuntimeDetector.maxSearchedBytes + (8 << 20) {
            zeros.withUnsafeBytes { scan.feed($0) }
            fed += Int64(zeros.count)
        }
        #expect(scan.gaveUp)
        #expect(scan.finish() == nil)
    }
}
