import Cron
import Foundation
import Testing

/// `Timestamp.seconds` is the one timestamp parser: strict RFC 3339 for stored and answered
/// times, lenient for OSV feeds (these cases moved here from the vulnerability-database tests).
@Suite struct TimestampTests {
    @Test("RFC 3339 timestamps of OSV records (lenient)")
    func osvTimestamps() {
        #expect(Timestamp.seconds("1970-01-01T00:00:00Z", lenient: true) == 0)
        #expect(Timestamp.seconds("2024-01-01T00:00:00Z", lenient: true) == 1_704_067_200)
        #expect(Timestamp.seconds("2024-01-01T01:00:00+01:00", lenient: true) == 1_704_067_200)
        #expect(Timestamp.seconds("2024-01-01T00:00:00.5Z", lenient: true) == 1_704_067_200.5)
        #expect(Timestamp.seconds("2024-01-01", lenient: true) == 1_704_067_200)
        #expect(Timestamp.seconds("yesterday", lenient: true) == nil)
        #expect(Timestamp.seconds("2024-13-01T00:00:00Z", lenient: true) == nil)
    }

    @Test("strict parsing takes exactly RFC 3339 date-time")
    func strict() {
        #expect(Timestamp.seconds("2024-01-01T00:00:00Z") == 1_704_067_200)
        #expect(Timestamp.seconds("2024-01-01T01:00:00+01:00") == 1_704_067_200)
        #expect(Timestamp.seconds("2024-01-01") == nil)
        #expect(Timestamp.seconds("2024-01-01 00:00:00Z") == nil)
        #expect(Timestamp.seconds("2024-01-01T00:00:00") == nil)
        #expect(Timestamp.seconds("2024-01-01T00:00:00.Z") == nil)
        #expect(Timestamp.seconds("2024-01-01T00:00Z") == nil)
        #expect(Timestamp.parse("2024-01-01T00:00:00Z") == Date(timeIntervalSince1970: 1_704_067_200))
        // Days past the month's end roll over as timegm does.
        #expect(Timestamp.seconds("2023-02-31T00:00:00Z") == Timestamp.seconds("2023-03-03T00:00:00Z"))
        // Before 1970 and a leap second.
        #expect(Timestamp.seconds("1900-01-01T00:00:00Z") == -2_208_988_800)
        #expect(Timestamp.seconds("2016-12-31T23:59:60Z") == Timestamp.seconds("2016-12-31T23:59:59Z"))
    }
}
