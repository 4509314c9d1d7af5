/// Splits a JSON document fed in chunks into the values a feed is made of, holding at most
/// one value in memory: the elements of one array member of the top-level object (NVD's
/// `vulnerabilities`, KEV's `vulnerabilities`), or every member of the top-level object
/// (the Debian security tracker's source packages). Each value's bytes go to `emit`, to be
/// decoded on their own; the splitter only tracks strings, escapes and nesting, so it is a
/// byte loop, not a parser: malformed values are the decoder's to report.
///
/// Feeds are hundreds of megabytes uncompressed: no JSON decoder in the dependencies reads
/// one value at a time, hence this small state machine.
struct JSONStreamSplitter {
    enum Target: Equatable, Sendable {
        /// The elements of the array that is the value of the top-level member `key`.
        case elementsOf(key: String)
        /// Every member of the top-level object, with its key.
        case members
    }

    struct Failure: Error, CustomStringConvertible, Equatable {
        var description: String
    }

    private let target: Target
    private let targetKey: [UInt8]
    private let maxValueBytes: Int
    private var depth = 0
    private var inString = false
    private var escaped = false
    /// At depth 1: the next string is a member name.
    private var expectingKey = false
    private var readingKey = false
    private var key: [UInt8] = []
    /// At depth 1, between a member's `:` and its value.
    private var afterColon = false
    /// Inside the target array (`.elementsOf`).
    private var inTargetArray = false
    private var targetDone = false
    private var capturing = false
    private var captureCompound = false
    private var captureString = false
    private var value: [UInt8] = []
    private var valueKey: String?
    private var rootSeen = false
    private var rootClosed = false
    private(set) var bytesRead = 0
    /// How many values were emitted.
    private(set) var count = 0

    init(target: Target, maxValueBytes: Int = 64 << 20) {
        self.target = target
        if case .elementsOf(let k) = target { targetKey = Array(k.utf8) } else { targetKey = [] }
        self.maxValueBytes = maxValueBytes
    }

    /// The depth at which the values of interest sit.
    private var valueDepth: Int {
        switch target {
        case .elementsOf: 2
        case .members: 1
        }
    }

    private var atValueStart: Bool {
        switch target {
        case .elementsOf: inTargetArray && depth == 2
        case .members: depth == 1 && afterColon
        }
    }

    mutating func feed(_ bytes: UnsafeRawBufferPointer, emit: (String?, [UInt8]) throws -> Void) throws {
        bytesRead += bytes.count
        for b in bytes {
            try step(b, emit: emit)
        }
    }

    mutating func feed(_ bytes: [UInt8], emit: (String?, [UInt8]) throws -> Void) throws {
        try bytes.withUnsafeBytes { try feed($0, emit: emit) }
    }

    /// Checks that the document ended: the root closed and, for `.elementsOf`, the array was found.
    func finish() throws {
        guard rootSeen else { throw Failure(description: "empty document: no JSON object") }
        guard rootClosed, !inString, depth == 0 else {
            throw Failure(description: "truncated JSON: the document ends inside a value (after \(bytesRead) bytes)")
        }
        if case .elementsOf(let k) = target, !targetDone {
            throw Failure(description: "no \"\(k)\" array in the document")
        }
    }

    private mutating func step(_ b: UInt8, emit: (String?, [UInt8]) throws -> Void) throws {
        if rootClosed {
            guard Self.isSpace(b) else { throw Failure(description: "unexpected data after the end of the JSON document") }
            return
        }
        if capturing {
            if captureString || captureCompound || !Self.endsLiteral(b) {
                value.append(b)
                if value.count > maxValueBytes {
                    throw Failure(description: "a value larger than \(maxValueBytes >> 20) MiB: not a feed this reader accepts")
                }
            }
        }
        if inString {
            if escaped {
                escaped = false
            } else if b == 0x5C {
                escaped = true
            } else if b == 0x22 {
                inString = false
                if readingKey {
                    readingKey = false
                } else if capturing && captureString {
                    try end(emit)
                }
            } else if readingKey {
                key.append(b)
            }
            return
        }
        if capturing && !captureString && !captureCompound && Self.endsLiteral(b) {
            try end(emit)
        }
        switch b {
        case 0x20, 0x09, 0x0A, 0x0D:
            return
        case 0x22:
            inString = true
            if depth == 1 && expectingKey && !capturing {
                readingKey = true
                expectingKey = false
                key.removeAll(keepingCapacity: true)
            } else if !capturing && atValueStart {
                begin(b, string: true, compound: false)
            }
        case 0x7B, 0x5B:
            if !capturing && atValueStart { begin(b, string: false, compound: true) }
            if depth == 1 && b == 0x5B && !inTargetArray && !targetDone && afterColon && key == targetKey && !targetKey.isEmpty {
                inTargetArray = true
            }
            depth += 1
            if depth == 1 {
                guard b == 0x7B else { throw Failure(description: "the document is not a JSON object") }
                rootSeen = true
                expectingKey = true
            }
            afterColon = false
        case 0x7D, 0x5D:
            depth -= 1
            if depth < 0 { throw Failure(description: "unbalanced JSON: a closing bracket without an opening one") }
            if capturing && captureCompound && depth == valueDepth { try end(emit) }
            if inTargetArray && depth == 1 {
                inTargetArray = false
                targetDone = true
            }
            if depth == 0 { rootClosed = true }
        case 0x2C:
            if depth == 1 {
                expectingKey = true
                afterColon = false
            }
        case 0x3A:
            if depth == 1 { afterColon = true }
        default:
            if !capturing && atValueStart { begin(b, string: false, compound: false) }
            if depth == 1 { afterColon = false }
        }
    }

    private mutating func begin(_ b: UInt8, string: Bool, compound: Bool) {
        capturing = true
        captureString = string
        captureCompound = compound
        value.removeAll(keepingCapacity: true)
        value.append(b)
        valueKey = target == .members ? String(decoding: key, as: UTF8.self) : nil
        if target == .members { afterColon = false }
    }

    private mutating func end(_ emit: (String?, [UInt8]) throws -> Void) throws {
        capturing = false
        count += 1
        try emit(valueKey, value)
    }

    private static func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D }

    /// What ends a number or a literal (`true`, `false`, `null`).
    private static func endsLiteral(_ b: UInt8) -> Bool {
        b == 0x2C || b == 0x5D || b == 0x7D || isSpace(b)
    }
}
