/// One tar entry after GNU long-name and PAX headers are applied and its path normalised.
struct TarEntry: Sendable, Hashable {
    enum Kind: Sendable, Hashable {
        case file, hardLink, symlink, directory, other
    }

    /// Normalised path relative to the image root ("" for the root itself).
    var path: String
    var kind: Kind
    var size: Int64
    var mode: Int
    /// Hard links: the normalised target path. Symlinks: the target as written.
    var linkTarget: String?
}

/// Receives entries from a `TarReader`.
protocol TarEntryHandler {
    /// Called when an entry's header is read; return true to receive its contents in `entryEnded`.
    mutating func entryStarted(_ entry: TarEntry) throws -> Bool
    /// Called once the entry's contents were read (or skipped).
    mutating func entryEnded(_ entry: TarEntry, contents: [UInt8]?) throws
    /// Called with each piece of a regular entry's contents as it streams (whether or not it is captured).
    mutating func entryData(_ bytes: UnsafeRawBufferPointer)
}

extension TarEntryHandler {
    mutating func entryData(_ bytes: UnsafeRawBufferPointer) {}
}

/// An incremental tar reader: fed decompressed bytes in arbitrary chunks, it parses ustar,
/// GNU (`L`/`K`, base-256 sizes) and PAX (`x`/`g`) headers and hands entries to a handler,
/// buffering only the contents the handler asks for. It never holds more than one header
/// (or one PAX/long-name record, capped) plus the requested contents.
struct TarReader {
    /// The most a wanted entry's buffer reserves up front (LayerLimits' largest per-file cap).
    static let maxReservation: Int64 = 256 << 20

    private enum State {
        case header
        /// Contents of a real entry: `remaining` bytes, then `padding`.
        case contents(remaining: Int64, padding: Int)
        /// Contents of a `L`/`K`/`x`/`g` header, collected into `extensionData`.
        case extensionData(remaining: Int, padding: Int, type: UInt8)
        case padding(remaining: Int)
        /// After the end-of-archive zero block; anything further is ignored.
        case ended
    }

    private struct Pax {
        var path: String?
        var linkPath: String?
        var size: Int64?
    }

    private let maxEntries: Int
    private let maxExtensionBytes: Int
    private var state: State = .header
    private var headerBuffer: [UInt8] = []
    private var extensionBuffer: [UInt8] = []
    private var longName: String?
    private var longLink: String?
    private var pax = Pax()
    private var globalPax = Pax()
    private var current: TarEntry?
    private var capture: [UInt8]?
    private(set) var offset: Int64 = 0
    private(set) var entryCount = 0

    init(maxEntries: Int, maxExtensionBytes: Int) {
        self.maxEntries = maxEntries
        self.maxExtensionBytes = maxExtensionBytes
        headerBuffer.reserveCapacity(512)
    }

    /// Feeds the next decompressed bytes.
    mutating func feed(_ bytes: UnsafeRawBufferPointer, to handler: inout some TarEntryHandler) throws {
        var index = 0
        let count = bytes.count
        while index < count {
            switch state {
            case .ended:
                offset += Int64(count - index)
                return
            case .header:
                if headerBuffer.isEmpty && count - index >= 512 {
                    let block = UnsafeRawBufferPointer(rebasing: bytes[index..<(index + 512)])
                    // Counted before parsing, as on the buffered path: errors name the header's own offset.
                    index += 512
                    offset += 512
                    try parseHeader(block, handler: &handler)
                } else {
                    let take = min(512 - headerBuffer.count, count - index)
                    Self.append(bytes, index, take, to: &headerBuffer)
                    index += take
                    offset += Int64(take)
                    if headerBuffer.count == 512 {
                        let block = headerBuffer
                        headerBuffer.removeAll(keepingCapacity: true)
                        try block.withUnsafeBytes { try parseHeader($0, handler: &handler) }
                    }
                }
            case .contents(let remaining, let padding):
                let take = Int(min(remaining, Int64(count - index)))
                if capture != nil {
                    Self.append(bytes, index, take, to: &capture!)
                }
                handler.entryData(UnsafeRawBufferPointer(rebasing: bytes[index..<(index + take)]))
                index += take
                offset += Int64(take)
                let left = remaining - Int64(take)
                if left == 0 {
                    state = padding > 0 ? .padding(remaining: padding) : .header
                    try finishEntry(handler: &handler)
                } else {
                    state = .contents(remaining: left, padding: padding)
                }
            case .extensionData(let remaining, let padding, let type):
                let take = min(remaining, count - index)
                Self.append(bytes, index, take, to: &extensionBuffer)
                index += take
                offset += Int64(take)
                if remaining - take == 0 {
                    state = padding > 0 ? .padding(remaining: padding) : .header
                    try applyExtension(type: type)
                } else {
                    state = .extensionData(remaining: remaining - take, padding: padding, type: type)
                }
            case .padding(let remaining):
                let take = min(remaining, count - index)
                index += take
                offset += Int64(take)
                state = remaining - take == 0 ? .header : .padding(remaining: remaining - take)
            }
        }
    }

    /// Ends the stream. A stream may end at an entry boundary without the zero blocks
    /// (as Go's archive/tar accepts); ending inside a header or contents is an error.
    func finish() throws {
        switch state {
        case .ended: return
        case .header where headerBuffer.isEmpty && longName == nil && longLink == nil && pax.path == nil:
            return
        default:
            throw LayerError.truncatedTar(offset: offset)
        }
    }

    private mutating func finishEntry(handler: inout some TarEntryHandler) throws {
        guard let entry = current else { return }
        let contents = capture
        current = nil
        capture = nil
        try handler.entryEnded(entry, contents: contents)
    }

    private mutating func parseHeader(_ block: UnsafeRawBufferPointer, handler: inout some TarEntryHandler) throws {
        let headerOffset = offset - 512
        var sum = 0
        for byte in block { sum &+= Int(byte) }
        if sum == 0 {
            state = .ended
            return
        }
        var checksumField = 0
        for i in 148..<156 { checksumField += Int(block[i]) }
        let computed = sum - checksumField + 8 * 32
        guard let stored = try Self.number(block, 148, 8, offset: headerOffset),
            stored == Int64(computed) || stored == Int64(Self.signedChecksum(block))
        else {
            throw LayerError.corruptTar(offset: headerOffset, reason: "header checksum mismatch")
        }
        let type = block[156]
        guard var size = try Self.number(block, 124, 12, offset: headerOffset) else {
            throw LayerError.corruptTar(offset: headerOffset, reason: "missing size")
        }
        guard size >= 0 else { throw LayerError.corruptTar(offset: headerOffset, reason: "negative size") }

        switch type {
        case UInt8(ascii: "L"), UInt8(ascii: "K"), UInt8(ascii: "x"), UInt8(ascii: "g"):
            guard size <= Int64(maxExtensionBytes) else {
                throw LayerError.extensionHeaderTooLarge(entry: Self.string(block, 0, 100), size: size)
            }
            extensionBuffer.removeAll(keepingCapacity: true)
            let length = Int(size)
            let padding = (512 - length % 512) % 512
            if length == 0 {
                state = .header
                try applyExtension(type: type)
            } else {
                state = .extensionData(remaining: length, padding: padding, type: type)
            }
            return
        default:
            break
        }

        entryCount += 1
        guard entryCount <= maxEntries else { throw LayerError.tooManyEntries(limit: maxEntries) }

        let isUstar = block[257] == UInt8(ascii: "u") && block[262] == 0
        var name = Self.string(block, 0, 100)
        if isUstar, block[345] != 0 {
            name = Self.string(block, 345, 155) + "/" + name
        }
        var link = Self.string(block, 157, 100)
        if let value = longName { name = value }
        if let value = longLink { link = value }
        if let value = globalPax.path { name = value }
        if let value = globalPax.linkPath { link = value }
        if let value = globalPax.size { size = value }
        if let value = pax.path { name = value }
        if let value = pax.linkPath { link = value }
        if let value = pax.size { size = value }
        longName = nil
        longLink = nil
        pax = Pax()

        let kind: TarEntry.Kind
        switch type {
        case 0, UInt8(ascii: "0"), UInt8(ascii: "7"): kind = .file
        case UInt8(ascii: "1"): kind = .hardLink
        case UInt8(ascii: "2"): kind = .symlink
        case UInt8(ascii: "5"): kind = .directory
        default: kind = .other
        }
        // Header-only types carry no data whatever the size field says (as in Go's reader).
        switch type {
        case UInt8(ascii: "1"), UInt8(ascii: "2"), UInt8(ascii: "3"), UInt8(ascii: "4"), UInt8(ascii: "5"),
            UInt8(ascii: "6"):
            size = 0
        default:
            break
        }
        guard let path = TarPath.normalize(name) else { throw LayerError.unsafePath(entry: name) }
        var target: String?
        if kind == .hardLink {
            guard let normalized = TarPath.normalize(link) else {
                throw LayerError.unsafePath(entry: "\(name) (hard link to \(link))")
            }
            target = normalized
        } else if kind == .symlink {
            target = link
        }
        let mode = Int(clamping: (try? Self.number(block, 100, 8, offset: headerOffset)) ?? 0)
        let entry = TarEntry(path: path, kind: kind, size: size, mode: mode, linkTarget: target)
        current = entry
        let wanted = try handler.entryStarted(entry)
        capture = nil
        if wanted {
            // The size field is the writer's claim. Reserving it whole avoids growing by
            // doubling (which held up to three times a large binary's size while copying); a
            // reservation costs address space, not memory, until bytes arrive. It is capped
            // (the analyser's own per-file limit) so an absurd header cannot fail the allocation.
            var buffer: [UInt8] = []
            buffer.reserveCapacity(Int(min(size, Self.maxReservation)))
            capture = buffer
        }
        let padding = Int((512 - size % 512) % 512)
        if size == 0 {
            state = .header
            try finishEntry(handler: &handler)
        } else {
            state = .contents(remaining: size, padding: padding)
        }
    }

    private mutating func applyExtension(type: UInt8) throws {
        switch type {
        case UInt8(ascii: "L"):
            longName = Self.cString(extensionBuffer)
        case UInt8(ascii: "K"):
            longLink = Self.cString(extensionBuffer)
        case UInt8(ascii: "x"):
            try Self.parsePax(extensionBuffer, into: &pax, offset: offset)
        case UInt8(ascii: "g"):
            try Self.parsePax(extensionBuffer, into: &globalPax, offset: offset)
        default:
            break
        }
        extensionBuffer.removeAll(keepingCapacity: true)
    }

    /// PAX records are `"<len> <key>=<value>\n"`, where len counts the whole record.
    private static func parsePax(_ data: [UInt8], into pax: inout Pax, offset: Int64) throws {
        var index = 0
        while index < data.count {
            if data[index] == 0 { break }
            var length = 0
            var cursor = index
            while cursor < data.count, data[cursor] != UInt8(ascii: " ") {
                let digit = Int(data[cursor]) - 48
                guard digit >= 0, digit <= 9, length < 1 << 30 else {
                    throw LayerError.corruptTar(offset: offset, reason: "bad PAX record length")
                }
                length = length * 10 + digit
                cursor += 1
            }
            let end = index + length
            guard length > 0, end <= data.count, cursor < end, data[end - 1] == UInt8(ascii: "\n") else {
                throw LayerError.corruptTar(offset: offset, reason: "bad PAX record")
            }
            let record = data[(cursor + 1)..<(end - 1)]
            if let equals = record.firstIndex(of: UInt8(ascii: "=")) {
                let key = String(decoding: record[record.startIndex..<equals], as: UTF8.self)
                let value = String(decoding: record[(equals + 1)...], as: UTF8.self)
                switch key {
                case "path": pax.path = value
                case "linkpath": pax.linkPath = value
                case "size":
                    guard let size = Int64(value), size >= 0 else {
                        throw LayerError.corruptTar(offset: offset, reason: "bad PAX size \(value)")
                    }
                    pax.size = size
                default: break
                }
            }
            index = end
        }
    }

    /// Parses an octal field (NUL/space padded) or a GNU base-256 field; nil if empty.
    private static func number(_ block: UnsafeRawBufferPointer, _ start: Int, _ length: Int, offset: Int64) throws -> Int64? {
        let first = block[start]
        if first & 0x80 != 0 {
            guard first & 0x40 == 0 else {
                throw LayerError.corruptTar(offset: offset, reason: "negative base-256 number")
            }
            var value = Int64(first & 0x3F)
            for i in (start + 1)..<(start + length) {
                guard value < Int64.max >> 8 else {
                    throw LayerError.corruptTar(offset: offset, reason: "base-256 number overflows")
                }
                value = value << 8 | Int64(block[i])
            }
            return value
        }
        var value: Int64 = 0
        var seenDigit = false
        for i in start..<(start + length) {
            let byte = block[i]
            if byte == 0 || byte == UInt8(ascii: " ") {
                if seenDigit { break } else { continue }
            }
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "7"), value < Int64.max >> 3 else {
                throw LayerError.corruptTar(offset: offset, reason: "bad octal field at \(start)")
            }
            value = value << 3 | Int64(byte - UInt8(ascii: "0"))
            seenDigit = true
        }
        return seenDigit ? value : nil
    }

    /// Appends through a typed buffer pointer, which Array copies with one memcpy.
    private static func append(_ bytes: UnsafeRawBufferPointer, _ index: Int, _ count: Int, to array: inout [UInt8]) {
        UnsafeRawBufferPointer(rebasing: bytes[index..<(index + count)]).withMemoryRebound(to: UInt8.self) {
            array.append(contentsOf: $0)
        }
    }

    /// Some old tars summed the header as signed bytes.
    private static func signedChecksum(_ block: UnsafeRawBufferPointer) -> Int {
        var sum = 8 * 32
        for i in 0..<512 where !(148..<156).contains(i) { sum += Int(Int8(bitPattern: block[i])) }
        return sum
    }

    private static func string(_ block: UnsafeRawBufferPointer, _ start: Int, _ length: Int) -> String {
        var end = start
        while end < start + length, block[end] != 0 { end += 1 }
        return String(decoding: UnsafeRawBufferPointer(rebasing: block[start..<end]), as: UTF8.self)
    }

    private static func cString(_ bytes: [UInt8]) -> String {
        let end = bytes.firstIndex(of: 0) ?? bytes.count
        return String(decoding: bytes[..<end], as: UTF8.self)
    }
}

/// Path rules for layer entries.
enum TarPath {
    /// Normalises an entry name: strips `./`, collapses `//`, resolves `..` that stays
    /// inside the root. Returns nil for absolute paths and for `..` that escapes the root.
    static func normalize(_ raw: String) -> String? {
        if raw.hasPrefix("/") { return nil }
        var parts: [Substring] = []
        for component in raw.split(separator: "/", omittingEmptySubsequences: true) {
            if component == "." { continue }
            if component == ".." {
                guard !parts.isEmpty else { return nil }
                parts.removeLast()
                continue
            }
            parts.append(component)
        }
        return parts.joined(separator: "/")
    }

    static func parent(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "" }
        return String(path[..<slash])
    }

    static func basename(_ path: String) -> Substring {
        guard let slash = path.lastIndex(of: "/") else { return path[...] }
        return path[path.index(after: slash)...]
    }

    static func join(_ directory: String, _ name: some StringProtocol) -> String {
        directory.isEmpty ? String(name) : directory + "/" + name
    }

    /// True if `path` is `ancestor` or lies under it ("" is the root, above everything).
    static func isWithin(_ path: String, _ ancestor: String) -> Bool {
        if ancestor.isEmpty { return true }
        guard path.hasPrefix(ancestor) else { return false }
        return path.utf8.count == ancestor.utf8.count || path.utf8.dropFirst(ancestor.utf8.count).first == UInt8(ascii: "/")
    }
}
