import Foundation
import Testing

/// A seeded SplitMix64 generator so generated cases are the same on every run.
struct SeededRNG: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func int(_ r: ClosedRange<Int>) -> Int { Int.random(in: r, using: &self) }
    mutating func chance(_ p: Double) -> Bool { Double.random(in: 0..<1, using: &self) < p }
    mutating func pick<T>(_ a: [T]) -> T { a[int(0...(a.count - 1))] }
}

enum OracleError: Error, CustomStringConvertible {
    case missing(String)
    case failed(String, Int32, String)
    case shortOutput(Int, Int)

    var description: String {
        switch self {
        case .missing(let hint): "oracle unavailable: \(hint)"
        case .failed(let cmd, let code, let err): "\(cmd) exited \(code): \(err)"
        case .shortOutput(let want, let got): "oracle answered \(got) lines for \(want) questions"
        }
    }
}

/// The repository root, found from this file's path.
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// Runs one oracle process over all questions at once and returns one answer per line.
func runOracle(_ command: [String], lines: [String]) throws -> [String] {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = command
    // Questions go through a temporary file so neither side can block on a full pipe.
    let questions = FileManager.default.temporaryDirectory
        .appendingPathComponent("oracle-\(UUID().uuidString).txt")
    try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: questions)
    defer { try? FileManager.default.removeItem(at: questions) }
    let output = Pipe(), error = Pipe()
    process.standardInput = try FileHandle(forReadingFrom: questions)
    process.standardOutput = output
    process.standardError = error
    try process.run()
    let out = output.fileHandleForReading.readDataToEndOfFile()
    let err = error.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw OracleError.failed(command.joined(separator: " "), process.terminationStatus,
                                 String(decoding: err.prefix(2000), as: UTF8.self))
    }
    let answers = String(decoding: out, as: UTF8.self).split(separator: "\n").map(String.init)
    guard answers.count == lines.count else { throw OracleError.shortOutput(lines.count, answers.count) }
    return answers
}

func sign(_ x: Int) -> Int { x < 0 ? -1 : (x > 0 ? 1 : 0) }

func toolExists(_ path: String) -> Bool { FileManager.default.isExecutableFile(atPath: path) }
