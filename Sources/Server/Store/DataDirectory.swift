public import Cron
public import Foundation
import GRDB
#if canImport(Glibc)
import Glibc
#endif

/// The data directory's layout: `harborguard.db`, `keys/keyring.json`, `cache/`,
/// `vulndb.sqlite`, `initial-admin-key`. Created 0700 (files 0600).
public struct DataDirectory: Sendable {
    public let path: String

    public init(_ path: String) {
        self.path = (path as NSString).standardizingPath
    }

    public var databasePath: String { path + "/harborguard.db" }
    public var keysDir: String { path + "/keys" }
    public var cacheDir: String { path + "/cache" }
    public var vulnDBPath: String { path + "/vulndb.sqlite" }
    public var initialAdminKeyPath: String { path + "/initial-admin-key" }

    /// The keyring: `HARBORGUARD_KEK_FILE` when set, else `keys/keyring.json`.
    public var keyringPath: String {
        if let f = ProcessInfo.processInfo.environment["HARBORGUARD_KEK_FILE"], !f.isEmpty { return f }
        return keysDir + "/keyring.json"
    }

    public var exists: Bool { FileManager.default.fileExists(atPath: databasePath) }

    /// What `open` found or created.
    public struct Opened: Sendable {
        public var db: AppDatabase
        public var keyring: KeyringStore
        /// The admin API key, only when this call created the organization.
        public var initialAdminKey: String?
        public var orgId: String
    }

    /// Opens the data directory, creating the keyring, database and organization
    /// `default` (with one owner API key) on first use.
    public func open(createIfMissing: Bool = true, now: Date = Date()) throws -> Opened {
        let fm = FileManager.default
        try prepare(createIfMissing: createIfMissing, sqlite: true)
        if !fm.fileExists(atPath: keyringPath) {
            if fm.fileExists(atPath: databasePath) {
                // A database without its keyring: creating a new KEK would make every secret unreadable.
                throw KeyringError.unreadable(
                    path: keyringPath,
                    reason: "the database exists but the keyring is missing; restore the keyring (or set HARBORGUARD_KEK_FILE) before starting")
            }
            guard createIfMissing else { throw KeyringError.unreadable(path: keyringPath, reason: "missing") }
            try Keyring.generate(now: now).write(path: keyringPath)
        }
        let keyring = try KeyringStore(path: keyringPath)
        let db = try AppDatabase.open(path: databasePath)
        chmod(databasePath, 0o600)
        let (orgId, key) = try db.writer.write { db in try Self.bootstrapOrganization(db, now: now) }
        if let key {
            try FileIO.writeDurably(Data((key + "\n").utf8), to: initialAdminKeyPath, mode: 0o600)
        } else if try db.writer.read({ try Self.isSetUp($0) }) {
            // Opening happens once, before anything is served: synchronous on purpose.
            try deleteInitialAdminKey()
        }
        return Opened(db: db, keyring: keyring, initialAdminKey: key, orgId: orgId)
    }

    /// Opens the data directory with its database on PostgreSQL at `databaseURL` (nil: the
    /// embedded SQLite file, as `open`). The data directory keeps the keyring (or
    /// `HARBORGUARD_KEK_FILE` names it), the layer cache and the vulnerability database; every
    /// node on one PostgreSQL database needs the same keyring.
    public func open(databaseURL: String?, createIfMissing: Bool = true, now: Date = Date()) async throws -> Opened {
        guard let databaseURL else { return try open(createIfMissing: createIfMissing, now: now) }
        let fm = FileManager.default
        try prepare(createIfMissing: createIfMissing, sqlite: false)
        let db = try await AppDatabase.open(postgresURL: databaseURL)
        do {
            if !fm.fileExists(atPath: keyringPath) {
                // Another node (or a restore) set this database up: its secrets are sealed
                // with that keyring, and a new one would open none of them.
                if try await db.read({ try AccountRepository.organizationId($0, named: "default") }) != nil {
                    throw KeyringError.unreadable(
                        path: keyringPath,
                        reason: "the database is already set up but this node has no keyring; copy the keyring of the first node (or set HARBORGUARD_KEK_FILE) before starting")
                }
                guard createIfMissing else { throw KeyringError.unreadable(path: keyringPath, reason: "missing") }
                try Keyring.generate(now: now).write(path: keyringPath)
            }
            let keyring = try KeyringStore(path: keyringPath)
            let secrets = SecretStore(keyring: keyring)
            let (orgId, key) = try await db.write { db -> (String, String?) in
                // Every node proves its keyring against one sealed canary: a node started with
                // a different keyring refuses to run instead of sealing what others cannot open.
                if try secrets.open(owner: Self.keyringCheckOwner, in: db) == nil {
                    try secrets.seal(Data("harborguard keyring check".utf8), owner: Self.keyringCheckOwner, in: db)
                }
                return try Self.bootstrapOrganization(db, now: now)
            }
            if let key {
                try FileIO.writeDurably(Data((key + "\n").utf8), to: initialAdminKeyPath, mode: 0o600)
            } else if try await db.read({ try Self.isSetUp($0) }) {
                try deleteInitialAdminKey()
            }
            return Opened(db: db, keyring: keyring, initialAdminKey: key, orgId: orgId)
        } catch let e as SecretStore.SecretError {
            await db.close()
            throw KeyringError.unreadable(
                path: keyringPath,
                reason: "this keyring does not open the database's secrets (\(e)); every node needs the keyring of the first node")
        } catch KeyringError.unknownKEK(let id) {
            await db.close()
            throw KeyringError.unreadable(
                path: keyringPath,
                reason: "this keyring lacks the key \(id) that seals the database's secrets; every node needs the keyring of the first node")
        } catch {
            await db.close()
            throw error
        }
    }

    /// The installation's database for one task of a command: PostgreSQL at `databaseURL`
    /// (one connection), else this directory's SQLite file.
    public func openDatabase(databaseURL: String?) async throws -> AppDatabase {
        if let databaseURL { return try await AppDatabase.open(postgresURL: databaseURL, connections: 1) }
        return try AppDatabase.open(path: databasePath)
    }

    /// The data directory (0700) with its keys and cache directories, writable.
    private func prepare(createIfMissing: Bool, sqlite: Bool) throws {
        let fm = FileManager.default
        if !fm.fileExists(atPath: path) {
            guard createIfMissing else { throw FileIOError(description: "data directory \(path) does not exist") }
            try FileIO.makeDirectory(path, mode: 0o700)
        } else {
            try Self.requireWritable(path, what: "the data directory")
            if sqlite, fm.fileExists(atPath: databasePath) { try Self.requireWritable(databasePath, what: "the database") }
            chmod(path, 0o700)
        }
        try FileIO.makeDirectory(keysDir, mode: 0o700)
        try FileIO.makeDirectory(cacheDir, mode: 0o700)
    }

    /// The organization `default`, created with its owner API key on first use. Returns its
    /// id and the key when this call created it.
    static func bootstrapOrganization(_ db: any SQLConnection, now: Date) throws -> (String, String?) {
        if let existing = try AccountRepository.organizationId(db, named: "default") {
            return (existing, nil)
        }
        let orgId = IDs.make("org")
        try AccountRepository.insertOrganization(db, id: orgId, name: "default", createdAt: now)
        let token = try insertAPIKey(db, org: orgId, name: "initial-admin", role: .owner, createdBy: "system", now: now)
        try AuditRepository.append(
            db, AuditRecord(orgId: orgId, actor: "system", action: "organization.create", target: orgId, ip: nil, createdAt: now))
        return (orgId, token)
    }

    /// The secret every node on a shared database opens at start (PostgreSQL only).
    package static let keyringCheckOwner = "system:keyring-check"

    /// Whether someone has set the organization up: a user exists, or an API or sensor key
    /// other than the initial one.
    public static func isSetUp(_ db: any SQLConnection) throws -> Bool {
        try AccountRepository.isSetUp(db)
    }

    /// Deletes `initial-admin-key` once the organization is set up: the file is a bootstrap
    /// aid, and an owner key in plain text should not outlive the bootstrap. The key itself
    /// keeps working (revoke it with `DELETE /api/api-keys/{id}` when it is no longer needed).
    /// Returns true when the file is gone.
    @discardableResult
    public func retireInitialAdminKeyIfSetUp(_ db: AppDatabase) async throws -> Bool {
        guard FileManager.default.fileExists(atPath: initialAdminKeyPath) else { return true }
        guard try await db.read({ try Self.isSetUp($0) }) else { return false }
        try deleteInitialAdminKey()
        return true
    }

    private func deleteInitialAdminKey() throws {
        guard FileManager.default.fileExists(atPath: initialAdminKeyPath) else { return }
        if unlink(initialAdminKeyPath) != 0 && errno != ENOENT {
            throw FileIOError(description: "cannot delete \(initialAdminKeyPath): \(String(cString: strerror(errno)))")
        }
        FileIO.fsyncDirectory(of: initialAdminKeyPath)
    }

    /// Refuses a read-only data directory or database up front, with what to do, rather
    /// than start and then fail every write (root ignores file modes, not a read-only mount).
    static func requireWritable(_ path: String, what: String) throws {
        guard access(path, W_OK) != 0 else { return }
        let code = errno
        let reason = String(cString: strerror(code))
        let fix = code == EROFS ? "remount it read-write" : "make it writable by this user (chmod u+w)"
        throw FileIOError(description: "\(what) \(path) is not writable (\(reason)); harborguard needs to write it: \(fix), then start again")
    }

    /// Inserts an API key and returns the token (shown once).
    public static func insertAPIKey(
        _ db: any SQLConnection, org: String, name: String, role: Role, createdBy: String, now: Date, expiresAt: Date? = nil
    ) throws -> String {
        let token = Tokens.generate(prefix: Tokens.apiKeyPrefix)
        let id = IDs.make("key")
        try AccountRepository.insertKey(
            db,
            APIKeyRecord(
                id: id, orgId: org, kind: .api, name: name, token: token, role: role, createdBy: createdBy, createdAt: now,
                expiresAt: expiresAt))
        try AuditRepository.append(db, AuditRecord(orgId: org, actor: createdBy, action: "api_key.create", target: id, ip: nil, createdAt: now))
        return token
    }
}
