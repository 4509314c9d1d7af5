import Foundation
import GRDB

/// rpm: the sqlite rpmdb (`var/lib/rpm/rpmdb.sqlite`, also `usr/lib/sysimage/rpm/`), whose
/// `Packages` table holds rpm header blobs. Berkeley DB and NDB databases are noted as
/// unsupported rather than silently ignored.
public struct RpmDetector: PackageDetector {
    public init() {}
    public var name: String { "rpm" }

    static let sqlitePaths: Set<String> = ["var/lib/rpm/rpmdb.sqlite", "usr/lib/sysimage/rpm/rpmdb.sqlite"]
    static let legacyPaths: Set<String> = [
        "var/lib/rpm/Packages", "var/lib/rpm/Packages.db", "usr/lib/sysimage/rpm/Packages",
        "usr/lib/sysimage/rpm/Packages.db",
    ]

    public func interest(in path: String, size: Int64, executable: Bool) -> FileInterest? {
        if Self.sqlitePaths.contains(path) { return .binary }
        if Self.legacyPaths.contains(path) { return .presence }
        return nil
    }

    public func detect(path: String, contents: [UInt8]) throws -> DetectorResult {
        if Self.legacyPaths.contains(path) {
            let format = path.hasSuffix(".db") ? "NDB" : "Berkeley DB"
            return DetectorResult(notes: ["\(path): \(format) rpm database is not supported; rpm packages not listed"])
        }
        // SQLite reads files, not memory: this one database goes through a private temp file.
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("harborguard-rpmdb-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("rpmdb.sqlite")
        try Data(contents).write(to: file)
        var configuration = Configuration()
        configuration.readonly = true
        let blobs: [Data]
        do {
            let queue = try DatabaseQueue(path: file.path, configuration: configuration)
            blobs = try queue.read { db in try Data.fetchAll(db, sql: "SELECT blob FROM Packages") }
            try queue.close()
        } catch {
            throw DetectorError("\(path): cannot read sqlite rpmdb: \(error)")
        }
        var packages: [InstalledPackage] = []
        var notes: [String] = []
        for blob in blobs {
            do {
                guard let header = try RpmHeader(blob: [UInt8](blob)) else { continue }
                packages.append(header.package(path: path))
            } catch {
                notes.append("\(path): skipped a malformed rpm header: \(error)")
            }
        }
        return DetectorResult(packages: packages, notes: notes)
    }
}

/// The fields harborguard needs from an rpm header blob (the "header" structure without its
/// 8-byte magic, as rpm stores it in its databases): big-endian index count and data length,
/// 16-byte index entries (tag, type, offset, count), then the data store.
struct RpmHeader: Sendable, Hashable {
    var name: String
    var version: String
    var release: String
    var epoch: Int?
    var arch: String?
    var sourceRPM: String?

    private enum Tag: UInt32 {
        case name = 1000, version = 1001, release = 1002, epoch = 1003, arch = 1022, sourceRPM = 1044
    }

    /// Returns nil for pseudo-packages (gpg-pubkey) that are not software.
    init?(blob: [UInt8]) throws {
        func be32(_ at: Int) throws -> UInt32 {
            guard at >= 0, at + 4 <= blob.count else { throw DetectorError("header truncated") }
            return UInt32(blob[at]) << 24 | UInt32(blob[at + 1]) << 16 | UInt32(blob[at + 2]) << 8 | UInt32(blob[at + 3])
        }
        let indexCount = Int(try be32(0))
        let dataLength = Int(try be32(4))
        guard indexCount > 0, indexCount < 100_000, dataLength < 256 << 20 else {
            throw DetectorError("implausible header sizes")
        }
        let dataStart = 8 + indexCount * 16
        guard dataStart + dataLength <= blob.count else { throw DetectorError("header truncated") }
        var strings: [Tag: String] = [:]
        var epoch: Int?
        for i in 0..<indexCount {
            let entry = 8 + i * 16
            guard let tag = Tag(rawValue: try be32(entry)) else { continue }
            let type = try be32(entry + 4)
            let offset = Int(try be32(entry + 8))
            guard offset < dataLength else { throw DetectorError("tag \(tag.rawValue) points outside the data") }
            let start = dataStart + offset
            switch type {
            case 6, 8, 9:  // STRING, STRING_ARRAY, I18NSTRING: first NUL-terminated string
                let end = blob[start..<(dataStart + dataLength)].firstIndex(of: 0) ?? (dataStart + dataLength)
                strings[tag] = String(decoding: blob[start..<end], as: UTF8.self)
            case 4 where tag == .epoch:  // INT32
                epoch = Int(try be32(start))
            default:
                continue
            }
        }
        guard let name = strings[.name], let version = strings[.version] else {
            throw DetectorError("header without NAME or VERSION")
        }
        if name == "gpg-pubkey" { return nil }
        self.name = name
        self.version = version
        self.release = strings[.release] ?? ""
        self.epoch = epoch
        self.arch = strings[.arch]
        self.sourceRPM = strings[.sourceRPM]
    }

    /// `[epoch:]version-release`, the form rpm's own comparisons use.
    var fullVersion: String {
        let base = release.isEmpty ? version : "\(version)-\(release)"
        if let epoch, epoch != 0 { return "\(epoch):\(base)" }
        return base
    }

    /// The source package name and version from `SOURCERPM` (`name-version-release.src.rpm`).
    var source: (name: String, version: String)? {
        guard var file = sourceRPM, file.hasSuffix(".rpm") else { return nil }
        file.removeLast(4)
        if let dot = file.lastIndex(of: "."), file[file.index(after: dot)...].allSatisfy({ $0.isLetter }) {
            file = String(file[..<dot])
        }
        let parts = file.split(separator: "-")
        guard parts.count >= 3 else { return nil }
        let name = parts.dropLast(2).joined(separator: "-")
        let version = parts.suffix(2).joined(separator: "-")
        return (name, epoch.map { $0 != 0 ? "\($0):\(version)" : version } ?? version)
    }

    func package(path: String) -> InstalledPackage {
        var package = InstalledPackage(
            name: name, version: fullVersion, type: .rpm, purl: "", path: path,
            sourceName: source?.name, sourceVersion: source?.version)
        package.purl = PackageURL.osPackage(package, os: nil, arch: arch, epoch: epoch.map { String($0) })
        return package
    }
}
