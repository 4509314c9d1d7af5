import Cron
package import Foundation
package import GRDB

/// The accounts aggregate: organizations, API keys (organization, sensor and personal access
/// tokens), users and sessions. Every function runs inside the caller's transaction (`db`),
/// so a route can change an account and append to the audit log atomically.
package enum AccountRepository {
    // MARK: Organizations

    package struct OrganizationSummary: Sendable {
        package var id: String
        package var name: String
        package var createdAt: String
        package var registryCount: Int
        package var memberCount: Int
    }

    package static func organizationSummary(_ db: Database, id: String) throws -> OrganizationSummary? {
        try Row.fetchOne(
            db,
            sql: """
                SELECT o.id, o.name, o.created_at,
                  (SELECT COUNT(*) FROM registries r WHERE r.org_id = o.id) AS registries,
                  (SELECT COUNT(*) FROM users u WHERE u.org_id = o.id) AS members
                FROM organizations o WHERE o.id = ?
                """,
            arguments: [id]
        ).map { row in
            OrganizationSummary(
                id: row["id"], name: row["name"], createdAt: row["created_at"], registryCount: row["registries"],
                memberCount: row["members"])
        }
    }

    package static func organizationIds(_ db: Database) throws -> [String] {
        try String.fetchAll(db, sql: "SELECT id FROM organizations")
    }

    /// The id of the organization named `name` (the appliance has one, `default`).
    package static func organizationId(_ db: Database, named name: String) throws -> String? {
        try String.fetchOne(db, sql: "SELECT id FROM organizations WHERE name = ?", arguments: [name])
    }

    package static func insertOrganization(_ db: Database, id: String, name: String, createdAt: Date) throws {
        try db.execute(
            sql: "INSERT INTO organizations (id, name, created_at) VALUES (?, ?, ?)",
            arguments: [id, name, Timestamp.format(createdAt)])
    }

    /// Whether someone has set the organization up: a user exists, or an API or sensor key
    /// other than the ones the system made.
    package static func isSetUp(_ db: Database) throws -> Bool {
        try Bool.fetchOne(
            db,
            sql: """
                SELECT EXISTS (SELECT 1 FROM users)
                    OR EXISTS (SELECT 1 FROM api_keys WHERE created_by IS NULL OR created_by <> 'system')
                """
        ) ?? false
    }

    // MARK: API keys and personal access tokens

    /// The one way a key of any kind is stored.
    package static func insertKey(_ db: Database, _ key: APIKeyRecord) throws {
        try key.insert(db)
    }

    package static func key(_ db: Database, id: String) throws -> APIKeyRecord? {
        try APIKeyRecord.fetchOne(db, sql: "SELECT * FROM api_keys WHERE id = ?", arguments: [id])
    }

    /// An organization's API and sensor keys (not personal access tokens), oldest first.
    package static func organizationKeys(_ db: Database, org: String, limit: Int, offset: Int) throws
        -> (keys: [APIKeyRecord], total: Int)
    {
        let total = try Int.fetchOne(
            db, sql: "SELECT COUNT(*) FROM api_keys WHERE org_id = ? AND kind IN ('api','sensor')", arguments: [org]) ?? 0
        let keys = try APIKeyRecord.fetchAll(
            db,
            sql: """
                SELECT * FROM api_keys WHERE org_id = ? AND kind IN ('api','sensor')
                ORDER BY created_at, id LIMIT ? OFFSET ?
                """,
            arguments: [org, limit, offset])
        return (keys, total)
    }

    /// One API or sensor key of the organization.
    package static func organizationKey(_ db: Database, id: String, org: String) throws -> APIKeyRecord? {
        try APIKeyRecord.fetchOne(
            db, sql: "SELECT * FROM api_keys WHERE id = ? AND org_id = ? AND kind IN ('api','sensor')", arguments: [id, org])
    }

    /// A user's personal access tokens, oldest first.
    package static func personalTokens(_ db: Database, userId: String, limit: Int, offset: Int) throws
        -> (keys: [APIKeyRecord], total: Int)
    {
        let total = try Int.fetchOne(
            db, sql: "SELECT COUNT(*) FROM api_keys WHERE kind = 'pat' AND user_id = ?", arguments: [userId]) ?? 0
        let keys = try APIKeyRecord.fetchAll(
            db, sql: "SELECT * FROM api_keys WHERE kind = 'pat' AND user_id = ? ORDER BY created_at, id LIMIT ? OFFSET ?",
            arguments: [userId, limit, offset])
        return (keys, total)
    }

    package static func personalTokenExists(_ db: Database, id: String, userId: String) throws -> Bool {
        try Bool.fetchOne(
            db, sql: "SELECT EXISTS (SELECT 1 FROM api_keys WHERE id = ? AND kind = 'pat' AND user_id = ?)",
            arguments: [id, userId]) ?? false
    }

    /// Marks a key revoked, keeping the first revocation time.
    package static func revokeKey(_ db: Database, id: String, at now: Date) throws {
        try db.execute(
            sql: "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?",
            arguments: [Timestamp.format(now), id])
    }

    package static func recordKeyUse(_ db: Database, id: String, at now: Date) throws {
        try db.execute(sql: "UPDATE api_keys SET last_used_at = ? WHERE id = ?", arguments: [Timestamp.format(now), id])
    }

    /// A key found by its token's hash, with its user's current role and name for a PAT.
    package struct KeyCredential: Sendable {
        package var key: APIKeyRecord
        package var userRole: String?
        package var username: String?
    }

    package static func credential(_ db: Database, tokenHash: Data) throws -> KeyCredential? {
        // A cached statement: verification runs on every request not served from the cache.
        let row = try Row.fetchOne(
            db.cachedStatement(sql: """
                SELECT k.*, u.role AS user_role, u.username AS user_name
                FROM api_keys k LEFT JOIN users u ON u.id = k.user_id WHERE k.token_hash = ?
                """),
            arguments: [tokenHash])
        guard let row else { return nil }
        return KeyCredential(key: try APIKeyRecord(row: row), userRole: row["user_role"], username: row["user_name"])
    }

    // MARK: Users

    package static func insertUser(_ db: Database, _ user: UserRecord) throws {
        try user.insert(db)
    }

    package static func usernameExists(_ db: Database, _ username: String) throws -> Bool {
        try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM users WHERE username = ?)", arguments: [username]) ?? false
    }

    package static func user(_ db: Database, id: String) throws -> UserRecord? {
        try UserRecord.fetchOne(db, sql: "SELECT * FROM users WHERE id = ?", arguments: [id])
    }

    package static func user(_ db: Database, id: String, org: String) throws -> UserRecord? {
        try UserRecord.fetchOne(db, sql: "SELECT * FROM users WHERE id = ? AND org_id = ?", arguments: [id, org])
    }

    package static func user(_ db: Database, username: String) throws -> UserRecord? {
        try UserRecord.fetchOne(db, sql: "SELECT * FROM users WHERE username = ?", arguments: [username])
    }

    /// An organization's members, oldest first.
    package static func users(_ db: Database, org: String, limit: Int, offset: Int) throws -> (users: [UserRecord], total: Int) {
        let total = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM users WHERE org_id = ?", arguments: [org]) ?? 0
        let users = try UserRecord.fetchAll(
            db, sql: "SELECT * FROM users WHERE org_id = ? ORDER BY created_at, id LIMIT ? OFFSET ?",
            arguments: [org, limit, offset])
        return (users, total)
    }

    /// Changes what is given; a new password also ends the user's sessions.
    package static func updateUser(
        _ db: Database, id: String, role: Role?, name: String?, passwordHash: String?, now: Date
    ) throws {
        let ts = Timestamp.format(now)
        if let role { try db.execute(sql: "UPDATE users SET role = ?, updated_at = ? WHERE id = ?", arguments: [role.rawValue, ts, id]) }
        if let name { try db.execute(sql: "UPDATE users SET name = ?, updated_at = ? WHERE id = ?", arguments: [name, ts, id]) }
        if let passwordHash {
            try db.execute(sql: "UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ?", arguments: [passwordHash, ts, id])
            try deleteSessions(db, userId: id)
        }
    }

    package static func deleteUser(_ db: Database, id: String) throws {
        try db.execute(sql: "DELETE FROM users WHERE id = ?", arguments: [id])
    }

    /// How many owners the organization has besides user `id`.
    package static func otherOwnerCount(_ db: Database, org: String, except id: String) throws -> Int {
        try Int.fetchOne(
            db, sql: "SELECT COUNT(*) FROM users WHERE org_id = ? AND role = 'owner' AND id <> ?", arguments: [org, id]) ?? 0
    }

    // MARK: Sessions

    /// Stores a new session, dropping the expired ones on the way.
    package static func insertSession(_ db: Database, _ session: SessionRecord, now: Date) throws {
        try db.execute(sql: "DELETE FROM sessions WHERE expires_at <= ?", arguments: [Timestamp.format(now)])
        try session.insert(db)
    }

    package static func deleteSession(_ db: Database, tokenHash: Data) throws {
        try db.execute(sql: "DELETE FROM sessions WHERE token_hash = ?", arguments: [tokenHash])
    }

    package static func deleteSessions(_ db: Database, userId: String) throws {
        try db.execute(sql: "DELETE FROM sessions WHERE user_id = ?", arguments: [userId])
    }

    /// A session found by its token's hash, with its user.
    package struct SessionUser: Sendable {
        package var tokenHash: Data
        package var expiresAt: Date?
        package var userId: String
        package var orgId: String
        package var role: String
        package var username: String
    }

    package static func sessionUser(_ db: Database, tokenHash: Data) throws -> SessionUser? {
        try Row.fetchOne(
            db.cachedStatement(sql: """
                SELECT s.token_hash, s.expires_at, u.id, u.org_id, u.role, u.username FROM sessions s
                JOIN users u ON u.id = s.user_id WHERE s.token_hash = ?
                """),
            arguments: [tokenHash]
        ).map { row in
            SessionUser(
                tokenHash: row["token_hash"], expiresAt: (row["expires_at"] as String?).flatMap(Timestamp.parse),
                userId: row["id"], orgId: row["org_id"], role: row["role"], username: row["username"])
        }
    }
}

/// The audit log: append-only (the table's triggers refuse UPDATE and DELETE).
package enum AuditRepository {
    package static func append(_ db: Database, _ entry: AuditRecord) throws {
        try entry.insert(db)
    }

    /// An organization's events, newest first.
    package static func entries(_ db: Database, org: String, limit: Int, offset: Int) throws
        -> (entries: [AuditRecord], total: Int)
    {
        let total = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM audit_log WHERE org_id = ?", arguments: [org]) ?? 0
        let entries = try AuditRecord.fetchAll(
            db, sql: "SELECT * FROM audit_log WHERE org_id = ? ORDER BY seq DESC LIMIT ? OFFSET ?",
            arguments: [org, limit, offset])
        return (entries, total)
    }
}
