public import Foundation
import Cron
import GRDB
public import Store

/// Small operator tasks on a data directory.
public enum AdminTasks {
    public struct AdminError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Creates an API key in organization `default`; returns the token (shown once).
    public static func createAPIKey(
        dataDir: DataDirectory, databaseURL: String? = nil, name: String, role: Role, expiresAt: Date?
    ) async throws -> String {
        let opened = try await dataDir.open(databaseURL: databaseURL, createIfMissing: false)
        let orgId = opened.orgId
        return try await opened.db.closing { app in
            let key = try await app.write { db in
                try DataDirectory.insertAPIKey(
                    db, org: orgId, name: name, role: role, createdBy: "admin-cli", now: Date(), expiresAt: expiresAt)
            }
            try await dataDir.retireInitialAdminKeyIfSetUp(app)
            return key
        }
    }

    /// Creates a user in organization `default`; returns the user id.
    public static func createUser(
        dataDir: DataDirectory, databaseURL: String? = nil, username: String, password: String, role: Role, cost: UInt8
    ) async throws -> String {
        let opened = try await dataDir.open(databaseURL: databaseURL, createIfMissing: false)
        let orgId = opened.orgId
        return try await opened.db.closing { app in
            let hash = try await Passwords.hash(password, cost: cost)
            let id = IDs.make("usr")
            let now = Date()
            try await app.write { db in
                if try AccountRepository.usernameExists(db, username) {
                    throw AdminError(description: "a user named '\(username)' already exists")
                }
                try AccountRepository.insertUser(
                    db, UserRecord(id: id, orgId: orgId, username: username, name: nil, passwordHash: hash, role: role, now: now))
                try AuditRepository.append(db, AuditRecord(orgId: orgId, actor: "admin-cli", action: "member.create", target: id, ip: nil, createdAt: now))
            }
            try await dataDir.retireInitialAdminKeyIfSetUp(app)
            return id
        }
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

    /// Runs SQLite's integrity check (on PostgreSQL: that the database answers) and opens
    /// every sealed secret with the current keyring.
    public static func run(dataDir: DataDirectory, databaseURL: String? = nil) async throws -> Report {
        let opened = try await dataDir.open(databaseURL: databaseURL, createIfMissing: false)
        let store = SecretStore(keyring: opened.keyring)
        return try await opened.db.closing { app in
            try await app.read { db in
                let integrity = try db.grdb.map(AppDatabase.integrityCheck) ?? (try db.int("SELECT 1") == 1 ? "ok" : "no answer")
                let (secrets, bad) = try store.unreadable(in: db)
                return Report(
                    integrity: integrity, secrets: secrets, unreadable: bad.map { "\($0.owner): \($0.error)" },
                    keyringPath: dataDir.keyringPath)
            }
        }
    }
}
