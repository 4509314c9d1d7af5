public import Foundation
import Cron

/// Dates as the API and the database write them: RFC 3339, UTC.
public enum RFC3339 {
    public static func string(_ date: Date) -> String {
        Timestamp.format(date)
    }

    public static func parse(_ s: String) -> Date? {
        Timestamp.parse(s)
    }
}

/// One encoder configuration for every response: RFC 3339 UTC dates, sorted keys.
public enum JSONCoding {
    public static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.dateEncodingStrategy = .custom { date, encoder in
            var c = encoder.singleValueContainer()
            try c.encode(RFC3339.string(date))
        }
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }()
}
