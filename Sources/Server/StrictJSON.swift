import Foundation

/// What Foundation's `JSONDecoder` accepts beyond RFC 8259, refused before it decodes a
/// request body: bodies in UTF-16 or UTF-32 (JSON between systems is UTF-8, §8.1) and
/// trailing commas in objects and arrays. A leading UTF-8 byte order mark stays allowed
/// (§8.1 lets a parser ignore it). Each refusal names what is wrong and where.
enum StrictJSON {
    /// The reason `bytes` is not strict JSON, or nil when the decoder may have it.
    static func problem(in bytes: some Collection<UInt8>) -> String? {
        var index = 0
        var inString = false
        var escaped = false
        var lastSignificant: UInt8 = 0
        for byte in bytes {
            defer { index += 1 }
            if byte == 0 && !inString {
                return "The request body must be UTF-8 JSON (found a NUL byte at offset \(index); UTF-16 and UTF-32 are not accepted)."
            }
            if inString {
                if escaped {
                    escaped = false
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                    lastSignificant = byte
                }
                continue
            }
            switch byte {
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"):
                continue
            case 0xFE, 0xFF:
                return "The request body must be UTF-8 JSON (byte 0x\(String(byte, radix: 16, uppercase: true)) at offset \(index) never occurs in UTF-8; UTF-16 and UTF-32 are not accepted)."
            case UInt8(ascii: "\""):
                inString = true
            case UInt8(ascii: "]"), UInt8(ascii: "}"):
                if lastSignificant == UInt8(ascii: ",") {
                    return "The request body is not valid JSON: trailing comma before offset \(index)."
                }
            default:
                break
            }
            lastSignificant = byte
        }
        return nil
    }
}
