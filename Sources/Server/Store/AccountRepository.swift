package import Cron
package import Foundation

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

    package static func organizationSummary(_ db: any SQLConnection, id: String) throws -> OrganizationSummary? {
        try db.queryOne("""
                SELECT o.id, o.name, o.created_at,
                  (SELECT COUNT(*) FROM registries r WHERE r.org_id = o.id) AS registries,
                  (SELECT COUNT(*) FROM users u WHERE u.org_id = o.id) AS members
                FROM organizations o WHERE o.id = ?
                """, [id]
        ).map { row in
            OrganizationSummary(
                id: row["id"], name: row["name"], createdAt: row["created_at"], registryCount: row["registries"],
                memberCount: row["members"])
        }
    }

    package static func organizationIds(_ db: any SQLConnection) throws -> [String] {
        try db.strings("SELECT id FROM organizations")
    }

    /// The id of the organization named `name` (the appliance has one, `default`).
    package static func organizationId(_ db: any SQLConnection, named name: String) throws -> String? {
        try db.string("SELECT id FROM organizations WHERE name = ?", [name])
    }

    package static func insertOrganization(_ db: any SQLConnection, id: String, name: String, createdAt: Date) throws {
        try db.execute("INSERT INTO organizations (id, name, created_at) VALUES (?, ?, ?)", [id, name, Timestamp.format(createdAt)])
    }

    /// Whether someone has set the organization up: a user exists, or an API or sensor key
    /// other than the ones the system made.
    package static func isSetUp(_ db: any SQLConnection) throws -> Bool {
        try db.bool("""
                SELECT EXISTS (SELECT 1 FROM users)
                    OR EXISTS (SELECT 1 FROM api_keys WHERE created_by IS NULL OR created_by <> 'system')
                """
        ) ?? false
    }

    // MARK: API keys and personal access tokens

    /// The one way a key of any kind is stored.
    package static func insertKey(_ db: any SQLConnection, _ key: APIKeyRecord) throws {
        try key.insert(into: db)
    }

    package static func key(_ db: any SQLConnection, id: String) throws -> APIKeyRecord? {
        try db.fetchOne(APIKeyRecord.self, "SELECT * FROM api_keys WHERE id = ?", [id])
    }

    /// An organization's API and sensor keys (not personal access tokens), oldest first.
    package static func organizationKeys(_ db: any SQLConnection, org: String, limit: Int, offset: Int) throws
        -> (keys: [APIKeyRecord], total: Int)
    {
        let total = try db.int("SELECT COUNT(*) FROM api_keys WHERE org_id = ? AND kind IN ('api','sensor')", [org]) ?? 0
        let keys = try db.fetchAll(APIKeyRecord.self, """
                SELECT * FROM api_keys WHERE org_id = ? AND kind IN ('api','sensor')
                ORDER BY created_at, id LIMIT ? OFFSET ?
                """, [org, limit, offset])
        return (keys, total)
    }

    /// One API or sensor key of the organization.
    package static func organizationKey(_ db: any SQLConnection, id: String, org: String) throws -> APIKeyRecord? {
        try db.fetchOne(APIKeyRecord.self, "SELECT * FROM api_keys WHERE id = ? AND org_id = ? AND kind IN ('api','sensor')", [id, org])
    }

    /// A user's personal access tokens, oldest first.
    package static func personalTokens(_ db: any SQLConnection, userId: String, limit: Int, offset: Int) throws
        -> (keys: [APIKeyRecord], total: Int)
    {
        let total = try db.int("SELECT COUNT(*) FROM api_keys WHERE kind = 'pat' AND user_id = ?", [userId]) ?? 0
        let keys = try db.fetchAll(APIKeyRecord.self, "SELECT * FROM api_keys WHERE kind = 'pat' AND user_id = ? ORDER BY created_at, id LIMIT ? OFFSET ?", [userId, limit, offset])
        return (keys, total)
    }

    package static func personalTokenExists(_ db: any SQLConnection, id: String, userId: String) throws -> Bool {
        try db.bool("SELECT EXISTS (SELECT 1 FROM api_keys WHERE id = ? AND kind = 'pat' AND user_id = ?)", [id, userId]) ?? false
    }

    /// Marks a key revoked, keeping the first revocation time.
    package static func revokeKey(_ db: any SQLConnection, id: String, at now: Date) throws {
        try db.execute("UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?", [Timestamp.format(now), id])
    }

    package static func recordKeyUse(_ db: any SQLConnection, id: String, at now: Date) throws {
        try db.execute("UPDATE api_keys SET last_used_at = ? WHERE id = ?", [Timestamp.format(now), id])
    }

    /// A key found by its token's hash, with its user's current role and name for a PAT.
    package struct KeyCredential: Sendable {
        package var key: APIKeyRecord
        package var userRole: String?
        package var username: String?
    }

    package static func credential(_ db: any SQLConnection, tokenHash: Data) throws -> KeyCredential? {
        // A cached statement: verification runs on every request not served from the cache.
        let row = try db.queryOne("""
                SELECT k.*, u.role AS user_role, u.username AS user_name
                FROM api_keys k LEFT JOIN users u ON u.id = k.user_id WHERE k.token_hash = ?
                """, [tokenHash])
        guard let row else { return nil }
        return KeyCredential(key: try APIKeyRecord(row: row), userRole: row["user_role"], username: row["user_name"])
    }

    // MARK: Users

    package static func insertUser(_ db: any SQLConnection, _ user: UserRecord) throws {
        try user.insert(into: db)
    }

    package static func usernameExists(_ db: any SQLConnection, _ username: String) throws -> Bool {
        try db.bool("SELECT EXISTS (SELECT 1 FROM users WHERE \(usernameMatches(db)))", [username]) ?? false
    }

    package static func user(_ db: any SQLConnection, id: String) throws -> UserRecord? {
        try db.fetchOne(UserRecord.self, "SELECT * FROM users WHERE id = ?", [id])
    }

    package static func user(_ db: any SQLConnection, id: String, org: String) throws -> UserRecord? {
        try db.fetchOne(UserRecord.self, "SELECT * FROM users WHERE id = ? AND org_id = ?", [id, org])
    }

    package static func user(_ db: any SQLConnection, username: String) throws -> UserRecord? {
        try db.fetchOne(UserRecord.self, "SELECT * FROM users WHERE \(usernameMatches(db))", [username])
    }

    /// An organization's members, oldest first.
    package static func users(_ db: any SQLConnection, org: String, limit: Int, offset: Int) throws -> (users: [UserRecord], total: Int) {
        let total = try db.int("SELECT COUNT(*) FROM users WHERE org_id = ?", [org]) ?? 0
        let users = try db.fetchAll(UserRecord.self, "SELECT * FROM users WHERE org_id = ? ORDER BY created_at, id LIMIT ? OFFSET ?", [org, limit, offset])
        return (users, total)
    }

    /// Changes what is given; a new password also ends the user's sessions.
    package static func updateUser(
        _ db: any SQLConnection, id: String, role: Role?, name: String?, passwordHash: String?, now: Date
    ) throws {
        let ts = Timestamp.format(now)
        if let role { try db.execute("UPDATE users SET role = ?, updated_at = ? WHERE id = ?", [role.rawValue, ts, id]) }
        if let name { try db.execute("UPDATE users SET name = ?, updated_at = ? WHERE id = ?", [name, ts, id]) }
        if let passwordHash {
            try db.execute("UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ?", [passwordHash, ts, id])
            try deleteSessions(db, userId: id)
        }
    }

    package static func deleteUser(_ db: any SQLConnection, id: String) throws {
        try db.execute("DELETE FROM users WHERE id = ?", [id])
    }

    /// How many owners the organization has besides user `id`.
    package static func otherOwnerCount(_ db: any SQLConnection, org: String, except id: String) throws -> Int {
        try db.int("SELECT COUNT(*) FROM users WHERE org_id = ? AND role = 'owner' AND id <> ?", [org, id]) ?? 0
    }

    /// Usernames compare without regard to ASCII case: SQLite's column is NOCASE, and
    /// PostgreSQL's unique index is on `lower(username)`.
    static func usernameMatches(_ db: any SQLConnection) -> String {
        db.dialect == .postgres ? "lower(username) = lower(?)" : "username = ?"
    }

    // MARK: Sessions

    /// Stores a new session, dropping the expired ones on the way.
    package static func insertSession(_ db: any SQLConnection, _ session: SessionRecord, now: Date) throws {
        try db.execute("DELETE FROM sessions WHERE expires_at <= ?", [Timestamp.format(now)])
        try session.insert(into: db)
    }

    package static func deleteSession(_ db: any SQLConnection, tokenHash: Data) throws {
        try db.execute("DELETE FROM sessions WHERE token_hash = ?", [tokenHash])
    }

    package static func deleteSessions(_ db: any SQLConnection, userId: String) throws {
        try db.execute("DELETE FROM sessions WHERE user_id = ?", [userId])
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

    package static func sessionUser(_ db: any SQLConnection, tokenHash: Data) throws -> SessionUser? {
        try db.queryOne("""
                SELECT s.token_hash, s.expires_at, u.id, u.org_id, u.role, u.username FROM sessions s
                JOIN users u ON u.id = s.user_id WHERE s.token_hash = ?
                """, [tokenHash]
        ).map { row in
            SessionUser(
                tokenHash: row["token_hash"], expiresAt: (row["expires_at"] as String?).flatMap(Timestamp.parse),
                userId: row["id"], orgId: row["org_id"], role: row["role"], username: row["username"])
        }
    }
}

/// The audit log: append-only (the table's triggers refuse UPDATE and DELETE).
package enum AuditRepository {
    package static func append(_ db: any SQLConnection, _ entry: AuditRecord) throws {
        try entry.insert(into: db)
    }

    /// An organization's events, newest first.
    package static func entries(_ db: any SQLConnection, org: String, limit: Int, offset: Int) throws
        -> (entries: [AuditRecord], total: Int)
    {
        let total = try db.int("SELECT COUNT(*) FROM audit_log WHERE org_id = ?", [org]) ?? 0
        let entries = try db.fetchAll(AuditRecord.self, "SELECT * FROM audit_log WHERE org_id = ? ORDER BY seq DESC LIMIT ? OFFSET ?", [org, limit, offset])
        return (entries, total)
    }
}
