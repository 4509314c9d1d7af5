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
