@testable import Admin
import Cron
import Crypto
import Foundation
import GRDB
import Server
import SQLTestSupport
import Store
import Testing

/// Backups as logical exports: every row and value comes back in SQLite, and a SQLite install
/// moves to PostgreSQL with `admin restore --database` (row counts equal, every secret opens).
@Suite struct LogicalBackupTests {
    /// A data directory with rows in many tables, including the awkward values: NULLs, reals,
    /// bytes, JSON text in a BLOB column, quotes and non-ASCII text.
    static func populated() async throws -> (DataDirectory, DataDirectory.Opened) {
        let (dir, opened) = try BackupAndRotationTests.dataDir()
        let store = SecretStore(keyring: opened.keyring)
        let org = opened.orgId
        try await opened.db.writer.write { db in
            for i in 0..<3 { try store.seal(Data("pw-\(i)-ü'\"".utf8), owner: "registry:reg_\(i):credentials", in: db) }
            try db.execute(sql: """
                INSERT INTO registries (id, org_id, name, provider, url, scan_method, schedule, scanners, insecure,
                    webhook_token_hash, created_at, updated_at)
                VALUES ('reg_0', ?, 'hub ''quoted'' ü', 'DOCKER_HUB', 'https://r.example', 'PULL', 'manual', '["native"]', 1,
                    X'00ff10', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')
                """, arguments: [org])
            try db.execute(sql: """
                INSERT INTO images (id, org_id, registry_id, name, full_name, risk_score, created_at, updated_at)
                VALUES ('img_0', ?, 'reg_0', 'library/app', 'r.example/library/app', 42, 't', 't')
                """, arguments: [org])
            try db.execute(sql: """
                INSERT INTO scans (id, org_id, registry_id, image_id, repository, reference, status, trigger, queued_at)
                VALUES ('scn_0', ?, 'reg_0', 'img_0', 'library/app', 'latest', 'completed', 'manual', 't')
                """, arguments: [org])
            for seq in 0..<50 {
                try db.execute(sql: """
                    INSERT INTO findings (scan_id, seq, vulnerability_id, severity_rank, fixable, pkg_name, pkg_version,
                        pkg_type, detail, epss, epss_percentile, digest, purl)
                    VALUES ('scn_0', ?, ?, 3, 1, 'openssl', '3.0.1', 'deb', ?, ?, NULL, ?, NULL)
                    """, arguments: [seq, "CVE-2026-\(seq)", #"{"id":"CVE-2026-\#(seq)","note":"é"}"#, 0.12345 + Double(seq),
                                     Data([UInt8(seq), 0, 255])])
            }
            for i in 0..<20 {
                try AppServices.audit(db, org: org, actor: "t", action: "a\(i)", target: nil, ip: "127.0.0.1", now: Date())
            }
        }
        return (dir, opened)
    }

    /// Every table's rows as (storage class, value) text, sorted: equal means identical data.
    static func dump(_ db: any SQLConnection, tables: [String]) throws -> [String: [String]] {
        var out: [String: [String]] = [:]
        for t in tables {
            out[t] = try db.query("SELECT * FROM \"\(t)\"", []).map { row in
                zip(row.columns, row.values).map { c, v in "\(c)=\(v)" }.joined(separator: "|")
            }.sorted()
        }
        return out
    }

    static func tables(_ dir: DataDirectory) throws -> [String] {
        try DatabaseQueue(path: dir.databasePath).read { db in try LogicalExport.sqliteTables(db) }
    }

    @Test func everyRowAndValueComesBackInSQLite() async throws {
        let (dir, _) = try await Self.populated()
        let out = dir.path + "/b.hgbak"
        _ = try await Backup.create(dataDir: dir, out: out, passphrase: "a long passphrase")
        let target = DataDirectory(NSTemporaryDirectory() + "hg-restore-\(UUID().uuidString)")
        let report = try await Backup.restore(input: out, dataDir: target, passphrase: "a long passphrase", keyringFile: nil)
        #expect(report.format == 2)
        #expect(report.secretsVerified == 3)
        #expect(report.counts["findings"] == 50)
        let tables = try Self.tables(dir)
        #expect(tables.firstIndex(of: "organizations")! < tables.firstIndex(of: "registries")!)
        #expect(tables.firstIndex(of: "scans")! < tables.firstIndex(of: "findings")!)
        let before = try await AppDatabase.open(path: dir.databasePath).writer.read { db in try Self.dump(db.sql, tables: tables) }
        let after = try await AppDatabase.open(path: target.databasePath).writer.read { db in try Self.dump(db.sql, tables: tables) }
        #expect(before == after)
        #expect(before["findings"]?.first?.contains("detail=text(") == true)
        #expect(try BackupAndRotationTests.open(target, owner: "registry:reg_1:credentials") == "pw-1-ü'\"")
    }

    /// A format-1 backup (a SQLite file image, what earlier versions wrote) still restores.
    @Test func formatOneBackupsStillRestore() async throws {
        let (dir, opened) = try BackupAndRotationTests.dataDir()
        try BackupAndRotationTests.seal(opened, owner: "registry:r1:credentials", secret: "old-format")
        let image = dir.path + "/image.db"
        try DatabaseQueue(path: dir.databasePath).inDatabase { db in try db.execute(sql: "VACUUM INTO ?", arguments: [image]) }
        let ring = try Keyring.load(path: dir.keyringPath)
        let (kekId, kek) = try ring.primaryKey()
        let payloadKey = SymmetricKey(size: .bits256)
        let wrapped = try AES.GCM.seal(
            payloadKey.withUnsafeBytes { Data($0) }, using: kek, authenticating: Data("backup-key:\(kekId)".utf8)).combined!
        let header = try JSONSerialization.data(withJSONObject: [
            "version": 1, "createdAt": "2026-01-01T00:00:00Z", "kekId": kekId, "wrappedKey": wrapped.base64EncodedString(),
        ])
        var file = Data("HGBACKUP".utf8)
        withUnsafeBytes(of: UInt32(header.count).bigEndian) { file.append(contentsOf: $0) }
        file.append(header)
        let sealed = try AES.GCM.seal(
            try Data(contentsOf: URL(fileURLWithPath: image)), using: payloadKey,
            authenticating: Backup.aad(headerHash: Data(SHA256.hash(data: header)), index: 0, final: true)).combined!
        withUnsafeBytes(of: UInt32(sealed.count).bigEndian) { file.append(contentsOf: $0) }
        file.append(sealed)
        let out = dir.path + "/v1.hgbak"
        try file.write(to: URL(fileURLWithPath: out))
        let target = DataDirectory(NSTemporaryDirectory() + "hg-restore-\(UUID().uuidString)")
        let report = try await Backup.restore(input: out, dataDir: target, passphrase: nil, keyringFile: dir.keyringPath)
        #expect(report.format == 1 && report.secretsVerified == 1)
        #expect(try BackupAndRotationTests.open(target, owner: "registry:r1:credentials") == "old-format")
        // A file image cannot go to PostgreSQL directly; the error says how.
        let error = await #expect(throws: BackupError.self) {
            try await Backup.restore(
                input: out, dataDir: target, passphrase: nil, keyringFile: dir.keyringPath, database: "postgres://u@127.0.0.1:1/x")
        }
        #expect(error?.description.contains("make a new backup") == true)
    }

    @Test func anExportFromANewerSchemaIsRefused() throws {
        let export = Data("""
            {"createdAt":"t","engine":"sqlite","harborguardExport":1,"migrations":["server.v1","server.v99.future"]}
            {"counts":{},"end":true}

            """.utf8)
        let db = try DatabaseQueue()
        let error = #expect(throws: BackupError.self) {
            try db.write { db in try LogicalExport.import(export, into: db.sql, knownMigrations: ["server.v1"]) }
        }
        #expect(error?.description.contains("newer harborguard") == true)
        // Rows cut off before the end line: refused as incomplete.
        let cut = Data("""
            {"createdAt":"t","engine":"sqlite","harborguardExport":1,"migrations":[]}
            {"columns":["id","name","created_at"],"rows":2,"table":"organizations"}
            ["org_1","a","t"]

            """.utf8)
        let app = try AppDatabase.inMemory()
        #expect(throws: BackupError.self) {
            try app.writer.write { db in try LogicalExport.import(cut, into: db.sql, knownMigrations: Migrations.identifiers) }
        }
    }

    @Test(.enabled(if: TestBackend.postgresURL != nil, "needs HARBORGUARD_TEST_POSTGRES_URL (make test starts a server)"))
    func aSQLiteInstallMovesToPostgreSQL() async throws {
        let (dir, _) = try await Self.populated()
        let out = dir.path + "/b.hgbak"
        _ = try await Backup.create(dataDir: dir, out: out, passphrase: nil)
        let name = try await TestBackend.createPostgresDatabase()
        let url = try TestBackend.postgresURL(database: name)
        // The wrong keyring: nothing is committed.
        let other = try BackupAndRotationTests.dataDir().0
        await #expect(throws: BackupError.self) {
            try await Backup.restore(input: out, dataDir: DataDirectory(other.path + "-x"), passphrase: nil,
                                     keyringFile: other.keyringPath, database: url)
        }
        let nodeDir = DataDirectory(NSTemporaryDirectory() + "hg-node-\(UUID().uuidString)")
        let report = try await Backup.restore(
            input: out, dataDir: nodeDir, passphrase: nil, keyringFile: dir.keyringPath, database: url)
        #expect(report.format == 2 && report.secretsVerified == 3)
        #expect(!report.target.contains(try #require(URLComponents(string: url)?.password)))
        let tables = try Self.tables(dir)
        let sqlite = try await AppDatabase.open(path: dir.databasePath).writer.read { db in
            try LogicalExport.counts(db.sql, tables: tables)
        }
        let pg = try PostgreSQLDatabase(url: url)
        let moved = try await pg.read { c in try LogicalExport.counts(c, tables: tables) }
        #expect(moved == sqlite)
        #expect(moved["findings"] == 50 && moved["secrets"] == 3)
        // Every secret opens from PostgreSQL with the node's keyring; bytes and reals survive.
        let store = SecretStore(keyring: try KeyringStore(path: nodeDir.keyringPath))
        let secrets = try await pg.read { c in
            try SecretStore.owners(in: c).map { try store.open(owner: $0, in: c).map { String(decoding: $0, as: UTF8.self) } }
        }
        #expect(secrets == ["pw-0-ü'\"", "pw-1-ü'\"", "pw-2-ü'\""])
        let row = try await pg.read { c in
            try c.queryOne("SELECT detail, epss, digest FROM findings WHERE scan_id = 'scn_0' AND seq = 2", [])
        }
        #expect(row?.value(0) == .blob(Data(#"{"id":"CVE-2026-2","note":"é"}"#.utf8)))
        #expect(row?.value(1) == .real(2.12345))
        #expect(row?.value(2) == .blob(Data([2, 0, 255])))
        // New audit entries continue the sequence; the log stays append-only.
        let next = try await pg.write { c in
            try c.queryOne(
                "INSERT INTO audit_log (org_id, actor, action, created_at) SELECT org_id, 'x', 'y', 't' FROM audit_log LIMIT 1 RETURNING seq", [])?.int(0)
        }
        let maxBefore = sqlite["audit_log"] ?? 0
        #expect((next ?? 0) > maxBefore)
        // A second restore into the now-populated database is refused.
        let again = await #expect(throws: BackupError.self) {
            try await Backup.restore(input: out, dataDir: nodeDir, passphrase: nil, keyringFile: dir.keyringPath, database: url)
        }
        #expect(again?.description.contains("already holds") == true)
        await pg.close()
    }
}
