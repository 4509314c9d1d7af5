import Foundation
import Testing

@testable import Scan

private func deb(_ name: String, _ version: String, source: String? = nil, sourceVersion: String? = nil) -> InstalledPackage {
    InstalledPackage(
        name: name, version: version, type: .deb, purl: "pkg:deb/debian/\(name)@\(version)", layer: "sha256:aaa",
        sourceName: source, sourceVersion: sourceVersion)
}

private func pkg(_ name: String, _ version: String, _ type: PackageType, purl: String? = nil) -> InstalledPackage {
    InstalledPackage(name: name, version: version, type: type, purl: purl ?? "pkg:\(type.rawValue)/\(name)@\(version)", layer: "sha256:bbb")
}

@Suite("Vulnerability matcher")
struct VulnDBMatcherTests {
    @Test("OSV range semantics")
    func ranges() {
        typealias R = AffectedEntry.Range
        func eval(_ v: String, _ events: [OSVEvent], type: String = "ECOSYSTEM", versions: [String] = [], _ s: VersionScheme = .semver)
            -> VulnerabilityMatcher.Evaluation
        {
            VulnerabilityMatcher.evaluate(version: v, ranges: [R(type: type, events: events)], versions: versions, scheme: s)
        }
        let twoWindows = [OSVEvent(.fixed, "1.13.1"), OSVEvent(.introduced, "0.1.14"), OSVEvent(.introduced, "1.9.0"), OSVEvent(.fixed, "1.8.4")]
        #expect(!eval("0.1.13", twoWindows).affected)
        #expect(eval("0.1.14", twoWindows).fixedVersion == "1.8.4")
        #expect(!eval("1.8.4", twoWindows).affected)
        #expect(eval("1.10.0", twoWindows).fixedVersion == "1.13.1")
        #expect(!eval("1.13.1", twoWindows).affected)
        let lastAffected = [OSVEvent(.introduced, "0"), OSVEvent(.lastAffected, "2.0.0")]
        #expect(eval("2.0.0", lastAffected).affected)
        #expect(eval("2.0.0", lastAffected).fixState == .notFixed)
        #expect(!eval("2.0.1", lastAffected).affected)
        let limited = [OSVEvent(.introduced, "1.0.0"), OSVEvent(.limit, "2.0.0")]
        #expect(eval("1.5.0", limited).affected)
        #expect(!eval("2.1.0", limited).affected)
        // Explicit versions only: affected, fix state unknown.
        let listed = VulnerabilityMatcher.evaluate(version: "v1.0.0", ranges: [], versions: ["1.0.0"], scheme: .semver)
        #expect(listed.affected && listed.fixState == .unknown)
        // An unparsable installed version is never range-matched.
        #expect(!eval("garbage", [OSVEvent(.introduced, "0")]).affected)
        #expect(eval("garbage", [OSVEvent(.introduced, "0")], versions: ["garbage"]).affected)
        // dpkg ordering inside an ECOSYSTEM range.
        #expect(eval("2.36-9+deb12u1", [OSVEvent(.introduced, "0"), OSVEvent(.fixed, "2.36-9+deb12u3")], .dpkg).affected)
        #expect(!eval("2.36-9+deb12u10", [OSVEvent(.introduced, "0"), OSVEvent(.fixed, "2.36-9+deb12u3")], .dpkg).affected)
    }

    @Test("Debian image: source packages, merge via aliases, not-fixed findings, language packages")
    func debianImage() throws {
        let matcher = VulnerabilityMatcher(database: try fixtureDatabase())
        let inventory = ImageInventory(
            os: OSInfo(family: "debian", version: "12", codename: "bookworm"),
            packages: [
                deb("libc6", "2.36-9+deb12u1", source: "glibc"),
                deb("libc-bin", "2.36-9+deb12u3", source: "glibc"),
                deb("libncursesw6", "6.4-4", source: "ncurses", sourceVersion: "6.4-4"),
                pkg("Requests", "2.30.0", .python),
                pkg("zope_interface", "5.4.0", .python),
                pkg("lodash", "4.17.15", .npm),
                pkg("log4j-core", "2.14.1", .maven, purl: "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"),
                pkg("org.apache.logging.log4j:log4j-core", "2.3.1", .maven),
                pkg("tokio", "1.9.5", .cargo),
                pkg("nokogiri", "1.13.3", .gem),
                pkg("stdlib", "go1.4.2", .golang),
                pkg("github.com/beego/beego", "v1.12.8", .golang),
                pkg("example.com/arr", "v1.0.0", .golang),
            ])
        let findings = try matcher.match(inventory)
        func find(_ id: String, _ package: String) -> Finding? {
            findings.first { $0.vulnerabilityId == id && $0.package.name == package }
        }

        let glibc = try #require(find("CVE-2023-4911", "libc6"))
        #expect(glibc.advisoryIds == ["DEBIAN-CVE-2023-4911", "DSA-5514-1"])
        #expect(glibc.aliases == ["DEBIAN-CVE-2023-4911", "DSA-5514-1"])
        #expect(glibc.fixedVersion == "2.36-9+deb12u3")
        #expect(glibc.fixState == .fixed)
        #expect(glibc.cvss == 7.8)
        #expect(glibc.severity == .high)
        #expect(glibc.package.layer == "sha256:aaa")
        #expect(glibc.sources == ["native"])
        #expect(find("CVE-2023-4911", "libc-bin") == nil, "the fixed build must not match")

        let ncurses = try #require(find("CVE-2023-50495", "libncursesw6"))
        #expect(ncurses.fixState == .notFixed)
        #expect(ncurses.fixedVersion == nil)
        #expect(ncurses.severity == .low)

        let requests = try #require(find("CVE-2023-32681", "Requests"))
        #expect(requests.aliases == ["GHSA-j8r2-6x86-q33q", "PYSEC-2023-74"])
        #expect(requests.severity == .medium)
        #expect(requests.cvss == 6.1)
        #expect(requests.fixedVersion == "2.31.0")
        #expect(requests.title == "Unintended leak of Proxy-Authorization header in requests")
        #expect(requests.references.contains("https://nvd.nist.gov/vuln/detail/CVE-2023-32681"))

        let zope = try #require(find("CVE-2099-0001", "zope_interface"))
        #expect(zope.fixState == .notFixed && zope.severity == .low)

        let lodash = try #require(find("CVE-2020-8203", "lodash"))
        #expect(lodash.severity == .high && lodash.cvss == 7.4 && lodash.fixedVersion == "4.17.19")
        #expect(find("CVE-2099-9999", "lodash") == nil, "withdrawn advisories never match")

        let log4j = try #require(find("CVE-2021-44228", "log4j-core"))
        #expect(log4j.severity == .critical && log4j.cvss == 10.0 && log4j.fixedVersion == "2.15.0")
        #expect(find("CVE-2021-44228", "org.apache.logging.log4j:log4j-core") == nil, "2.3.1 is the fix of its window")

        #expect(find("CVE-2021-45710", "tokio")?.fixedVersion == "1.13.1")
        let nokogiri = try #require(find("CVE-2022-24836", "nokogiri"))
        #expect(nokogiri.severity == .high && nokogiri.cvss == nil && nokogiri.fixedVersion == "1.13.4")

        // GO-2021-0157 and GO-2021-0159 both name CVE-2015-5739: one finding.
        let stdlib = findings.filter { $0.package.name == "stdlib" }
        #expect(stdlib.count == 1)
        #expect(stdlib.first?.vulnerabilityId == "CVE-2015-5739")
        #expect(stdlib.first?.aliases == ["CVE-2015-5740", "CVE-2015-5741", "GO-2021-0157", "GO-2021-0159"])
        #expect(stdlib.first?.fixedVersion == "1.4.3")

        let beego = findings.filter { $0.package.name == "github.com/beego/beego" }.map(\.vulnerabilityId).sorted()
        #expect(beego == ["CVE-2021-30080", "CVE-2022-31259", "CVE-2022-31836"])
        #expect(find("CVE-2021-30080", "github.com/beego/beego")?.fixState == .notFixed)
        #expect(find("CVE-2022-31836", "github.com/beego/beego")?.fixedVersion == "1.12.11")
        #expect(find("TEST-ARRAY-1", "example.com/arr")?.fixState == .unknown)

        // Most severe first.
        #expect(findings.first?.severity == .critical)
        #expect(findings.count == 13)
    }

    @Test("Alpine and Ubuntu images use their own ecosystems")
    func alpineAndUbuntu() throws {
        let matcher = VulnerabilityMatcher(database: try fixtureDatabase())
        let alpine = try matcher.match(
            ImageInventory(
                os: OSInfo(family: "alpine", version: "3.18.4"),
                packages: [
                    InstalledPackage(name: "libcrypto3", version: "3.1.3-r0", type: .apk, purl: "pkg:apk/alpine/libcrypto3@3.1.3-r0", sourceName: "openssl"),
                    InstalledPackage(name: "libssl3", version: "3.1.4-r0", type: .apk, purl: "pkg:apk/alpine/libssl3@3.1.4-r0", sourceName: "openssl"),
                ]))
        #expect(alpine.map(\.vulnerabilityId) == ["CVE-2023-5363"])
        #expect(alpine.first?.package.name == "libcrypto3")
        #expect(alpine.first?.fixedVersion == "3.1.4-r0")

        let ubuntu = try matcher.match(
            ImageInventory(
                os: OSInfo(family: "ubuntu", version: "22.04"),
                packages: [deb("libc6", "2.35-0ubuntu3.1", source: "glibc")]))
        #expect(ubuntu.map(\.vulnerabilityId) == ["CVE-2023-4911"])
        #expect(ubuntu.first?.severity == .high)
        #expect(ubuntu.first?.advisoryIds == ["UBUNTU-CVE-2023-4911"])

        // Debian 11 advisories do not apply to Debian 12 and vice versa.
        let bullseye = try matcher.match(
            ImageInventory(os: OSInfo(family: "debian", version: "11"), packages: [deb("libc6", "2.31-13+deb11u6", source: "glibc")]))
        #expect(bullseye.map(\.advisoryIds) == [["DSA-5514-1"]])
        #expect(try matcher.match(ImageInventory(os: nil, packages: [deb("libc6", "2.31-13", source: "glibc")])).isEmpty)
    }

    @Test("ecosystem mapping")
    func mapping() {
        let debian = OSInfo(family: "debian", version: "12")
        #expect(VulnerabilityMatcher.query(for: deb("libc6", "1", source: "glibc"), os: debian)?.ecosystems == ["Debian:12"])
        #expect(VulnerabilityMatcher.query(for: deb("libc6", "1", source: "glibc"), os: debian)?.name == "glibc")
        #expect(VulnerabilityMatcher.query(for: pkg("Foo.Bar_baz", "1", .python), os: nil)?.name == "foo-bar-baz")
        #expect(VulnerabilityMatcher.query(for: pkg("x", "1.0-1.el9", .rpm), os: OSInfo(family: "rocky", version: "9.3"))?.ecosystems == ["Rocky Linux:9"])
        #expect(VulnerabilityMatcher.query(for: pkg("x", "1.0-1.el9", .rpm), os: OSInfo(family: "centos", version: "7")) == nil)
        #expect(VulnerabilityMatcher.query(for: pkg("stdlib", "go1.21.3", .golang), os: nil)?.version == "1.21.3")
        #expect(OSVEcosystem.key("Ubuntu:22.04:LTS") == "Ubuntu:22.04")
    }

    @Test("benchmark hook runs end to end on a small scale")
    func benchmarkSmoke() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vulndb-bench-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let result = try VulnDBBenchmark.run(records: 600, packages: 300, workDirectory: dir)
        #expect(result.records == 600)
        #expect(result.findings > 0)
    }
}
