import Foundation
import Testing

@testable import Scan

private func layer(_ build: (inout TarWriter) throws -> Void) async throws -> (digest: String, analysis: LayerAnalysis) {
    var tar = TarWriter()
    try build(&tar)
    tar.end()
    let gz = try Shell.gzip(tar.bytes)
    let analysis = try await analyzeLayer(
        stream: ChunkedBytes(gz), mediaType: "application/vnd.docker.image.rootfs.diff.tar.gzip",
        expectedDigest: try layerDigest(gz))
    return (analysis.digest, analysis)
}

private let status1 = """
    Package: openssl
    Status: install ok installed
    Architecture: amd64
    Version: 3.0.11-1~deb12u2

    Package: removed-pkg
    Status: deinstall ok config-files
    Architecture: amd64
    Version: 1.0

    Package: libssl3
    Status: install ok installed
    Architecture: amd64
    Source: openssl (3.0.11-1~deb12u2)
    Version: 3.0.11-1~deb12u2

    """

private let status2 = status1 + "\n" + """
    Package: curl
    Status: install ok installed
    Architecture: amd64
    Version: 7.88.1-10+deb12u5

    """

@Suite struct LayerMergeTests {
    @Test func whiteoutsDeleteAndReAddTheDpkgDatabase() async throws {
        let base = try await layer {
            $0.file("etc/os-release", "ID=debian\nVERSION_ID=12\nVERSION_CODENAME=bookworm\n")
            $0.file("var/lib/dpkg/status", status1)
        }
        let upgrade = try await layer { $0.file("var/lib/dpkg/status", status2) }
        let wipe = try await layer { $0.file("var/lib/dpkg/.wh.status", "") }
        let readd = try await layer { $0.file("var/lib/dpkg/status", status2) }

        let two = ImageAnalyzer.merge(layers: [base, upgrade])
        #expect(two.packages.map(\.name) == ["curl", "libssl3", "openssl"])
        #expect(two.packages.first { $0.name == "openssl" }?.layer == base.digest)
        #expect(two.packages.first { $0.name == "curl" }?.layer == upgrade.digest)
        let libssl = try #require(two.packages.first { $0.name == "libssl3" })
        #expect(libssl.sourceName == "openssl" && libssl.sourceVersion == "3.0.11-1~deb12u2")
        #expect(libssl.purl == "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12")
        #expect(two.packages.first { $0.name == "curl" }?.purl == "pkg:deb/debian/curl@7.88.1-10%2Bdeb12u5?arch=amd64&distro=debian-12")

        let wiped = ImageAnalyzer.merge(layers: [base, upgrade, wipe])
        #expect(wiped.packages.isEmpty)
        #expect(wiped.os?.family == "debian")

        let back = ImageAnalyzer.merge(layers: [base, upgrade, wipe, readd])
        #expect(back.packages.count == 3)
        #expect(back.packages.allSatisfy { $0.layer == readd.digest })
    }

    @Test func directoryWhiteoutAndOpaqueDirectory() async throws {
        let base = try await layer {
            $0.file("etc/os-release", "ID=alpine\nVERSION_ID=3.19.1\n")
            $0.file("lib/apk/db/installed", "P:musl\nV:1.2.4-r2\nA:x86_64\n\n")
            $0.file("usr/lib/python3/site-packages/six-1.16.0.dist-info/METADATA", "Name: six\nVersion: 1.16.0\n\nbody")
            $0.file("app/node_modules/left-pad/package.json", #"{"name":"left-pad","version":"1.3.0"}"#)
        }
        let removeDir = try await layer { $0.file("lib/.wh.apk", "") }
        let opaque = try await layer {
            $0.directory("usr/lib/python3/site-packages")
            $0.file("usr/lib/python3/site-packages/.wh..wh..opq", "")
            $0.file("usr/lib/python3/site-packages/Requests-2.31.0.dist-info/METADATA", "Name: Requests\nVersion: 2.31.0\n")
        }
        let merged = ImageAnalyzer.merge(layers: [base, removeDir, opaque])
        #expect(merged.packages.map(\.purl) == ["pkg:npm/left-pad@1.3.0", "pkg:pypi/requests@2.31.0"])
        #expect(merged.packages.first { $0.type == .python }?.layer == opaque.digest)
        #expect(merged.packages.first { $0.type == .npm }?.layer == base.digest)
    }

    @Test func symlinkReplacingADirectoryHidesItsContents() async throws {
        let base = try await layer { $0.file("opt/app/node_modules/a/package.json", #"{"name":"a","version":"1.0.0"}"#) }
        let relink = try await layer { $0.symlink("opt/app", to: "/srv/app") }
        #expect(ImageAnalyzer.merge(layers: [base]).packages.count == 1)
        #expect(ImageAnalyzer.merge(layers: [base, relink]).packages.isEmpty)
    }

    @Test func distrolessStatusDirectory() async throws {
        let base = try await layer {
            $0.file("etc/os-release", try HostFiles.read("/etc/os-release"))
            $0.file("var/lib/dpkg/status.d/base-files", "Package: base-files\nVersion: 12.4+deb12u5\nArchitecture: amd64\n")
            $0.file("var/lib/dpkg/status.d/base-files.md5sums", "d41d8cd98f00b204e9800998ecf8427e  etc/issue\n")
            $0.file("var/lib/dpkg/status.d/libssl3", "Package: libssl3\nVersion: 3.0.11-1~deb12u2\nArchitecture: amd64\nSource: openssl\n")
        }
        let inventory = ImageAnalyzer.merge(layers: [base])
        #expect(inventory.os?.family == "debian")
        #expect(inventory.packages.map(\.name) == ["base-files", "libssl3"])
        #expect(inventory.packages.last?.sourceName == "openssl")
        #expect(inventory.packages.last?.sourceVersion == "3.0.11-1~deb12u2")
    }

    @Test func versionChangeMovesAttribution() async throws {
        let v1 = "P:zlib\nV:1.3-r0\nA:x86_64\n\nP:musl\nV:1.2.4-r2\nA:x86_64\n\n"
        let v2 = "P:zlib\nV:1.3.1-r0\nA:x86_64\n\nP:musl\nV:1.2.4-r2\nA:x86_64\n\n"
        let a = try await layer { $0.file("lib/apk/db/installed", v1) }
        let b = try await layer { $0.file("lib/apk/db/installed", v2) }
        let c = try await layer { $0.file("lib/apk/db/installed", v1) }
        let merged = ImageAnalyzer.merge(layers: [a, b, c])
        #expect(merged.packages.first { $0.name == "musl" }?.layer == a.digest)
        #expect(merged.packages.first { $0.name == "zlib" }?.layer == c.digest)
        #expect(merged.packages.first { $0.name == "zlib" }?.purl == "pkg:apk/alpine/zlib@1.3-r0?arch=x86_64")
    }
}
