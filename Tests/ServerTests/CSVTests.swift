import Foundation
import Testing

@testable import Server

/// CSV lines: RFC 4180 quoting and the formula-injection guard on text cells.
@Suite struct CSVTests {
    static func line(_ build: (inout CSVLine) -> Void) -> String {
        var l = CSVLine()
        build(&l)
        l.end()
        return String(decoding: l.bytes, as: UTF8.self)
    }

    @Test(arguments: [
        ("plain", "plain"),
        ("", ""),
        ("a,b", "\"a,b\""),
        ("say \"hi\"", "\"say \"\"hi\"\"\""),
        ("two\nlines", "\"two\nlines\""),
        ("cr\rhere", "\"cr\rhere\""),
        ("=HYPERLINK(\"https://evil.example\",\"x\")", "\"'=HYPERLINK(\"\"https://evil.example\"\",\"\"x\"\")\""),
        ("=1+1", "'=1+1"),
        ("+cmd", "'+cmd"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tindent", "'\tindent"),
        ("\rstart", "\"'\rstart\""),
        ("a=b", "a=b"),
        ("ünïcødé", "ünïcødé"),
    ])
    func textCells(value: String, expected: String) {
        #expect(Self.line { $0.text(value) } == expected + "\r\n")
    }

    @Test func fieldsNumbersAndLines() {
        let s = Self.line { l in
            l.text("libssl3"); l.text(nil); l.integer(-3); l.number(9.8); l.number(nil); l.number(.nan); l.bool(true); l.list(["a", "b"])
        }
        // Numbers the server computes are not guarded (-3 stays a number).
        #expect(s == "libssl3,,-3,9.8,,,true,a b\r\n")
        var l = CSVLine()
        l.text("x"); l.end(); l.text("y"); l.end()
        #expect(String(decoding: l.bytes, as: UTF8.self) == "x\r\ny\r\n")
        #expect(String(decoding: CSVLine.header(["a", "b"]), as: UTF8.self) == "a,b\r\n")
    }
}
