public import Foundation
import GRDB
public import Store
#if canImport(Glibc)
import Glibc
#endif

/// `admin rotate-kek`: add a new KEK to the keyring durably (as primary), re-wrap every
/// DEK under it in one transaction, then retire the old keys. A crash at any step
/// leaves every secret readable: each step's state has every KEK a DEK refers to.
public enum KEKRotation {
    public struct Report: Sendable {
        public var newKekId: String
        public var retired: [String]
        public var rewrapped: Int
    }

    /// Test hook: `HARBORGUARD_FAULT=rotate-kek:<step>` kills the process with SIGKILL at
    /// that step, so the crash-safety tests can interrupt a rotation at a known point.
    static func fault(_ step: String) {
        if ProcessInfo.processInfo.environment["HARBORGUARD_FAULT"] == "rotate-kek:\(step)" {
            kill(getpid(), SIGKILL)
        }
    }

    public static func rotate(dataDir: DataDirectory, databaseURL: String? = nil, now: Date = Date()) async throws -> Report {
        let path = dataDir.keyringPath
        let ring = try Keyring.load(path: path)
        return try await dataDir.openDatabase(databaseURL: databaseURL).closing { db in
            try await rotate(ring, keyringPath: path, db: db, now: now)
        }
    }

    static func rotate(_ current: Keyring, keyringPath path: String, db: AppDatabase, now: Date) async throws -> Report {
        var ring = current
        // Step 1: the new key joins the keyring as primary; old keys stay for unwrapping.
        let entry = Keyring.newEntry(now: now)
        ring.keys.append(entry)
        ring.primary = entry.id
        try ring.write(path: path)
        fault("after-add")

        // Step 2: re-wrap every DEK in one transaction (all or nothing).
        let newRing = ring
        let rewrapped = try await db.write { db in
            try SecretStore.rewrapAll(to: entry.id, keyring: newRing, in: db)
        }
        fault("after-rewrap")

        // Step 3: retire the old keys, once no DEK refers to them (a secret sealed by a
        // server that had not yet reloaded the keyring is re-wrapped first).
        let stragglers = try await db.write { db in
            try SecretStore.rewrapAll(to: entry.id, keyring: newRing, in: db)
        }
        let old = ring.keys.filter { $0.id != entry.id }
        let stillUsed = try await db.read { db in
            try SecretStore.kekIds(otherThan: entry.id, in: db)
        }
        guard stillUsed.isEmpty else {
            throw FileIOError(description: "secrets still refer to \(stillUsed.joined(separator: ", ")); old keys kept")
        }
        ring.keys = [entry]
        ring.retired += old.map { Keyring.Retired(id: $0.id, retiredAt: RFC3339.string(now)) }
        try ring.write(path: path)
        fault("after-retire")
        try await db.write { db in
            let orgs = try AccountRepository.organizationIds(db)
            for org in orgs {
                try AuditRepository.append(db, AuditRecord(orgId: org, actor: "admin-cli", action: "kek.rotate", target: entry.id, ip: nil, createdAt: now))
            }
        }
        return Report(newKekId: entry.id, retired: old.map(\.id), rewrapped: rewrapped + stragglers)
    }
}
