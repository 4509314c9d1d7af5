import Foundation
import Store

/// What Foundation's `JSONDecoder` accepts beyond RFC 8259, refused before it decodes a
/// request body: bodies in UTF-16 or UTF-32 (JSON between systems is UTF-8, §8.1), trailing
/// commas in objects and arrays, and an object with the same member name twice (§4 leaves
/// it to the parser, which silently keeps one: a check and the code after it could read
/// different values). A leading UTF-8 byte order mark stays allowed (§8.1 lets a parser
/// ignore it). Each refusal names what is wrong and where.
enum StrictJSON {
    /// Deeper than this, the decoder refuses the body anyway; the scan stops tracking names.
    static let maxTrackedDepth = 512

    /// The reason `bytes` is not strict JSON, or nil when the decoder may have it.
    static func problem(in bytes: some Collection<UInt8>) -> String? {
        var index = 0
        var inString = false
        var escaped = false
        var lastSignificant: UInt8 = 0
        // One entry per open container: nil for an array, the member names seen so far for an object.
        var containers: [Set<String>?] = []
        var expectingName = false
        var name: [UInt8]? = nil  // the member name being read
        var nameStart = 0
        for byte in bytes {
            defer { index += 1 }
            if byte == 0 && !inString {
                return "The request body must be UTF-8 JSON (found a NUL byte at offset \(index); UTF-16 and UTF-32 are not accepted)."
            }
            if inString {
                if escaped {
                    escaped = false
                    name?.append(byte)
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                    name?.append(byte)
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                    lastSignificant = byte
                    if let raw = name {
                        name = nil
                        let key = decodeName(raw)
                        if containers.count <= maxTrackedDepth, case .some(var seen) = containers[containers.count - 1] {
                            if !seen.insert(key).inserted {
                                return "The request body has the member \"\(shown(key))\" twice in one object (at offset \(nameStart)); each name may appear once."
                            }
                            containers[containers.count - 1] = seen
                        }
                    }
                } else {
                    name?.append(byte)
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
                if expectingName {
                    expectingName = false
                    name = []
                    nameStart = index
                }
            case UInt8(ascii: "{"):
                containers.append(containers.count < maxTrackedDepth ? Set<String>() : nil)
                expectingName = true
            case UInt8(ascii: "["):
                containers.append(nil)
            case UInt8(ascii: ","):
                if case .some(.some) = containers.last { expectingName = true }
            case UInt8(ascii: ":"):
                expectingName = false
            case UInt8(ascii: "]"), UInt8(ascii: "}"):
                if lastSignificant == UInt8(ascii: ",") {
                    return "The request body is not valid JSON: trailing comma before offset \(index)."
                }
                if !containers.isEmpty { containers.removeLast() }
                expectingName = false
            default:
                break
            }
            lastSignificant = byte
        }
        return nil
    }

    /// A member name as the decoder will see it (escapes resolved), so `"a"` and `"\u0061"` are one name.
    static func decodeName(_ raw: [UInt8]) -> String {
        guard raw.contains(UInt8(ascii: "\\")) else { return String(decoding: raw, as: UTF8.self) }
        let quoted = [UInt8(ascii: "\"")] + raw + [UInt8(ascii: "\"")]
        return (try? JSONDecoder().decode(String.self, from: Data(quoted))) ?? String(decoding: raw, as: UTF8.self)
    }

    static func shown(_ key: String) -> String {
        let clipped = key.count > 64 ? String(key.prefix(64)) + "…" : key
        return clipped.unicodeScalars.map { $0.value < 0x20 || $0 == "\"" || $0 == "\\" ? "?" : String($0) }.joined()
    }
}
