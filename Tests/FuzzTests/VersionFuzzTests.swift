import Foundation
import PropertyBased
import Testing

@testable import Scan

/// Versions built from each scheme's own pieces, with a few arbitrary Unicode scalars, so
/// that equal, nearly equal and invalid versions all turn up.
private func versions(_ scheme: VersionScheme) -> Generator<String, some SendableSequenceType> {
    let pieces: [String] =
        switch scheme {
        case .dpkg: ["0", "1", "2", "10", "01", "9", ".", ".", "+", "~", "-", ":", "a", "b", "z", "A", "~rc", "+dfsg", "-1", "1:"]
        case .rpm: ["0", "1", "2", "10", "01", ".", ".", "~", "^", "_", "+", "-", ":", "a", "b", "Z", "rc", "el8", "git"]
        case .apk: ["0", "1", "2", "10", "01", ".", ".", "_alpha", "_beta", "_pre", "_rc", "_p", "_cvs", "_git", "-r", "a", "z", "~", "-r1"]
        case .pep440: ["0", "1", "2", "10", "01", ".", ".", "a", "b", "rc", "c", "alpha", "pre", ".post", "post", ".dev", "dev", "!", "+", "-", "_", "v", "local"]
        case .semver: ["0", "1", "2", "10", "01", ".", ".", "-", "+", "v", "alpha", "beta", "rc", "a", "x", "build", "-0"]
        case .maven: ["0", "1", "2", "10", "01", ".", ".", "-", "alpha", "a", "beta", "b", "milestone", "m", "rc", "cr", "snapshot", "ga", "final", "release", "sp", "x"]
        case .rubygems: ["0", "1", "2", "10", "01", ".", ".", "-", "a", "pre", "rc", "beta", "z"]
        case .generic: ["0", "1", "2", "10", "01", ".", "-", "a", "b", "_", "~"]
        }
    return zip(Gen<Int>.int(in: 0...(pieces.count + 3)).array(of: 1...9), Gen<UInt32>.value(in: 0...0x10FFFF)).map { picks, wild in
        var out = ""
        for pick in picks {
            if pick < pieces.count {
                out += pieces[pick]
            } else if pick == pieces.count {
                // A scalar from anywhere (combining marks make canonically equal strings with different bytes).
                out.unicodeScalars.append(Unicode.Scalar(wild) ?? "\u{301}")
            } else if pick == pieces.count + 1 {
                out += ["é", "e\u{301}", "\u{0}", " ", "\u{FF10}"][Int(wild % 5)]
            } else {
                out += String(wild % 1000)
            }
        }
        return out
    }
}

/// The scheme's own Comparable type, when it has one: (==, <) on two parsed versions.
private func typed(_ scheme: VersionScheme, _ a: String, _ b: String) -> (equal: Bool, less: Bool, sameHash: Bool)? {
    func check<V: Comparable & Hashable>(_ x: V?, _ y: V?) -> (Bool, Bool, Bool)? {
        guard let x, let y else { return nil }
        return (x == y, x < y, x.hashValue == y.hashValue)
    }
    switch scheme {
    case .dpkg: return check(DpkgVersion(a), DpkgVersion(b))
    case .rpm: return check(RPMVersion(a), RPMVersion(b))
    case .apk: return check(APKVersion(a), APKVersion(b))
    case .pep440: return check(PEP440Version(a), PEP440Version(b))
    case .semver: return check(SemanticVersion(lenient: a), SemanticVersion(lenient: b))
    case .rubygems: return check(GemVersion(a), GemVersion(b))
    case .maven:
        let x = MavenVersion(a), y = MavenVersion(b)
        return (x == y, x < y, true)
    case .generic: return nil
    }
}

@Suite("Fuzz: version comparators")
struct VersionFuzzTests {
    @Test("every comparator is a total order: reflexive, antisymmetric, transitive, consistent with == and hashing",
          arguments: VersionScheme.allCases.filter { $0 != .maven })
    func totalOrder(_ scheme: VersionScheme) {
        checkTotalOrder(scheme, versions(scheme), name: "versions.\(scheme.rawValue)")
    }

    /// Maven 3.6–3.8's `ComparableVersion`, which `MavenVersion` follows item for item, is not
    /// transitive: ".rc" ≤ "0-" ≤ "bm" yet ".rc" > "bm", and "1alpha" ≤ "1final" ≤ "1.xrc" yet
    /// "1alpha" > "1.xrc" (a number item sorts above every qualifier and a sub-list between
    /// them). Recorded as a known issue until the comparator deviates from Maven there; the
    /// property still runs, so a crash or a new kind of violation shows.
    @Test("Maven: total order (known issue: not transitive, as Maven's own ComparableVersion)")
    func mavenTotalOrder() {
        withKnownIssue("MavenVersion is not transitive on mixed qualifier/number items", isIntermittent: true) {
            checkTotalOrder(.maven, versions(.maven), name: "versions.maven")
        }
    }

    private func checkTotalOrder(_ scheme: VersionScheme, _ gen: Generator<String, some SendableSequenceType>, name: String) {
        FuzzRun.run(name, count: 150, gen.array(of: 8...8)) { list, run in
            let c = { (a: String, b: String) in sign(scheme.compare(a, b)) }
            for a in list {
                run.check(c(a, a) == 0, "compare(\(a.debugDescription), itself) != 0")
                _ = scheme.isValid(a)
            }
            for a in list {
                for b in list {
                    let ab = c(a, b)
                    run.check(ab == -c(b, a), "antisymmetry: \(a.debugDescription) vs \(b.debugDescription)")
                    if let t = typed(scheme, a, b) {
                        run.check(t.equal == (ab == 0), "== disagrees with compare for \(a.debugDescription), \(b.debugDescription)")
                        run.check(t.less == (ab < 0), "< disagrees with compare for \(a.debugDescription), \(b.debugDescription)")
                        run.check(!t.equal || t.sameHash, "equal versions \(a.debugDescription), \(b.debugDescription) hash differently")
                    }
                    for x in list {
                        let bx = c(b, x), ax = c(a, x)
                        if ab <= 0 && bx <= 0 {
                            run.check(ax <= 0 && (ax < 0 || (ab == 0 && bx == 0)),
                                      "transitivity: \(a.debugDescription) ≤ \(b.debugDescription) ≤ \(x.debugDescription) but compare(a, x) = \(ax)")
                        }
                    }
                }
            }
            // Sorting with the comparator leaves every pair in order.
            let sorted = list.sorted { scheme.less($0, $1) }
            for i in sorted.indices {
                for j in sorted.indices where j > i {
                    run.check(c(sorted[i], sorted[j]) <= 0, "sorted order broken: \(sorted.map(\.debugDescription))")
                }
            }
        }
    }

    @Test("dpkg: character-level generated versions agree with dpkg --compare-versions")
    func dpkgOracle() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/dpkg") else {
            Issue.record("dpkg is not installed (Debian's dpkg package)")
            return
        }
        // deb-version(7): [epoch:]upstream[-revision]; upstream starts with a digit.
        let upstream = zip(Gens.string("0123456789", 1...3), Gens.string("0123456789.+~aZz", 0...10)).map { $0 + $1 }
        let revision = Gens.string("0123456789.+~ab", 1...5)
        let epoch = Gen<Int>.int(in: 0...2)
        let version = zip(epoch, upstream, revision.optional).map { e, u, r in
            (e > 0 ? "\(e):" : "") + u + (r.map { "-" + $0 } ?? "")
        }
        var rng = FuzzConfig.rng(for: "versions.dpkg-oracle")
        let pairs = (0..<(300 * FuzzConfig.scale)).map { _ in
            let a = version.run(using: &rng)
            // Half the pairs share a prefix so the interesting positions are compared.
            let b = Bool.random(using: &rng) ? a + version.run(using: &rng).dropFirst(Int.random(in: 0...3, using: &rng)) : version.run(using: &rng)
            return (a, b)
        }.filter { DpkgVersion($0.0) != nil && DpkgVersion($0.1) != nil }
        #expect(pairs.count >= 200 * FuzzConfig.scale)
        let answers = try runOracle(["sh", repositoryRoot + "/scripts/oracles/dpkg_oracle.sh"], pairs.map { "\($0.0)\t\($0.1)" })
        var disagreements: [String] = []
        for ((a, b), want) in zip(pairs, answers) where String(sign(VersionScheme.dpkg.compare(a, b))) != want {
            disagreements.append("\(a) vs \(b): dpkg \(want), ours \(sign(VersionScheme.dpkg.compare(a, b)))")
        }
        #expect(disagreements.isEmpty, "\(disagreements.count) disagreements (HARBORGUARD_FUZZ_SEED=\(FuzzConfig.seed)): \(disagreements.prefix(10))")
    }

    @Test("PEP 440: generated versions agree with packaging.version on validity and order")
    func pep440Oracle() throws {
        let gen = versions(.pep440)
        var rng = FuzzConfig.rng(for: "versions.pep440-oracle")
        let strings = (0..<(600 * FuzzConfig.scale)).map { _ in gen.run(using: &rng) }
            .filter { !$0.contains("\t") && !$0.contains("\n") && !$0.contains("\r") && !$0.contains("\u{0}") }
        let pairs = (0..<(strings.count / 2)).map { (strings[2 * $0], strings[2 * $0 + 1]) }
        let questions = strings.map { "valid\t\($0)" } + pairs.map { "cmp\t\($0.0)\t\($0.1)" }
        let answers = try runOracle(["python3", repositoryRoot + "/scripts/oracles/pep440_oracle.py"], questions)
        var disagreements: [String] = []
        for (v, want) in zip(strings, answers) where (PEP440Version(v) != nil ? "1" : "0") != want {
            disagreements.append("valid(\(v.debugDescription)): packaging \(want)")
        }
        var compared = 0
        for ((a, b), want) in zip(pairs, answers.dropFirst(strings.count)) where want != "invalid" {
            compared += 1
            let got = String(sign(VersionScheme.pep440.compare(a, b)))
            if got != want { disagreements.append("\(a.debugDescription) vs \(b.debugDescription): packaging \(want), ours \(got)") }
        }
        #expect(compared > 0)
        #expect(disagreements.isEmpty, "\(disagreements.count) disagreements (HARBORGUARD_FUZZ_SEED=\(FuzzConfig.seed)): \(disagreements.prefix(10))")
    }
}

private func sign(_ x: Int) -> Int { x < 0 ? -1 : (x > 0 ? 1 : 0) }

/// The repository root, from this file's path.
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path

/// Runs an oracle once over all questions (one per line) and returns one answer per line.
func runOracle(_ command: [String], _ lines: [String]) throws -> [String] {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = command
    let questions = FileManager.default.temporaryDirectory.appendingPathComponent("fuzz-oracle-\(UUID().uuidString).txt")
    try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: questions)
    defer { try? FileManager.default.removeItem(at: questions) }
    let output = Pipe()
    process.standardInput = try FileHandle(forReadingFrom: questions)
    process.standardOutput = output
    try process.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    let answers = String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
    guard process.terminationStatus == 0, answers.count == lines.count else {
        throw OracleFailure(command: command.joined(separator: " "), status: process.terminationStatus, answers: answers.count, questions: lines.count)
    }
    return answers
}

struct OracleFailure: Error, CustomStringConvertible {
    let command: String
    let status: Int32
    let answers: Int
    let questions: Int
    var description: String { "\(command) exited \(status) with \(answers) answers to \(questions) questions" }
}
