import Foundation
import Server
import Store
import Testing

/// Token hashes and webhook tokens are compared with `Tokens.constantTimeEquals`: every
/// byte is read whatever the first difference, so the time taken says nothing about how
/// much of a guess was right.
@Suite struct ConstantTimeTests {
    @Test func equalityIsExactForEveryLengthAndPosition() {
        let a = Tokens.hash("hg_ak_" + String(repeating: "a", count: 48))
        #expect(Tokens.constantTimeEquals(a, a))
        #expect(Tokens.constantTimeEquals(Data(), Data()))
        #expect(!Tokens.constantTimeEquals(a, a.dropLast()))
        #expect(!Tokens.constantTimeEquals(a, Data()))
        // A difference in any single bit of any byte, first, middle or last, is seen.
        for i in 0..<a.count {
            for bit in 0..<8 {
                var b = a
                b[b.startIndex + i] ^= UInt8(1 << bit)
                #expect(!Tokens.constantTimeEquals(a, b), "byte \(i) bit \(bit)")
            }
        }
        // Slices with non-zero start indices compare by content.
        let padded = Data([0xFF]) + a
        #expect(Tokens.constantTimeEquals(padded.dropFirst(), a))
    }

    @Test func aGuessWrongInItsFirstByteTakesAsLongAsARightOne() {
        // On inputs large enough to time reliably, an early-exit comparison (memcmp, `==`)
        // returns almost at once when the first byte differs; this one reads every byte.
        let n = 1 << 20
        let a = Data(repeating: 0x5A, count: n)
        let same = Data(repeating: 0x5A, count: n)
        var firstWrong = same
        firstWrong[0] = 0
        let clock = ContinuousClock()
        func fastest(_ other: Data) -> Duration {
            let expected = other == a
            var results: [Bool] = []
            let fastest = (0..<5).map { _ in clock.measure { results.append(Tokens.constantTimeEquals(a, other)) } }.min()!
            #expect(results == Array(repeating: expected, count: 5))
            return fastest
        }
        let equal = fastest(same)
        let early = fastest(firstWrong)
        #expect(early * 2 > equal, "first-byte mismatch took \(early), a full match \(equal)")
    }
}
