import Foundation

/// One CSV line (RFC 4180: fields separated by commas, lines ended by CRLF, a field holding a
/// comma, quote, CR or LF enclosed in quotes with its quotes doubled; UTF-8).
///
/// Text cells carry the **formula-injection guard**: package names, titles and image names
/// come from untrusted images and advisories, and a spreadsheet runs a cell that begins with
/// `=`, `+`, `-`, `@`, a tab or a CR as a formula, so such a cell is written with a leading
/// `'`. Numbers the server computes are written as numbers.
struct CSVLine {
    private(set) var bytes: [UInt8] = []
    private var fields = 0

    init(capacity: Int = 256) { bytes.reserveCapacity(capacity) }

    private mutating func separator() {
        if fields > 0 { bytes.append(UInt8(ascii: ",")) }
        fields += 1
    }

    /// A text cell (nil: empty), guarded and quoted as needed.
    mutating func text(_ value: String?) {
        separator()
        guard let value, !value.isEmpty else { return }
        let utf8 = value.utf8
        let guarded = Self.needsGuard(utf8.first!)
        var quote = false
        for b in utf8 where b == UInt8(ascii: ",") || b == UInt8(ascii: "\"") || b == 0x0D || b == 0x0A {
            quote = true
            break
        }
        if quote { bytes.append(UInt8(ascii: "\"")) }
        if guarded { bytes.append(UInt8(ascii: "'")) }
        if quote {
            for b in utf8 {
                if b == UInt8(ascii: "\"") { bytes.append(b) }
                bytes.append(b)
            }
            bytes.append(UInt8(ascii: "\""))
        } else {
            bytes.append(contentsOf: utf8)
        }
    }

    /// Several values in one cell, separated by a space (aliases, tags, versions).
    mutating func list(_ values: [String]) { text(values.isEmpty ? nil : values.joined(separator: " ")) }

    mutating func integer(_ value: Int?) {
        separator()
        if let value { bytes.append(contentsOf: String(value).utf8) }
    }

    mutating func number(_ value: Double?) {
        separator()
        if let value, value.isFinite { bytes.append(contentsOf: String(value).utf8) }
    }

    mutating func bool(_ value: Bool?) {
        separator()
        if let value { bytes.append(contentsOf: (value ? "true" : "false").utf8) }
    }

    /// Ends the line (CRLF) and starts the next one.
    mutating func end() {
        bytes.append(0x0D)
        bytes.append(0x0A)
        fields = 0
    }

    mutating func removeAll() {
        bytes.removeAll(keepingCapacity: true)
        fields = 0
    }

    static func needsGuard(_ first: UInt8) -> Bool {
        first == UInt8(ascii: "=") || first == UInt8(ascii: "+") || first == UInt8(ascii: "-") || first == UInt8(ascii: "@")
            || first == 0x09 || first == 0x0D
    }

    /// A header line.
    static func header(_ names: [String]) -> [UInt8] {
        var line = CSVLine()
        for n in names { line.text(n) }
        line.end()
        return line.bytes
    }
}
