import Foundation
import PropertyBased
import Testing

/// Settings of the fuzz suite. The default run uses a fixed seed and a budget that keeps the
/// whole suite well under a minute; `make fuzz` raises the budget and picks a fresh seed.
///
/// - `HARBORGUARD_FUZZ_SEED`: the base seed (an unsigned integer); every property derives its
///   own seed from it and its name, so one failing property reproduces on its own.
/// - `HARBORGUARD_FUZZ_SCALE`: multiplies every property's iteration count (default 1).
enum FuzzConfig {
    static let defaultSeed: UInt64 = 0x4842_4655_5A5A_0001

    static let seed: UInt64 = {
        guard let raw = ProcessInfo.processInfo.environment["HARBORGUARD_FUZZ_SEED"], !raw.isEmpty else {
            return defaultSeed
        }
        return UInt64(raw) ?? UInt64(raw.dropFirst(raw.hasPrefix("0x") ? 2 : 0), radix: 16) ?? defaultSeed
    }()

    static let scale: Int = {
        guard let raw = ProcessInfo.processInfo.environment["HARBORGUARD_FUZZ_SCALE"], let value = Int(raw), value > 0
        else { return 1 }
        return value
    }()

    /// A generator seeded from the base seed and the property's name (FNV-1a of the name).
    static func rng(for name: String) -> Xoshiro {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in name.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3 }
        var mix = SplitMix(state: seed ^ hash)
        return Xoshiro(seed: (mix.next(), mix.next(), mix.next(), mix.next()))
    }
}

/// Expands one 64-bit seed into the four words Xoshiro needs.
struct SplitMix {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Collects property violations for one fuzz run; stops the run after a few so a broken
/// property does not flood the log.
final class FuzzRun {
    let name: String
    private(set) var failures = 0
    private(set) var iteration = 0
    let limit = 5

    init(name: String) { self.name = name }

    var shouldStop: Bool { failures >= limit }

    /// Records a violation unless `condition` holds; the message names the seed to rerun with.
    func check(
        _ condition: Bool, _ message: @autoclosure () -> String, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        guard !condition else { return }
        failures += 1
        guard failures <= limit else { return }
        Issue.record(
            "\(name) #\(iteration): \(message()) (HARBORGUARD_FUZZ_SEED=\(FuzzConfig.seed))",
            sourceLocation: sourceLocation)
    }

    /// Runs `body` on `count × scale` values drawn from `generator` with this property's seed.
    /// The seed and count go to stderr first, so a crash (which no expectation can catch)
    /// still says how to reproduce it.
    static func run<Value>(
        _ name: String, count: Int, _ generator: Generator<Value, some SendableSequenceType>,
        _ body: (Value, FuzzRun) throws -> Void, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        var rng = FuzzConfig.rng(for: name)
        let total = count * FuzzConfig.scale
        FileHandle.standardError.write(Data("fuzz \(name): \(total) cases, HARBORGUARD_FUZZ_SEED=\(FuzzConfig.seed)\n".utf8))
        let run = FuzzRun(name: name)
        for i in 0..<total {
            run.iteration = i
            let value = generator.run(using: &rng)
            do {
                try body(value, run)
            } catch {
                run.check(false, "threw \(error) for \(String(reflecting: value).prefix(300))", sourceLocation: sourceLocation)
            }
            if run.shouldStop { break }
        }
    }
}

/// Generators shared by the properties.
enum Gens {
    /// Arbitrary bytes, `count` long.
    static func bytes(_ count: ClosedRange<Int>) -> Generator<[UInt8], some SendableSequenceType> {
        Gen<UInt8>.value(in: 0...255).array(of: count)
    }

    /// Strings over `alphabet` (one character per element).
    static func string(_ alphabet: String, _ count: ClosedRange<Int>) -> Generator<String, some SendableSequenceType> {
        Gen<Character?>.element(of: Array(alphabet)).map { $0! }.string(of: count)
    }

    /// Strings that mix `alphabet` with arbitrary Unicode scalars (combining marks, NUL,
    /// surrogate-adjacent and astral code points) at the given rate.
    static func mixed(_ alphabet: String, _ count: ClosedRange<Int>, wildRate: Int = 8) -> Generator<String, some SendableSequenceType> {
        let letters = Array(alphabet)
        return zip(
            Gen<Int>.int(in: 0...99).array(of: count),
            Gen<UInt32>.value(in: 0...0x10FFFF).array(of: count)
        ).map { picks, scalars in
            var out = String.UnicodeScalarView()
            for (i, pick) in picks.enumerated() {
                if pick < wildRate {
                    let raw = scalars.isEmpty ? 0x301 : scalars[i % scalars.count]
                    out.append(Unicode.Scalar(raw) ?? "\u{301}")
                } else {
                    out.append(contentsOf: letters[pick % letters.count].unicodeScalars)
                }
            }
            return String(out)
        }
    }
}
