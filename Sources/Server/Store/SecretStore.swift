import Crypto
public import Cron
public import Foundation
import GRDB

/// Envelope encryption: each secret gets its own random 256-bit DEK; the secret is
/// sealed with AES-256-GCM under the DEK with associated data naming its owner
/// (`registry:<id>:credentials`), and the DEK is sealed under the KEK whose id is
/// stored beside it. Deleting the row shreds the secret.
public struct SecretStore: Sendable {
    public let keyring: KeyringStore

    public init(keyring: KeyringStore) {
        self.keyring = keyring
    }

    public enum SecretError: Error, CustomStringConvertible {
        case notFound(owner: String)
        case corrupt(owner: String)

        public var description: String {
            switch self {
            case let .notFound(owner): "no secret stored for \(owner)"
            case let .corrupt(owner): "the secret for \(owner) failed authentication (wrong key or tampered data)"
            }
        }
    }

    static func dekAAD(owner: String, kekId: String) -> Data { Data("dek:\(kekId):\(owner)".utf8) }

    /// Seals `plaintext` for `owner` inside the caller's transaction (replacing any previous secret).
    public func seal(_ plaintext: Data, owner: String, in db: any SQLConnection) throws {
        let (kekId, kek) = try keyring.current().primaryKey()
        let dek = SymmetricKey(size: .bits256)
        let ciphertext = try AES.GCM.seal(plaintext, using: dek, authenticating: Data(owner.utf8)).combined!
        let dekBytes = dek.withUnsafeBytes { Data($0) }
        let wrapped = try AES.GCM.seal(dekBytes, using: kek, authenticating: Self.dekAAD(owner: owner, kekId: kekId))
            .combined!
        try db.execute("""
                INSERT INTO secrets (owner, kek_id, wrapped_dek, ciphertext, created_at) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT(owner) DO UPDATE SET kek_id = excluded.kek_id, wrapped_dek = excluded.wrapped_dek,
                    ciphertext = excluded.ciphertext, created_at = excluded.created_at
                """, [owner, kekId, wrapped, ciphertext, RFC3339.string(Date())])
    }

    /// Opens the secret of `owner`, or nil when none is stored.
    public func open(owner: String, in db: any SQLConnection) throws -> Data? {
        guard let row = try db.queryOne("SELECT kek_id, wrapped_dek, ciphertext FROM secrets WHERE owner = ?", [owner])
        else { return nil }
        let kekId = row.string(0) ?? ""
        let kek = try keyring.current().symmetricKey(kekId)
        guard case .blob(let wrapped) = row.value(1), case .blob(let ciphertext) = row.value(2) else {
            throw SecretError.corrupt(owner: owner)
        }
        do {
            let dekBytes = try AES.GCM.open(
                AES.GCM.SealedBox(combined: wrapped), using: kek, authenticating: Self.dekAAD(owner: owner, kekId: kekId))
            return try AES.GCM.open(
                AES.GCM.SealedBox(combined: ciphertext), using: SymmetricKey(data: dekBytes),
                authenticating: Data(owner.utf8))
        } catch {
            throw SecretError.corrupt(owner: owner)
        }
    }

    /// Every owner with a stored secret, sorted.
    package static func owners(in db: any SQLConnection) throws -> [String] {
        try db.query("SELECT owner FROM secrets ORDER BY owner", []).compactMap { $0.string(0) }
    }

    /// Opens every stored secret with the keyring: how many there are, and each one that does
    /// not open with why (what `admin check` reports and a restore refuses to commit).
    package func unreadable(in db: any SQLConnection) throws -> (secrets: Int, unreadable: [(owner: String, error: String)]) {
        let owners = try Self.owners(in: db)
        var bad: [(owner: String, error: String)] = []
        for owner in owners {
            do { _ = try open(owner: owner, in: db) } catch { bad.append((owner, "\(error)")) }
        }
        return (owners.count, bad)
    }

    package static func kekIds(otherThan kekId: String, in db: any SQLConnection) throws -> [String] {
        try db.strings("SELECT DISTINCT kek_id FROM secrets WHERE kek_id <> ?", [kekId])
    }

    public func delete(owner: String, in db: any SQLConnection) throws {
        try db.execute("DELETE FROM secrets WHERE owner = ?", [owner])
    }

    /// Re-wraps every DEK not under `targetId` with that KEK (one transaction by the caller).
    /// Returns how many DEKs were re-wrapped.
    public static func rewrapAll(to targetId: String, keyring: Keyring, in db: any SQLConnection) throws -> Int {
        let target = try keyring.symmetricKey(targetId)
        let rows = try db.query("SELECT owner, kek_id, wrapped_dek FROM secrets WHERE kek_id != ?", [targetId])
        for row in rows {
            let owner: String = row["owner"]
            let oldId: String = row["kek_id"]
            let old = try keyring.symmetricKey(oldId)
            let dek: Data
            do {
                dek = try AES.GCM.open(
                    AES.GCM.SealedBox(combined: row["wrapped_dek"] as Data), using: old,
                    authenticating: dekAAD(owner: owner, kekId: oldId))
            } catch {
                throw SecretError.corrupt(owner: owner)
            }
            let wrapped = try AES.GCM.seal(dek, using: target, authenticating: dekAAD(owner: owner, kekId: targetId))
                .combined!
            try db.execute("UPDATE secrets SET kek_id = ?, wrapped_dek = ? WHERE owner = ?", [targetId, wrapped, owner])
        }
        return rows.count
    }
}
