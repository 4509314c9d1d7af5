import Crypto
import _CryptoExtras
import Foundation
import GRDB
public import Store
import Cron
#if canImport(Glibc)
import Glibc
#endif

/// Failures a user sees from backup and restore.
public enum BackupError: Error, CustomStringConvertible {
    case notABackup
    case unsupportedVersion(Int)
    case truncated
    case tampered
    case needsKeyring(kekId: String)
    case wrongPassphrase
    case unsafeKDFParameter(String)
    case targetNotEmpty(String)
    case io(String)

    public var description: String {
        switch self {
        case .notABackup: "the file is not a harborguard backup"
        case .unsupportedVersion(let v): "backup format version \(v) is not supported by this build"
        case .truncated: "the backup is truncated (its last block is missing); it cannot be restored"
        case .tampered: "the backup failed authentication: it is corrupt or was modified"
        case .needsKeyring(let id):
            "the backup's key is wrapped by KEK \(id), which is not in the keyring; pass --keyring FILE with that KEK, or use a backup made with --passphrase-file"
        case .wrongPassphrase: "the passphrase does not open this backup"
        case .unsafeKDFParameter(let what):
            "the backup's header asks for scrypt \(what); harborguard writes n=\(Backup.scryptN), r=\(Backup.scryptR), p=\(Backup.scryptP) and refuses anything costlier (the header was modified or the file is not from harborguard)"
        case .targetNotEmpty(let p): "\(p) already holds a database; restore into an empty data directory"
        case .io(let m): m
        }
    }
}

/// An encrypted, authenticated, online backup of the data directory's database.
///
/// Layout: `HGBACKUP` magic, a big-endian u32 header length and a JSON header, then
/// blocks of `[u32 length][AES-GCM sealed box]`. Each block authenticates the header's
/// SHA-256, its index and whether it is the last one, so a flipped byte, a reordered
/// block or a truncated file is refused. The payload key is wrapped by the KEK, and with
/// a passphrase also by a scrypt-derived key that additionally seals the keyring.
public enum Backup {
    static let magic = Data("HGBACKUP".utf8)
    static let blockSize = 1 << 20

    struct Header: Codable {
        var version: Int
        var createdAt: String
        var kekId: String
        var wrappedKey: String
        var passphrase: Passphrase?

        struct Passphrase: Codable {
            var salt: String
            var n: Int
            var r: Int
            var p: Int
            var wrappedKey: String
            var sealedKeyring: String
        }
    }

    /// The scrypt cost `create` writes (32 MiB of memory: 128 · n · r bytes).
    static let (scryptN, scryptR, scryptP) = (1 << 15, 8, 1)

    /// The header is not authenticated until its key is derived, so its scrypt parameters are
    /// bounded first: nothing costlier than what `create` writes, n a power of two, a salt of
    /// 16-64 bytes. Lower costs only make a wrong guess fail sooner.
    static func checkKDFParameters(_ pp: Header.Passphrase, salt: Data) throws {
        if pp.n < 2 || pp.n > scryptN || pp.n & (pp.n - 1) != 0 {
            throw BackupError.unsafeKDFParameter("n=\(pp.n) (must be a power of two, at most \(scryptN))")
        }
        if pp.r < 1 || pp.r > scryptR { throw BackupError.unsafeKDFParameter("r=\(pp.r) (must be 1-\(scryptR))") }
        if pp.p < 1 || pp.p > scryptP { throw BackupError.unsafeKDFParameter("p=\(pp.p) (must be \(scryptP))") }
        if !(16...64).contains(salt.count) { throw BackupError.unsafeKDFParameter("a \(salt.count)-byte salt (must be 16-64 bytes)") }
    }

    static func passphraseKey(_ passphrase: String, salt: Data, n: Int, r: Int, p: Int) throws -> SymmetricKey {
        try KDF.Scrypt.deriveKey(
            from: Data(passphrase.utf8), salt: salt, outputByteCount: 32, rounds: n, blockSize: r, parallelism: p,
            maxMemory: 256 << 20)
    }

    static func aad(headerHash: Data, index: UInt64, final: Bool) -> Data {
        var d = headerHash
        withUnsafeBytes(of: index.bigEndian) { d.append(contentsOf: $0) }
        d.append(final ? 1 : 0)
        return d
    }

    static let snapshotPrefix = ".backup-snapshot-"

    /// Test hook: `HARBORGUARD_FAULT=backup:<step>` kills the process with SIGKILL at that
    /// step (`after-snapshot`; `mid-write`: half of the first block written), so the crash
    /// tests can interrupt a backup.
    static func fault(_ step: String) {
        if faultRequested(step) { kill(getpid(), SIGKILL) }
    }

    static func faultRequested(_ step: String) -> Bool {
        ProcessInfo.processInfo.environment["HARBORGUARD_FAULT"] == "backup:\(step)"
    }

    /// Removes snapshots left in the data directory by backups that were killed (their
    /// process is gone); a running backup's snapshot is left alone.
    static func removeStaleSnapshots(in dataDir: DataDirectory) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dataDir.path) else { return }
        for name in names where name.hasPrefix(snapshotPrefix) && name.hasSuffix(".db") {
            let pid = name.dropFirst(snapshotPrefix.count).dropLast(3)
            guard let pid = pid_t(pid), pid > 0 else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH { unlink(dataDir.path + "/" + name) }
        }
    }

    /// "disk full (ENOSPC)" for a write that failed for lack of space, else the error.
    static func reason(_ error: any Error) -> String {
        let ns = error as NSError
        let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError
        if (ns.domain == NSPOSIXErrorDomain && ns.code == Int(ENOSPC))
            || (underlying?.domain == NSPOSIXErrorDomain && underlying?.code == Int(ENOSPC))
            || (error as? CocoaError)?.code == .fileWriteOutOfSpace
        {
            return "disk full (ENOSPC)"
        }
        if ns.domain == NSPOSIXErrorDomain, let code = POSIXErrorCode(rawValue: Int32(ns.code)) {
            return String(cString: strerror(code.rawValue))
        }
        return error.localizedDescription
    }

    /// Writes a consistent snapshot of the data (a logical export read in one transaction, safe
    /// while the server runs) to `out`, encrypted. The file appears at `out` only when complete
    /// and synced; a failed or killed backup leaves at most `out.partial`, never a file at `out`.
    /// Returns the bytes of the export.
    public static func create(dataDir: DataDirectory, databaseURL: String? = nil, out: String, passphrase: String?) async throws -> Int {
        let ring = try Keyring.load(path: dataDir.keyringPath)
        let (kekId, kek) = try ring.primaryKey()
        removeStaleSnapshots(in: dataDir)
        let snapshot = dataDir.path + "/" + snapshotPrefix + "\(getpid()).db"
        unlink(snapshot)
        defer { unlink(snapshot) }
        do {
            guard FileManager.default.createFile(atPath: snapshot, contents: nil, attributes: [.posixPermissions: 0o600]),
                  let file = FileHandle(forWritingAtPath: snapshot)
            else { throw BackupError.io("snapshot failed: cannot create \(snapshot)") }
            do {
                if let databaseURL {
                    try await exportPostgres(url: databaseURL, to: file)
                } else {
                    var config = Configuration()
                    config.busyMode = .timeout(10)
                    let queue = try DatabaseQueue(path: dataDir.databasePath, configuration: config)
                    _ = try await queue.read { db in try LogicalExport.export(sqlite: db) { try file.write(contentsOf: $0) } }
                    try queue.close()
                }
                try file.synchronize()
                try file.close()
            } catch {
                try? file.close()
                throw error
            }
        } catch let e as BackupError {
            throw e
        } catch let e as DatabaseError {
            throw BackupError.io("snapshot failed: \(e.message ?? "\(e.resultCode)")")
        } catch {
            let why = reason(error)
            if why.hasPrefix("disk full") {
                throw BackupError.io("snapshot failed: disk full (ENOSPC) in the data directory \(dataDir.path): the snapshot needs room for a copy of the data; no backup was written")
            }
            throw BackupError.io("snapshot failed: \(why); no backup was written")
        }
        chmod(snapshot, 0o600)
        fault("after-snapshot")
        let payloadKey = SymmetricKey(size: .bits256)
        let keyBytes = payloadKey.withUnsafeBytes { Data($0) }
        let created = RFC3339.string(Date())
        var header = Header(
            version: 2, createdAt: created, kekId: kekId,
            wrappedKey: try AES.GCM.seal(keyBytes, using: kek, authenticating: Data("backup-key:\(kekId)".utf8))
                .combined!.base64EncodedString(),
            passphrase: nil)
        if let passphrase {
            var salt = Data(count: 16)
            salt.withUnsafeMutableBytes { raw in
                var g = SystemRandomNumberGenerator()
                for i in 0..<raw.count { raw[i] = UInt8.random(in: 0...255, using: &g) }
            }
            let (n, r, p) = (scryptN, scryptR, scryptP)
            let pk = try passphraseKey(passphrase, salt: salt, n: n, r: r, p: p)
            let keyringJSON = try JSONEncoder().encode(ring)
            header.passphrase = .init(
                salt: salt.base64EncodedString(), n: n, r: r, p: p,
                wrappedKey: try AES.GCM.seal(keyBytes, using: pk, authenticating: Data("backup-key:passphrase".utf8))
                    .combined!.base64EncodedString(),
                sealedKeyring: try AES.GCM.seal(keyringJSON, using: pk, authenticating: Data("backup-keyring".utf8))
                    .combined!.base64EncodedString())
        }
        let headerData = try JSONEncoder().encode(header)
        let headerHash = Data(SHA256.hash(data: headerData))
        guard let input = FileHandle(forReadingAtPath: snapshot) else { throw BackupError.io("cannot read snapshot") }
        defer { try? input.close() }
        let tmp = out + ".partial"
        guard FileManager.default.createFile(atPath: tmp, contents: nil, attributes: [.posixPermissions: 0o600]),
              let output = FileHandle(forWritingAtPath: tmp)
        else { throw BackupError.io("cannot create \(tmp)") }
        var total = 0
        do {
            var head = magic
            withUnsafeBytes(of: UInt32(headerData.count).bigEndian) { head.append(contentsOf: $0) }
            head.append(headerData)
            try output.write(contentsOf: head)
            var index: UInt64 = 0
            var block = try input.read(upToCount: blockSize) ?? Data()
            while true {
                let next = try input.read(upToCount: blockSize) ?? Data()
                let final = next.isEmpty
                let sealed = try AES.GCM.seal(
                    block, using: payloadKey, authenticating: aad(headerHash: headerHash, index: index, final: final)
                ).combined!
                var frame = Data()
                withUnsafeBytes(of: UInt32(sealed.count).bigEndian) { frame.append(contentsOf: $0) }
                frame.append(sealed)
                if index == 0, faultRequested("mid-write") {
                    // Half of the first block on disk, as when the process dies inside a write.
                    try output.write(contentsOf: frame.prefix(frame.count / 2))
                    try output.synchronize()
                    fault("mid-write")
                }
                try output.write(contentsOf: frame)
                total += block.count
                if final { break }
                block = next
                index += 1
            }
            try output.synchronize()
            try output.close()
        } catch {
            try? output.close()
            unlink(tmp)
            throw BackupError.io("writing \(out) failed: \(reason(error)); no backup was written")
        }
        guard rename(tmp, out) == 0 else {
            unlink(tmp)
            throw BackupError.io("cannot move the backup into place at \(out): \(String(cString: strerror(errno)))")
        }
        FileIO.fsyncDirectory(of: out)
        return total
    }

    /// What a restore put where.
    public struct RestoreReport: Sendable {
        /// The backup's format: 1 a SQLite file image, 2 a logical export.
        public var format: Int
        /// Rows restored per table (format 2).
        public var counts: [String: Int]
        /// Secrets that were opened with the keyring after the restore.
        public var secretsVerified: Int
        public var target: String
    }

    /// Decrypts and checks a backup, then installs its data (and, with a passphrase, its
    /// keyring) into an empty data directory, or with `database` into an empty PostgreSQL
    /// database (the keyring still goes to the data directory). Every stored secret is opened
    /// with the keyring before the restore commits.
    @discardableResult
    public static func restore(
        input path: String, dataDir: DataDirectory, passphrase: String?, keyringFile: String?, database: String? = nil
    ) async throws -> RestoreReport {
        guard let data = FileManager.default.contents(atPath: path) else { throw BackupError.io("cannot read \(path)") }
        guard data.count >= magic.count + 4, data.prefix(magic.count) == magic else { throw BackupError.notABackup }
        var offset = magic.count
        func u32() throws -> Int {
            guard data.count >= offset + 4 else { throw BackupError.truncated }
            let v = data[data.startIndex + offset..<data.startIndex + offset + 4].reduce(0) { $0 << 8 | Int($1) }
            offset += 4
            return v
        }
        let headerLen = try u32()
        guard headerLen < 1 << 20, data.count >= offset + headerLen else { throw BackupError.truncated }
        let headerData = data[data.startIndex + offset..<data.startIndex + offset + headerLen]
        offset += headerLen
        let header: Header
        do {
            header = try JSONDecoder().decode(Header.self, from: headerData)
        } catch {
            throw BackupError.tampered
        }
        guard header.version == 1 || header.version == 2 else { throw BackupError.unsupportedVersion(header.version) }
        if header.version == 1, database != nil {
            throw BackupError.io(
                "this backup (format 1) is a SQLite file image: restore it into a data directory, then make a new backup there to move it to PostgreSQL")
        }
        let headerHash = Data(SHA256.hash(data: headerData))

        var keyring: Keyring?
        let payloadKey: SymmetricKey
        if let passphrase, let pp = header.passphrase {
            guard let salt = Data(base64Encoded: pp.salt), let wrapped = Data(base64Encoded: pp.wrappedKey),
                  let sealedRing = Data(base64Encoded: pp.sealedKeyring)
            else { throw BackupError.tampered }
            try checkKDFParameters(pp, salt: salt)
            let pk = try passphraseKey(passphrase, salt: salt, n: pp.n, r: pp.r, p: pp.p)
            do {
                payloadKey = SymmetricKey(
                    data: try AES.GCM.open(
                        AES.GCM.SealedBox(combined: wrapped), using: pk, authenticating: Data("backup-key:passphrase".utf8)))
                keyring = try JSONDecoder().decode(
                    Keyring.self,
                    from: try AES.GCM.open(
                        AES.GCM.SealedBox(combined: sealedRing), using: pk, authenticating: Data("backup-keyring".utf8)))
            } catch {
                throw BackupError.wrongPassphrase
            }
        } else {
            let ringPath = keyringFile ?? dataDir.keyringPath
            guard let ring = try? Keyring.load(path: ringPath), let kek = try? ring.symmetricKey(header.kekId),
                  let wrapped = Data(base64Encoded: header.wrappedKey)
            else { throw BackupError.needsKeyring(kekId: header.kekId) }
            do {
                payloadKey = SymmetricKey(
                    data: try AES.GCM.open(
                        AES.GCM.SealedBox(combined: wrapped), using: kek,
                        authenticating: Data("backup-key:\(header.kekId)".utf8)))
            } catch {
                throw BackupError.tampered
            }
            keyring = ring
        }

        // Decrypt every block before touching the target: nothing is written from a bad file.
        var plain = Data()
        var index: UInt64 = 0
        var sawFinal = false
        while offset < data.count {
            let len = try u32()
            guard len > 28, data.count >= offset + len else { throw BackupError.truncated }
            let box = data[data.startIndex + offset..<data.startIndex + offset + len]
            offset += len
            let isLast = offset == data.count
            do {
                plain.append(
                    try AES.GCM.open(
                        AES.GCM.SealedBox(combined: box), using: payloadKey,
                        authenticating: aad(headerHash: headerHash, index: index, final: isLast)))
            } catch {
                // A block that verifies as non-final but is last means the rest was cut off.
                if isLast,
                   (try? AES.GCM.open(
                       AES.GCM.SealedBox(combined: box), using: payloadKey,
                       authenticating: aad(headerHash: headerHash, index: index, final: false))) != nil
                {
                    throw BackupError.truncated
                }
                throw BackupError.tampered
            }
            sawFinal = isLast
            index += 1
        }
        guard sawFinal else { throw BackupError.truncated }
        let payload = plain

        if let database {
            return try await restore(export: payload, postgres: database, dataDir: dataDir, keyring: keyring)
        }
        if FileManager.default.fileExists(atPath: dataDir.databasePath) {
            throw BackupError.targetNotEmpty(dataDir.databasePath)
        }
        try FileIO.makeDirectory(dataDir.path, mode: 0o700)
        try FileIO.makeDirectory(dataDir.keysDir, mode: 0o700)
        if let keyring, !FileManager.default.fileExists(atPath: dataDir.keyringPath) {
            try keyring.write(path: dataDir.keyringPath)
        }
        if header.version == 1 {
            try FileIO.writeDurably(payload, to: dataDir.databasePath, mode: 0o600)
        }
        do {
            // Opening creates (format 2) or checks and upgrades (format 1) the database.
            let db = try AppDatabase.open(path: dataDir.databasePath)
            let store = SecretStore(keyring: try KeyringStore(path: dataDir.keyringPath))
            let (counts, verified) = try await db.writer.write { db in
                let counts = header.version == 2
                    ? try LogicalExport.import(payload, into: db.sql, knownMigrations: Migrations.identifiers).counts : [:]
                return (counts, try verifySecrets(store, in: db.sql))
            }
            let ok = try await db.writer.read { db in try AppDatabase.integrityCheck(db) }
            guard ok == "ok" else { throw BackupError.io("the restored database failed its integrity check: \(ok)") }
            return RestoreReport(format: header.version, counts: counts, secretsVerified: verified, target: dataDir.databasePath)
        } catch {
            // Nothing half-restored stays behind to be mistaken for a database.
            for suffix in ["", "-wal", "-shm"] { unlink(dataDir.databasePath + suffix) }
            throw error
        }
    }

    /// A logical export into an empty PostgreSQL database, migrated first; one transaction.
    static func restore(export: Data, postgres url: String, dataDir: DataDirectory, keyring: Keyring?) async throws
        -> RestoreReport
    {
        let db = try PostgreSQLDatabase(url: url, connections: 1)
        defer { Task { await db.close() } }
        try await PostgresMigrator.migrate(db, Migrations.postgres)
        try FileIO.makeDirectory(dataDir.path, mode: 0o700)
        try FileIO.makeDirectory(dataDir.keysDir, mode: 0o700)
        if let keyring, !FileManager.default.fileExists(atPath: dataDir.keyringPath) {
            try keyring.write(path: dataDir.keyringPath)
        }
        let store = SecretStore(keyring: try KeyringStore(path: dataDir.keyringPath))
        let target = db.target.description
        let (counts, verified) = try await db.write { c in
            let tables = try LogicalExport.targetColumnTypes(c).keys.filter { !LogicalExport.skipped.contains($0) }
            for (table, n) in try LogicalExport.counts(c, tables: tables.sorted()) where n > 0 {
                throw BackupError.targetNotEmpty("\(target) (its \(table) table has \(n) rows)")
            }
            let counts = try LogicalExport.import(export, into: c, knownMigrations: Migrations.identifiers).counts
            // The audit log's sequence continues after the restored entries.
            _ = try c.query(
                "SELECT setval(pg_get_serial_sequence('audit_log', 'seq'), (SELECT COALESCE(MAX(seq), 0) + 1 FROM audit_log), false)", [])
            return (counts, try verifySecrets(store, in: c))
        }
        await db.close()
        return RestoreReport(format: 2, counts: counts, secretsVerified: verified, target: target)
    }

    /// A PostgreSQL database's export, in this build's table order (its SQLite schema's, the
    /// same tables), written to `file` from one read-only snapshot.
    static func exportPostgres(url: String, to file: FileHandle) async throws {
        let db = try PostgreSQLDatabase(url: url, connections: 1)
        do {
            let reference = try AppDatabase.inMemory()
            let tables = try await reference.writer.read { try LogicalExport.sqliteTables($0) }
            let known = Set(Migrations.postgres.map(\.id))
            let applied = try await db.read { c in try c.strings("SELECT id FROM schema_migrations ORDER BY id") }
            let newer = applied.filter { !known.contains($0) }
            guard newer.isEmpty else {
                throw BackupError.io(
                    "the database has schema steps this build does not know (\(newer.joined(separator: ", "))): back it up with the harborguard that runs it")
            }
            guard applied.count == known.count else {
                throw BackupError.io("the database is not migrated to this build's schema: start a node of this version on it first")
            }
            _ = try await db.read { c in
                try LogicalExport.export(c, tables: tables, migrations: Migrations.identifiers) { try file.write(contentsOf: $0) }
            }
            await db.close()
        } catch {
            await db.close()
            throw error
        }
    }

    /// Opens every stored secret with the keyring: a restore whose secrets do not open is
    /// refused (the wrong keyring, or a damaged backup), not committed.
    static func verifySecrets(_ store: SecretStore, in db: any SQLConnection) throws -> Int {
        let (secrets, unreadable) = try store.unreadable(in: db)
        guard unreadable.isEmpty else {
            throw BackupError.io(
                "\(unreadable.count) of \(secrets) secrets do not open with the keyring (\(unreadable.prefix(3).map(\.owner).joined(separator: ", "))): pass --keyring with the KEK the backup's data was sealed under")
        }
        return secrets
    }
}
