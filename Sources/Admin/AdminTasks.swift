public import Foundation
import GRDB
public import Store

/// Small operator tasks on a data directory.
public enum AdminTasks {
    public struct AdminError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Creates an API key in organization `default`; returns the token (shown once).
    public static func createAPIKey(dataDir: DataDirectory, name: String, role: Role, expiresAt: Date?) async throws -> String {
        let opened = try dataDir.open(createIfMissing: false)
        let key = try await opened.db.writer.write { db in
            try DataDirectory.insertAPIKey(
                db, org: opened.orgId, name: name, role: role, createdBy: "admin-cli", now: Date(), expiresAt: expiresAt)
        }
        try await dataDir.retireInitialAdminKeyIfSetUp(opened.db)
        return key
    }

    /// Creates a user in organization `default`; returns the user id.
    public static func createUser(dataDir: DataDirectory, username: String, password: String, role: Role, cost: UInt8)
        async throws -> String
    {
        let opened = try dataDir.open(createIfMissing: false)
        let hash = try await Passwords.hash(password, cost: cost)
        let id = IDs.make("usr")
        let now = Date()
        try await opened.db.writer.write { db in
            if try AccountRepository.usernameExists(db, username) {
                throw AdminError(description: "a user named '\(username)' already exists")
            }
            try AccountRepository.insertUser(
                db, UserRecord(id: id, orgId: opened.orgId, username: username, name: nil, passwordHash: hash, role: role, now: now))
            try AuditRepository.append(db, AuditRecord(orgId: opened.orgId, actor: "admin-cli", action: "member.create", target: id, ip: nil, createdAt: now))
        }
        try await dataDir.retireInitialAdminKeyIfSetUp(opened.db)
        return id
    }
}

/// `admin check`: what an operator runs after a restore, a rotation or a crash.
public enum HealthCheck {
    public struct Report: Sendable {
        public var integrity: String
        public var secrets: Int
        public var unreadable: [String]
        public var keyringPath: String
        public var ok: Bool { integrity == "ok" && unreadable.isEmpty }
    }

    /// Runs SQLite's integrity check and opens every sealed secret with the current keyring.
    public static func run(dataDir: DataDirectory) throws -> Report {
        let opened = try dataDir.open(createIfMissing: false)
        let store = SecretStore(keyring: opened.keyring)
        return try opened.db.writer.read { db in
            let integrity = try AppDatabase.integrityCheck(db)
            let (secrets, bad) = try store.unreadable(in: db)
            return Report(
                integrity: integrity, secrets: secrets, unreadable: bad.map { "\($0.owner): \($0.error)" },
                keyringPath: dataDir.keyringPath)
        }
    }
}
