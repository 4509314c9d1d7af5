import Foundation
import Testing

@testable import Scan

/// Checks that every pair of an ascending list compares as the list says.
private func expectAscending(_ scheme: VersionScheme, _ list: [String]) -> Int {
    var checked = 0
    for i in list.indices {
        for j in list.indices where j > i {
            #expect(scheme.compare(list[i], list[j]) < 0, "\(scheme): \(list[i]) < \(list[j])")
            #expect(scheme.compare(list[j], list[i]) > 0, "\(scheme): \(list[j]) > \(list[i])")
            checked += 1
        }
    }
    return checked
}

@Suite("Version comparators against published examples")
struct VersionsSpecTests {
    @Test("apk: apk-tools test/version.data")
    func apkToolsCases() {
        var checked = 0
        for line in apkVersionData.split(separator: "\n") {
            let f = line.split(separator: " ")
            guard f.count == 3 else { continue }
            let a = String(f[0]), op = f[1], b = String(f[2])
            let want = op == "<" ? -1 : (op == ">" ? 1 : 0)
            #expect(sign(VersionScheme.apk.compare(a, b)) == want, "\(a) \(op) \(b)")
            #expect(sign(VersionScheme.apk.compare(b, a)) == -want, "\(b) vs \(a)")
            checked += 1
        }
        #expect(checked > 650)
    }

    @Test("apk: suffix and revision rules, validity")
    func apkHandCases() {
        let ascending = [
            "1.0_alpha", "1.0_alpha1", "1.0_alpha2", "1.0_beta", "1.0_pre1", "1.0_rc1", "1.0", "1.0-r1", "1.0-r10",
            "1.0_cvs1", "1.0_svn", "1.0_git20240101", "1.0_hg1", "1.0_p1", "1.0_p2-r3", "1.0a", "1.0b", "1.0.1",
            "1.01", "1.1", "1.1.0", "2",
        ]
        _ = expectAscending(.apk, ascending)
        #expect(VersionScheme.apk.compare("1.2.3-r0", "1.2.3") > 0)
        #expect(VersionScheme.apk.isValid("3.1.4-r5"))
        #expect(!VersionScheme.apk.isValid("1.0_foo"))
        #expect(!VersionScheme.apk.isValid("1.0bc"))
        #expect(!VersionScheme.apk.isValid("1.0-x1"))
        #expect(!VersionScheme.apk.isValid(""))
    }

    @Test("semver: semver.org §11 precedence, v prefix, Go pseudo-versions")
    func semverSpec() {
        // semver.org §11 examples, then Go pseudo-versions around v1.2.3 / v1.2.4.
        var checked = expectAscending(.semver, [
            "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11",
            "1.0.0-rc.1", "1.0.0", "2.0.0", "2.1.0", "2.1.1",
        ])
        checked += expectAscending(.semver, [
            "v0.0.0-20190101000000-aaaaaaaaaaaa", "v0.0.0-20210101000000-abcdef123456", "v0.1.0", "v1.2.3",
            "v1.2.4-0.20191109021931-daa7c04131f5", "v1.2.4-pre", "v1.2.4-pre.0.20200101000000-aaaaaaaaaaaa",
            "v1.2.4", "1.10.0", "v2.0.0+incompatible", "10.0.0",
        ])
        #expect(checked >= 100)
        #expect(VersionScheme.semver.compare("1.0.0+build.1", "1.0.0+build.2") == 0)
        #expect(VersionScheme.semver.compare("v1.2.3", "1.2.3") == 0)
        #expect(VersionScheme.semver.compare("1.2", "1.2.0") == 0)
        #expect(SemanticVersion("1.2") == nil)
        #expect(SemanticVersion(lenient: "1.2")?.coerced == true)
        #expect(SemanticVersion("01.2.3") == nil)
        #expect(SemanticVersion("1.2.3-01") == nil)
        #expect(SemanticVersion("1.2.3-0.1.a-b+build.5") != nil)
        #expect(!VersionScheme.semver.isValid("not-a-version"))
    }

    @Test("maven: ComparableVersionTest orders and equalities")
    func mavenComparableVersionTest() {
        let qualifiers = [
            "1-alpha2snapshot", "1-alpha2", "1-alpha-123", "1-beta-2", "1-beta123", "1-m2", "1-m11", "1-rc", "1-cr2",
            "1-rc123", "1-SNAPSHOT", "1", "1-sp", "1-sp2", "1-sp123", "1-abc", "1-def", "1-pom-1", "1-1-snapshot",
            "1-1", "1-2", "1-123",
        ]
        let numbers = [
            "2.0", "2-1", "2.0.a", "2.0.0.a", "2.0.2", "2.0.123", "2.1.0", "2.1-a", "2.1b", "2.1-c", "2.1-1",
            "2.1.0.1", "2.2", "2.123", "11.a2", "11.a11", "11.b2", "11.b11", "11.m2", "11.m11", "11", "11.a", "11b",
            "11c", "11m",
        ]
        let checked = expectAscending(.maven, qualifiers) + expectAscending(.maven, numbers)
        #expect(checked == 231 + 300)
        // Maven 3.6+ ComparableVersionTest (after MNG-5568: a digit/letter switch opens a
        // sub-list like `-`).
        let equal: [(String, String)] = [
            ("1", "1"), ("1", "1.0"), ("1", "1.0.0"), ("1.0", "1.0.0"), ("1", "1-0"), ("1", "1.0-0"),
            ("1.0", "1.0-0"), ("1a", "1-a"), ("1a", "1.0-a"), ("1a", "1.0.0-a"), ("1.0a", "1-a"), ("1.0.0a", "1-a"),
            ("1x", "1-x"), ("1x", "1.0-x"), ("1x", "1.0.0-x"), ("1.0x", "1-x"), ("1.0.0x", "1-x"),
            ("1ga", "1"), ("1final", "1"), ("1cr", "1rc"), ("1a1", "1-alpha-1"), ("1b2", "1-beta-2"),
            ("1m3", "1-milestone-3"), ("1X", "1x"), ("1A", "1a"), ("1B", "1b"), ("1M", "1m"), ("1Ga", "1"),
            ("1GA", "1"), ("1Final", "1"), ("1FinaL", "1"), ("1FINAL", "1"), ("1Cr", "1Rc"), ("1cR", "1rC"),
            ("1m3", "1Milestone3"), ("1m3", "1MileStone3"), ("1m3", "1MILESTONE3"),
            ("1-abcdefghijklmnopqrstuvwxyz", "1-ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
        ]
        for (a, b) in equal {
            #expect(VersionScheme.maven.compare(a, b) == 0, "\(a) == \(b)")
        }
        let ordered: [(String, String)] = [
            ("1", "2"), ("1.5", "2"), ("1", "2.5"), ("1.0", "1.1"), ("1.1", "1.2"), ("1.0.0", "1.1"), ("1.0.1", "1.1"),
            ("1.1", "1.2.0"), ("1.0-alpha-1", "1.0"), ("1.0-alpha-1", "1.0-alpha-2"), ("1.0-alpha-1", "1.0-beta-1"),
            ("1.0-beta-1", "1.0-SNAPSHOT"), ("1.0-SNAPSHOT", "1.0"), ("1.0-alpha-1-SNAPSHOT", "1.0-alpha-1"),
            ("1.0", "1.0-1"), ("1.0-1", "1.0-2"), ("1.0.0", "1.0-1"), ("2.0-1", "2.0.1"), ("2.0.1-klm", "2.0.1-lmn"),
            ("2.0.1", "2.0.1-xyz"), ("2.0.1", "2.0.1-123"), ("2.0.1-xyz", "2.0.1-123"),
            // MNG-5568 transitivity case.
            ("6.1.0rc3", "6.1.0"), ("6.1.0rc3", "6.1H.5-beta"), ("6.1.0", "6.1H.5-beta"),
        ]
        for (a, b) in ordered {
            #expect(VersionScheme.maven.compare(a, b) < 0, "\(a) < \(b)")
            #expect(VersionScheme.maven.compare(b, a) > 0, "\(b) > \(a)")
        }
    }

    @Test("rubygems: Gem::Version ordering")
    func gems() {
        _ = expectAscending(.rubygems, ["0.9", "1.0.a", "1.0.a2", "1.0.b1", "1.0.rc1", "1.0", "1.0.1", "1.9", "1.10", "2.0.0-1"])
        #expect(VersionScheme.rubygems.compare("1.0.0", "1") == 0)
        #expect(VersionScheme.rubygems.compare("2.0.0-1", "2.0.0.pre.1") == 0)
        #expect(!VersionScheme.rubygems.isValid("a.b"))
    }

    @Test("every scheme is a total order and never traps on garbage")
    func fuzzTotalOrder() {
        var r = SeededRNG(seed: 0xF022)
        let alphabet = Array("0123456789.-_+~^:!abcprvzAZ \u{00E9}\u{1F600}")
        var inputs = ["", "0", "~", "-", ":", "1:", ":1", "1-", "-1", "v", "+", "^", "1.0", "1.0-1", "99999999999999999999999999"]
        for _ in 0..<150 { inputs.append(String((0..<r.int(0...10)).map { _ in r.pick(alphabet) })) }
        for scheme in VersionScheme.allCases {
            for a in inputs {
                #expect(scheme.compare(a, a) == 0, "\(scheme) reflexive \(a.debugDescription)")
            }
            for _ in 0..<400 {
                let a = r.pick(inputs), b = r.pick(inputs), c = r.pick(inputs)
                let ab = sign(scheme.compare(a, b)), ba = sign(scheme.compare(b, a))
                #expect(ab == -ba, "\(scheme) antisymmetric \(a.debugDescription) \(b.debugDescription)")
                let bc = sign(scheme.compare(b, c)), ac = sign(scheme.compare(a, c))
                if ab <= 0 && bc <= 0 {
                    #expect(ac <= 0, "\(scheme) transitive \(a.debugDescription) \(b.debugDescription) \(c.debugDescription)")
                }
            }
            let sorted = inputs.sorted { scheme.less($0, $1) }
            #expect(sorted.count == inputs.count)
        }
    }

    @Test("ecosystem to scheme")
    func ecosystems() {
        #expect(VersionScheme.forEcosystem("Debian:12") == .dpkg)
        #expect(VersionScheme.forEcosystem("Ubuntu:22.04:LTS") == .dpkg)
        #expect(VersionScheme.forEcosystem("Alpine:v3.19") == .apk)
        #expect(VersionScheme.forEcosystem("Rocky Linux:9") == .rpm)
        #expect(VersionScheme.forEcosystem("PyPI") == .pep440)
        #expect(VersionScheme.forEcosystem("Go") == .semver)
        #expect(VersionScheme.forEcosystem("crates.io") == .semver)
        #expect(VersionScheme.forEcosystem("Maven") == .maven)
        #expect(VersionScheme.forEcosystem("RubyGems") == .rubygems)
        #expect(VersionScheme.forEcosystem("Hackage") == .generic)
    }
}
