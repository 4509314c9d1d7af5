import Store
/// A small, allocation-light JSON writer for hot list endpoints, where Foundation's
/// JSONEncoder (which builds a tree of dictionaries first) dominated the request cost.
/// Keys come out sorted by the caller, like the encoder's `.sortedKeys`; a test compares
/// the two outputs.
struct JSONWriter {
    private(set) var bytes: [UInt8] = []
    /// One flag per open object/array: has it an item already?
    private var hasItem: [Bool] = [false]

    init(capacity: Int = 4096) {
        bytes.reserveCapacity(capacity)
    }

    private mutating func comma() {
        if hasItem[hasItem.count - 1] { bytes.append(UInt8(ascii: ",")) }
        hasItem[hasItem.count - 1] = true
    }

    private mutating func keyPrefix(_ k: String?) {
        comma()
        if let k {
            writeString(k)
            bytes.append(UInt8(ascii: ":"))
        }
    }

    /// Opens an object: a field of the current object when `key` is given, else an array element or the root.
    mutating func beginObject(_ key: String? = nil) {
        keyPrefix(key)
        bytes.append(UInt8(ascii: "{"))
        hasItem.append(false)
    }

    mutating func endObject() {
        hasItem.removeLast()
        bytes.append(UInt8(ascii: "}"))
    }

    mutating func beginArray(_ key: String? = nil) {
        keyPrefix(key)
        bytes.append(UInt8(ascii: "["))
        hasItem.append(false)
    }

    mutating func endArray() {
        hasItem.removeLast()
        bytes.append(UInt8(ascii: "]"))
    }

    mutating func field(_ k: String, _ v: String?) {
        keyPrefix(k)
        if let v { writeString(v) } else { bytes.append(contentsOf: "null".utf8) }
    }

    mutating func field(_ k: String, _ v: Int) {
        keyPrefix(k)
        bytes.append(contentsOf: String(v).utf8)
    }

    mutating func field(_ k: String, _ v: Bool) {
        keyPrefix(k)
        bytes.append(contentsOf: (v ? "true" : "false").utf8)
    }

    mutating func field(_ k: String, _ v: [String]) {
        beginArray(k)
        for s in v {
            comma()
            writeString(s)
        }
        endArray()
    }

    private mutating func writeString(_ s: String) {
        bytes.append(UInt8(ascii: "\""))
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""): bytes.append(contentsOf: [92, 34])
            case UInt8(ascii: "\\"): bytes.append(contentsOf: [92, 92])
            case 0x0A: bytes.append(contentsOf: [92, UInt8(ascii: "n")])
            case 0x0D: bytes.append(contentsOf: [92, UInt8(ascii: "r")])
            case 0x09: bytes.append(contentsOf: [92, UInt8(ascii: "t")])
            case 0x08: bytes.append(contentsOf: [92, UInt8(ascii: "b")])
            case 0x0C: bytes.append(contentsOf: [92, UInt8(ascii: "f")])
            case 0..<0x20:
                let hex: [UInt8] = Array("0123456789abcdef".utf8)
                bytes.append(contentsOf: [92, UInt8(ascii: "u"), 48, 48, hex[Int(b >> 4)], hex[Int(b & 0xf)]])
            default: bytes.append(b)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}
