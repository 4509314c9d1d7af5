import Foundation
import Testing

@testable import Scan

// Oracle tests: generated pairs are checked against the reference implementation the
// distribution itself ships. Each oracle runs once over all pairs.
// CI needs: dpkg (Debian base), python3-rpm (Debian), Python `packaging` for python3.

private let numbers = ["0", "1", "2", "3", "9", "10", "11", "01", "007", "20", "99", "100", "20240101", "123456789012345678901"]

private func dpkgVersion(_ r: inout SeededRNG) -> String {
    var s = ""
    if r.chance(0.15) { s += "\(r.int(0...3)):" }
    s += r.pick(numbers)
    for _ in 0..<r.int(0...4) {
        switch r.int(0...9) {
        case 0...3: s += "." + r.pick(numbers)
        case 4: s += "~" + r.pick(["rc", "beta", "alpha", "pre", ""]) + (r.chance(0.5) ? r.pick(numbers) : "")
        case 5: s += "+" + r.pick(["dfsg", "ds", "git", "really", "b", "deb"]) + (r.chance(0.5) ? r.pick(numbers) : "")
        case 6: s += r.pick(["a", "b", "c", "p", "z", "A"])
        case 7: s += "~"
        case 8: s += "." + r.pick(numbers) + r.pick(["a", "b", "rc", "ubuntu"])
        default: s += "+" + r.pick(numbers)
        }
    }
    if r.chance(0.6) {
        s += "-" + r.pick(["1", "2", "0ubuntu1", "1ubuntu0.1", "1+deb12u1", "1~bpo11+1", "3.1", "10", "0", "1build1", "2~", "1.1"])
    }
    return s
}

private func dpkgMutation(_ v: String, _ r: inout SeededRNG) -> String {
    switch r.int(0...6) {
    case 0: return v + r.pick(["~", "~rc1", "+b1", ".0", "a", "0", ".1", "~~"])
    case 1:
        // Change one digit.
        var chars = Array(v)
        let digits = chars.indices.filter { chars[$0].isNumber }
        guard let i = digits.randomElement(using: &r) else { return v }
        chars[i] = r.pick(Array("0123456789"))
        return String(chars)
    case 2: return v.contains(":") ? v : "1:" + v
    case 3: return v.replacingOccurrences(of: "~", with: "+")
    case 4: return v.contains("-") ? String(v[..<v.lastIndex(of: "-")!]) : v + "-0"
    case 5: return v.replacingOccurrences(of: ".0", with: ".00")
    default: return dpkgVersion(&r)
    }
}

private func pairs(
    seed: UInt64, count: Int, generate: (inout SeededRNG) -> String,
    mutate: (String, inout SeededRNG) -> String
) -> [(String, String)] {
    var r = SeededRNG(seed: seed)
    var out: [(String, String)] = []
    while out.count < count {
        let a = generate(&r)
        let b = r.chance(0.75) ? mutate(a, &r) : generate(&r)
        out.append(r.chance(0.5) ? (a, b) : (b, a))
    }
    return out
}

@Suite("Version comparators against oracles")
struct VersionsOracleTests {
    @Test("dpkg: 400 generated pairs agree with dpkg --compare-versions")
    func dpkgOracle() throws {
        guard toolExists("/usr/bin/dpkg") else { throw OracleError.missing("dpkg (Debian) is not installed") }
        let cases = pairs(seed: 0xD9C6, count: 400, generate: dpkgVersion, mutate: dpkgMutation)
        for (a, b) in cases {
            #expect(DpkgVersion(a) != nil, "generator produced an invalid dpkg version \(a)")
            #expect(DpkgVersion(b) != nil, "generator produced an invalid dpkg version \(b)")
        }
        let script = repositoryRoot.appendingPathComponent("scripts/oracles/dpkg_oracle.sh").path
        let answers = try runOracle(["sh", script], lines: cases.map { "\($0.0)\t\($0.1)" })
        var disagreements: [String] = []
        for ((a, b), want) in zip(cases, answers) {
            let got = sign(VersionScheme.dpkg.compare(a, b))
            if String(got) != want { disagreements.append("\(a) vs \(b): dpkg \(want), ours \(got)") }
        }
        #expect(disagreements.isEmpty, "\(disagreements.count) disagreements: \(disagreements.prefix(20))")
    }

    @Test("rpm: 400 generated pairs agree with rpm.labelCompare")
    func rpmOracle() throws {
        guard toolExists("/usr/bin/python3") else { throw OracleError.missing("/usr/bin/python3") }
        func version(_ r: inout SeededRNG) -> String {
            var v = r.pick(numbers)
            for _ in 0..<r.int(0...4) {
                switch r.int(0...9) {
                case 0...3: v += "." + r.pick(numbers)
                case 4: v += "~" + r.pick(["rc", "beta", ""]) + (r.chance(0.5) ? r.pick(numbers) : "")
                case 5: v += "^" + r.pick(["git", "post", ""]) + (r.chance(0.5) ? r.pick(numbers) : "")
                case 6: v += r.pick(["a", "b", "p", "Z", "rc"])
                case 7: v += r.pick(["_", "+", ".", "..", "%"]) + r.pick(numbers)
                case 8: v += r.pick(["~", "^"])
                default: v += r.pick(numbers) + r.pick(["x", "alpha"])
                }
            }
            return v
        }
        func label(_ r: inout SeededRNG) -> String {
            let release = r.pick(["1", "2", "1.el8", "2.fc39", "0.1.rc1", "3.el9_2", "1~beta", "10.el7", "1^1", "1.1"])
            return "\(r.pick([0, 0, 0, 1, 2])):\(version(&r))-\(release)"
        }
        func mutate(_ v: String, _ r: inout SeededRNG) -> String {
            switch r.int(0...4) {
            case 0:
                // Extend the version part.
                let dash = v.lastIndex(of: "-")!
                return String(v[..<dash]) + r.pick(["~", "~rc1", "^", "^1", ".0", "a", "0", ".1", "_1"]) + String(v[dash...])
            case 1:
                var chars = Array(v)
                let digits = chars.indices.filter { chars[$0].isNumber }
                guard let i = digits.randomElement(using: &r) else { return v }
                chars[i] = r.pick(Array("0123456789"))
                return String(chars)
            case 2: return String(v[..<v.lastIndex(of: "-")!]) + "-" + r.pick(["1", "2", "1.el8", "0.1.rc1"])
            case 3: return v.replacingOccurrences(of: ".", with: "_")
            default: return label(&r)
            }
        }
        let cases = pairs(seed: 0x4E5, count: 400, generate: label, mutate: mutate)
        let script = repositoryRoot.appendingPathComponent("scripts/oracles/rpm_oracle.py").path
        let answers: [String]
        do {
            answers = try runOracle(["/usr/bin/python3", script], lines: cases.map { "\($0.0)\t\($0.1)" })
        } catch {
            throw OracleError.missing("rpm oracle failed (apt-get install python3-rpm): \(error)")
        }
        var disagreements: [String] = []
        for ((a, b), want) in zip(cases, answers) {
            let got = sign(VersionScheme.rpm.compare(a, b))
            if String(got) != want { disagreements.append("\(a) vs \(b): rpm \(want), ours \(got)") }
        }
        #expect(disagreements.isEmpty, "\(disagreements.count) disagreements: \(disagreements.prefix(20))")
    }

    private static func pep440Version(_ r: inout SeededRNG) -> String {
        let sep = ["", ".", "-", "_"]
        var s = r.chance(0.1) ? r.pick(["v", "V"]) : ""
        if r.chance(0.1) { s += "\(r.int(0...2))!" }
        s += (0..<r.int(1...4)).map { _ in r.pick(["0", "1", "2", "10", "01", "3", "00", "2024"]) }.joined(separator: ".")
        if r.chance(0.35) {
            s += r.pick(sep) + r.pick(["a", "b", "c", "rc", "alpha", "beta", "pre", "preview", "A", "RC"])
            if r.chance(0.7) { s += r.pick(sep) + r.pick(["0", "1", "2", "11", "01"]) }
        }
        if r.chance(0.25) {
            if r.chance(0.3) {
                s += "-" + r.pick(["1", "2", "10"])
            } else {
                s += r.pick(sep) + r.pick(["post", "rev", "r", "POST"])
                if r.chance(0.7) { s += r.pick(sep) + r.pick(["0", "1", "2", "11"]) }
            }
        }
        if r.chance(0.25) {
            s += r.pick(sep) + "dev"
            if r.chance(0.7) { s += r.pick(sep) + r.pick(["0", "1", "2", "11"]) }
        }
        if r.chance(0.2) {
            s += "+" + (0..<r.int(1...3)).map { _ in r.pick(["ubuntu", "1", "2", "abc", "10", "0", "Z9", "07"]) }
                .joined(separator: r.pick([".", "-", "_"]))
        }
        return s
    }

    @Test("PEP 440: 450 generated pairs (300+ valid) and 300 validity checks agree with packaging.version")
    func pep440Oracle() throws {
        let cases = pairs(seed: 0x440, count: 450, generate: Self.pep440Version) { v, r in
            switch r.int(0...4) {
            case 0: return v + r.pick([".0", ".post1", ".dev0", "+local", "a1", ".1"])
            case 1:
                var chars = Array(v)
                let digits = chars.indices.filter { chars[$0].isNumber }
                guard let i = digits.randomElement(using: &r) else { return v }
                chars[i] = r.pick(Array("0123456789"))
                return String(chars)
            case 2: return v.replacingOccurrences(of: ".", with: "-")
            default: return Self.pep440Version(&r)
            }
        }
        var r = SeededRNG(seed: 0xBAD)
        let alphabet = Array("0123456789.-_+!abcdeprvostlV ")
        var candidates = [
            "", "1.", ".1", "1..0", "1.0-", "a1", "1.0+", "1.0+a_", "1.0a-", "1.0.post.dev", "1.0-r", "1!",
            "1.0_", "v", "1.0 .0", "1.0+ubuntu-", "1.0.a", "1.0..a", " 1.0 ", "1.0+a..b", "1.0-1-1",
        ]
        while candidates.count < 300 {
            if r.chance(0.5) {
                candidates.append(String((0..<r.int(1...9)).map { _ in r.pick(alphabet) }))
            } else {
                var v = Array(Self.pep440Version(&r))
                v.insert(r.pick(alphabet), at: r.int(0...v.count))
                candidates.append(String(v))
            }
        }
        let questions = cases.map { "cmp\t\($0.0)\t\($0.1)" } + candidates.map { "valid\t\($0)" }
        let script = repositoryRoot.appendingPathComponent("scripts/oracles/pep440_oracle.py").path
        let answers: [String]
        do {
            answers = try runOracle(["python3", script], lines: questions)
        } catch {
            throw OracleError.missing("PEP 440 oracle failed (python3 with `packaging`): \(error)")
        }
        var disagreements: [String] = []
        var compared = 0
        for ((a, b), want) in zip(cases, answers) {
            // Mutations may break the grammar; then both sides must say so.
            if want == "invalid" {
                if PEP440Version(a) != nil && PEP440Version(b) != nil {
                    disagreements.append("\(a) vs \(b): packaging rejects one, we accept both")
                }
                continue
            }
            compared += 1
            let got = sign(VersionScheme.pep440.compare(a, b))
            if String(got) != want { disagreements.append("\(a) vs \(b): packaging \(want), ours \(got)") }
        }
        #expect(compared >= 300, "only \(compared) valid pairs")
        for (v, want) in zip(candidates, answers.dropFirst(cases.count)) {
            let got = PEP440Version(v) != nil ? "1" : "0"
            if got != want { disagreements.append("valid(\(v.debugDescription)): packaging \(want), ours \(got)") }
        }
        #expect(disagreements.isEmpty, "\(disagreements.count) disagreements: \(disagreements.prefix(20))")
    }
}
