import Admin
import Foundation
import GRDB
import Server
import Store
import Testing

/// Backup, restore and KEK rotation on real data directories.
@Suite struct BackupAndRotationTests {
    static func dataDir() throws -> (DataDirectory, DataDirectory.Opened) {
        let dir = DataDirectory(NSTemporaryDirectory() + "hg-admin-\(UUID().uuidString)")
        let opened = try dir.open()
        return (dir, opened)
    }

    static func seal(_ opened: DataDirectory.Opened, owner: String, secret: String) throws {
        let store = SecretStore(keyring: opened.keyring)
        try opened.db.writer.write { db in try store.seal(Data(secret.utf8), owner: owner, in: db) }
    }

    static func open(_ dir: DataDirectory, owner: String) throws -> String? {
        let opened = try dir.open(createIfMissing: false)
        let store = SecretStore(keyring: opened.keyring)
        return try opened.db.writer.read { db in try store.open(owner: owner, in: db) }.map { String(decoding: $0, as: UTF8.self) }
    }

    @Test func rotationRewrapsEverySecretAndRetiresTheOldKey() async throws {
        let (dir, opened) = try Self.dataDir()
        for i in 0..<20 { try Self.seal(opened, owner: "registry:r\(i):credentials", secret: "pw-\(i)") }
        let before = try Keyring.load(path: dir.keyringPath)
        let report = try await KEKRotation.rotate(dataDir: dir)
        #expect(report.rewrapped == 20)
        #expect(report.retired == [before.primary])
        let after = try Keyring.load(path: dir.keyringPath)
        #expect(after.primary == report.newKekId)
        #expect(after.keys.map(\.id) == [report.newKekId])
        #expect(after.retired.map(\.id).contains(before.primary))
        // The already-open store reloads the changed keyring file by itself.
        let store = SecretStore(keyring: opened.keyring)
        for i in 0..<20 {
            let v = try await opened.db.writer.read { db in try store.open(owner: "registry:r\(i):credentials", in: db) }
            #expect(v.map { String(decoding: $0, as: UTF8.self) } == "pw-\(i)")
        }
        let kekIds = try await opened.db.writer.read { db in try String.fetchAll(db, sql: "SELECT DISTINCT kek_id FROM secrets") }
        #expect(kekIds == [report.newKekId])
    }

    @Test func aSwappedCiphertextFailsAuthentication() throws {
        let (_, opened) = try Self.dataDir()
        try Self.seal(opened, owner: "registry:a:credentials", secret: "A")
        try Self.seal(opened, owner: "registry:b:credentials", secret: "B")
        // Moving b's sealed secret under a's name must not decrypt (owner is authenticated data).
        try opened.db.writer.write { db in
            try db.execute(sql: """
                UPDATE secrets SET ciphertext = (SELECT ciphertext FROM secrets WHERE owner = 'registry:b:credentials'),
                    wrapped_dek = (SELECT wrapped_dek FROM secrets WHERE owner = 'registry:b:credentials')
                WHERE owner = 'registry:a:credentials'
                """)
        }
        let store = SecretStore(keyring: opened.keyring)
        #expect(throws: SecretStore.SecretError.self) {
            try opened.db.writer.read { db in try store.open(owner: "registry:a:credentials", in: db) }
        }
    }

    @Test func backupRoundTripsIntoANewDirectoryWithThePassphrase() async throws {
        let (dir, opened) = try Self.dataDir()
        try Self.seal(opened, owner: "registry:r1:credentials", secret: "hunter2-backup")
        let out = dir.path + "/b.hgbak"
        _ = try await Backup.create(dataDir: dir, out: out, passphrase: "a long passphrase")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: out))
        #expect(bytes.range(of: Data("hunter2-backup".utf8)) == nil)
        let target = DataDirectory(NSTemporaryDirectory() + "hg-restore-\(UUID().uuidString)")
        await #expect(throws: BackupError.self) {
            try await Backup.restore(input: out, dataDir: target, passphrase: "wrong passphrase", keyringFile: nil)
        }
        try await Backup.restore(input: out, dataDir: target, passphrase: "a long passphrase", keyringFile: nil)
        #expect(try Self.open(target, owner: "registry:r1:credentials") == "hunter2-backup")
        // Restoring over a database is refused.
        await #expect(throws: BackupError.self) {
            try await Backup.restore(input: out, dataDir: target, passphrase: "a long passphrase", keyringFile: nil)
        }
    }

    @Test func backupWithoutPassphraseNeedsTheKeyring() async throws {
        let (dir, opened) = try Self.dataDir()
        try Self.seal(opened, owner: "registry:r1:credentials", secret: "s3cret")
        let out = dir.path + "/b.hgbak"
        _ = try await Backup.create(dataDir: dir, out: out, passphrase: nil)
        let target = DataDirectory(NSTemporaryDirectory() + "hg-restore-\(UUID().uuidString)")
        do {
            try await Backup.restore(input: out, dataDir: target, passphrase: nil, keyringFile: nil)
            Issue.record("restore without a keyring succeeded")
        } catch let e as BackupError {
            guard case .needsKeyring = e else { Issue.record("unexpected \(e)"); return }
            #expect(e.description.contains("--keyring"))
        }
        try await Backup.restore(input: out, dataDir: target, passphrase: nil, keyringFile: dir.keyringPath)
        #expect(try Self.open(target, owner: "registry:r1:credentials") == "s3cret")
    }

    @Test func tamperedAndTruncatedBackupsAreRefused() async throws {
        let (dir, opened) = try Self.dataDir()
        // Enough rows for several 1 MiB blocks.
        try await opened.db.writer.write { db in
            for i in 0..<3000 {
                try AppServices.audit(db, org: opened.orgId, actor: "t", action: String(repeating: "x", count: 900), target: "\(i)", ip: nil, now: Date())
            }
        }
        let out = dir.path + "/b.hgbak"
        _ = try await Backup.create(dataDir: dir, out: out, passphrase: "pass phrase 1")
        let good = try Data(contentsOf: URL(fileURLWithPath: out))
        func attempt(_ data: Data) async -> BackupError? {
            let p = dir.path + "/bad-\(UUID().uuidString).hgbak"
            _ = FileManager.default.createFile(atPath: p, contents: data)
            let target = DataDirectory(NSTemporaryDirectory() + "hg-restore-\(UUID().uuidString)")
            do {
                try await Backup.restore(input: p, dataDir: target, passphrase: "pass phrase 1", keyringFile: nil)
                return nil
            } catch let e as BackupError {
                #expect(!FileManager.default.fileExists(atPath: target.databasePath), "a refused backup left a database")
                return e
            } catch {
                Issue.record("unexpected error \(error)")
                return nil
            }
        }
        for offset in [good.count / 2, good.count - 5, 40] {
            var flipped = good
            flipped[offset] ^= 0x01
            let e = await attempt(flipped)
            #expect(e != nil, "flip at \(offset) accepted")
        }
        // Cut at a block boundary and mid-block: both truncated.
        let headerEnd = 8 + 4 + Int(good[8]) << 24 + Int(good[9]) << 16 + Int(good[10]) << 8 + Int(good[11])
        let firstBlockLen = Int(good[headerEnd]) << 24 | Int(good[headerEnd + 1]) << 16 | Int(good[headerEnd + 2]) << 8 | Int(good[headerEnd + 3])
        let boundary = headerEnd + 4 + firstBlockLen
        for cut in [boundary, good.count - 100, 20] {
            guard case .truncated? = await attempt(good.prefix(cut)) else {
                Issue.record("cut at \(cut) of \(good.count) not reported as truncated")
                continue
            }
        }
        guard case .notABackup? = await attempt(Data("hello".utf8)) else { Issue.record("garbage accepted"); return }
        #expect(BackupError.truncated.description.contains("truncated"))
    }

    @Test func keyringReadableByOthersIsRefused() throws {
        let (dir, _) = try Self.dataDir()
        chmod(dir.keyringPath, 0o644)
        do {
            _ = try KeyringStore(path: dir.keyringPath)
            Issue.record("a 0644 keyring was accepted")
        } catch let e as KeyringError {
            #expect(e.description.contains("chmod 600"))
        }
    }

    @Test func missingKeyringWithAnExistingDatabaseIsRefused() throws {
        let (dir, _) = try Self.dataDir()
        try FileManager.default.removeItem(atPath: dir.keyringPath)
        #expect(throws: KeyringError.self) { _ = try dir.open() }
    }
}
