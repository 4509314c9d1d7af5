public import Crypto
public import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Failures of the key-encryption-key store. Messages name files, never key material.
public enum KeyringError: Error, CustomStringConvertible {
    case unreadable(path: String, reason: String)
    case malformed(path: String, reason: String)
    case tooOpen(path: String, mode: Int)
    case unknownKEK(id: String)
    case noPrimary(path: String)

    public var description: String {
        switch self {
        case let .unreadable(path, reason): "cannot read keyring \(path): \(reason)"
        case let .malformed(path, reason): "keyring \(path) is malformed: \(reason)"
        case let .tooOpen(path, mode):
            "keyring \(path) is readable by other users (mode \(String(mode, radix: 8))); fix it with: chmod 600 \(path)"
        case let .unknownKEK(id): "key encryption key \(id) is not in the keyring"
        case let .noPrimary(path): "keyring \(path) has no primary key"
        }
    }
}

/// The KEK keyring: 256-bit keys with ids, one of them primary (used to wrap new DEKs).
/// Stored as JSON in `keys/keyring.json` (0600) or `HARBORGUARD_KEK_FILE`; never logged,
/// never in the database.
public struct Keyring: Sendable, Codable {
    public struct Entry: Sendable, Codable {
        public var id: String
        public var key: String  // base64 of 32 bytes
        public var createdAt: String
    }

    public struct Retired: Sendable, Codable {
        public var id: String
        public var retiredAt: String
        public init(id: String, retiredAt: String) {
            self.id = id
            self.retiredAt = retiredAt
        }
    }

    public var version: Int = 1
    public var primary: String
    public var keys: [Entry]
    public var retired: [Retired] = []

    public static func generate(now: Date = Date()) -> Keyring {
        let entry = Keyring.newEntry(now: now)
        return Keyring(primary: entry.id, keys: [entry])
    }

    public static func newEntry(now: Date = Date()) -> Entry {
        let key = SymmetricKey(size: .bits256)
        let b64 = key.withUnsafeBytes { Data($0).base64EncodedString() }
        return Entry(id: "kek_" + randomHexString(8), key: b64, createdAt: RFC3339.string(now))
    }

    public func symmetricKey(_ id: String) throws -> SymmetricKey {
        guard let e = keys.first(where: { $0.id == id }), let data = Data(base64Encoded: e.key), data.count == 32 else {
            throw KeyringError.unknownKEK(id: id)
        }
        return SymmetricKey(data: data)
    }

    public func primaryKey() throws -> (id: String, key: SymmetricKey) {
        (primary, try symmetricKey(primary))
    }

    func validate(path: String) throws {
        guard keys.contains(where: { $0.id == primary }) else { throw KeyringError.noPrimary(path: path) }
        for k in keys {
            guard let d = Data(base64Encoded: k.key), d.count == 32 else {
                throw KeyringError.malformed(path: path, reason: "key \(k.id) is not 32 bytes of base64")
            }
        }
    }

    /// Reads and checks a keyring file; refuses one readable by group or others.
    public static func load(path: String, checkMode: Bool = true) throws -> Keyring {
        guard access(path, F_OK) == 0 else {
            throw KeyringError.unreadable(path: path, reason: String(cString: strerror(errno)))
        }
        let mode = FileStamp.attributes(path)?[.posixPermissions].flatMap { ($0 as? NSNumber)?.intValue } ?? 0
        if checkMode, mode & 0o077 != 0 {
            throw KeyringError.tooOpen(path: path, mode: mode & 0o777)
        }
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw KeyringError.unreadable(path: path, reason: "\(error.localizedDescription)")
        }
        let ring: Keyring
        do {
            ring = try JSONDecoder().decode(Keyring.self, from: data)
        } catch {
            throw KeyringError.malformed(path: path, reason: "not a keyring JSON document")
        }
        try ring.validate(path: path)
        return ring
    }

    /// Writes the keyring durably: temp file (0600) → fsync → rename → fsync directory,
    /// so a crash leaves either the old or the new keyring, never a torn one.
    public func write(path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try encoder.encode(self)
        try FileIO.writeDurably(data, to: path, mode: 0o600)
    }
}

/// A keyring file that reloads itself when it changes on disk, so a running server
/// picks up `admin rotate-kek` without a restart.
public final class KeyringStore: Sendable {
    public let path: String
    let checkMode: Bool
    private struct State {
        var ring: Keyring
        var stamp: FileStamp
    }
    private let state: Mutex<State>

    public init(path: String, checkMode: Bool = true) throws {
        self.path = path
        self.checkMode = checkMode
        let ring = try Keyring.load(path: path, checkMode: checkMode)
        state = Mutex(State(ring: ring, stamp: FileStamp(path: path)))
    }

    /// The current keyring, reloaded when the file's inode, size or mtime changed.
    public func current() throws -> Keyring {
        let stamp = FileStamp(path: path)
        if let cached = state.withLock({ $0.stamp == stamp ? $0.ring : nil }) {
            return cached
        }
        let ring = try Keyring.load(path: path, checkMode: checkMode)
        state.withLock { $0 = State(ring: ring, stamp: stamp) }
        return ring
    }
}

struct FileStamp: Equatable {
    var inode: UInt64 = 0
    var size: Int64 = 0
    var modified: Date?

    // FileManager's attributes rather than the C `stat` struct: which clang module owns that
    // struct's members depends on import order across the module, and breaks the build.
    init(path: String) {
        if let a = Self.attributes(path) {
            inode = (a[.systemFileNumber] as? NSNumber)?.uint64Value ?? 0
            size = (a[.size] as? NSNumber)?.int64Value ?? 0
            modified = a[.modificationDate] as? Date
        }
    }

    static func attributes(_ path: String) -> [FileAttributeKey: Any]? {
        try? FileManager.default.attributesOfItem(atPath: path)
    }
}

/// File helpers with explicit modes and fsync.
public enum FileIO {
    public static func writeDurably(_ data: Data, to path: String, mode: mode_t) throws {
        let tmp = path + ".tmp-\(getpid())"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard fd >= 0 else { throw FileIOError.failed("create \(tmp)", errno) }
        var ok = true
        data.withUnsafeBytes { raw in
            var off = 0
            while off < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + off, raw.count - off)
                if n <= 0 { ok = false; break }
                off += n
            }
        }
        let savedErrno = errno
        if ok { ok = fchmod(fd, mode) == 0 && fsync(fd) == 0 }
        close(fd)
        guard ok else {
            unlink(tmp)
            throw FileIOError.failed("write \(tmp)", savedErrno)
        }
        guard rename(tmp, path) == 0 else {
            let e = errno
            unlink(tmp)
            throw FileIOError.failed("rename to \(path)", e)
        }
        fsyncDirectory(of: path)
    }

    public static func fsyncDirectory(of path: String) {
        let dir = (path as NSString).deletingLastPathComponent
        let dfd = open(dir.isEmpty ? "." : dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 {
            fsync(dfd)
            close(dfd)
        }
    }

    /// Creates a directory (and parents) and forces its mode.
    public static func makeDirectory(_ path: String, mode: mode_t) throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        guard chmod(path, mode) == 0 else { throw FileIOError.failed("chmod \(path)", errno) }
    }
}

public struct FileIOError: Error, CustomStringConvertible {
    public var description: String
    public init(description: String) { self.description = description }
    static func failed(_ what: String, _ err: Int32) -> FileIOError {
        FileIOError(description: "\(what): \(String(cString: strerror(err)))")
    }
}

func randomHexString(_ bytes: Int) -> String {
    var g = SystemRandomNumberGenerator()
    return (0..<bytes).map { _ in
        let b = UInt8.random(in: 0...255, using: &g)
        return String(b >> 4, radix: 16) + String(b & 0xf, radix: 16)
    }.joined()
}
