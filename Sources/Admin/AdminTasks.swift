public import Foundation
import GRDB
public import Server

/// Small operator tasks on a data directory.
public enum AdminTasks {
    public struct AdminError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Creates an API key in organization `default`; returns the token (shown once).
    public static func createAPIKey(dataDir: DataDirectory, name: String, role: Role, expiresAt: Date?) async throws -> String {
        let opened = try dataDir.open(createIfMissing: false)
        return try await opened.db.writer.write { db in
            try DataDirectory.insertAPIKey(
                db, org: opened.orgId, name: name, role: role, createdBy: "admin-cli", now: Date(), expiresAt: expiresAt)
        }
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
            if try Bool.fetchOne(db, sql: "SELECT 1 FROM users WHERE username = ?", arguments: [username]) == true {
                throw AdminError(description: "a user named '\(username)' already exists")
            }
            let ts = RFC3339.string(now)
            try db.execute(
                sql: """
                    INSERT INTO users (id, org_id, username, password_hash, role, created_at, updated_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [id, opened.orgId, username, hash, role.rawValue, ts, ts])
            try AppServices.audit(db, org: opened.orgId, actor: "admin-cli", action: "member.create", target: id, ip: nil, now: now)
        }
        return id
    }
}
