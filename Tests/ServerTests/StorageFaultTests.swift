import Foundation
import GRDB
import HTTPTypes
import HummingbirdTesting
import Server
import Store
import Testing

/// A database that cannot grow (SQLITE_FULL, as on a full disk) or cannot be written
/// answers with a 503 that says so, and the failed request changes nothing.
@Suite struct StorageFaultTests {
    @Test func aFullDatabaseAnswers503SayingDiskFullAndChangesNothing() async throws {
        let f = try await Fixture.make()
        // The database may not grow past its current size: the next pages it needs fail
        // with SQLITE_FULL, exactly as when the disk under it is full.
        try await f.services.db.writer.writeWithoutTransaction { db in
            let pages = try Int.fetchOne(db, sql: "PRAGMA page_count") ?? 0
            try db.execute(sql: "PRAGMA max_page_count = \(pages)")
        }
        let refused = try await f.test { c -> (JSONResponse?, String) in
            let admin = f.keys[.admin]!
            for i in 0..<2000 {
                let name = "full-\(i)"
                let r = try await c.json(.post, "/api/registries", key: admin, body: [
                    "name": name, "provider": "DOCKER_REGISTRY", "url": "https://r\(i).example.test",
                    "credentials": ["username": "u", "password": String(repeating: "p", count: 200)],
                ])
                if r.status != .created { return (r, name) }
            }
            return (nil, "")
        }
        let response = try #require(refused.0)
        #expect(response.status == .serviceUnavailable)
        #expect(response.errorCode == "SERVICE_UNAVAILABLE")
        let message = (response.body["error"] as? [String: Any])?["message"] as? String ?? ""
        #expect(message.contains("disk full"), "\(message)")
        #expect(message.contains("nothing was changed"))
        let name = refused.1
        let leftovers = try await f.services.db.writer.read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM registries WHERE name = ?", arguments: [name]) ?? -1
        }
        #expect(leftovers == 0)
        // Room again: the same request succeeds.
        try await f.services.db.writer.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA max_page_count = 1073741823") }
        let retried = try await f.test { c in
            try await c.json(.post, "/api/registries", key: f.keys[.admin]!, body: [
                "name": name, "provider": "DOCKER_REGISTRY", "url": "https://again.example.test",
            ])
        }
        #expect(retried.status == .created)
    }

    @Test func storageFaultsAreRecognisedAndOtherErrorsAreNot() throws {
        let queue = try DatabaseQueue()
        try queue.writeWithoutTransaction { db in
            try db.execute(sql: "CREATE TABLE t (x BLOB)")
            let pages = try Int.fetchOne(db, sql: "PRAGMA page_count") ?? 0
            try db.execute(sql: "PRAGMA max_page_count = \(pages)")
        }
        var full: DatabaseError?
        do {
            try queue.write { db in
                for _ in 0..<100 { try db.execute(sql: "INSERT INTO t VALUES (randomblob(4096))") }
            }
        } catch let e as DatabaseError {
            full = e
        }
        let fault = try #require(full.flatMap(StorageFault.init))
        #expect(fault.kind == .full)
        #expect(fault.message.contains("disk full (ENOSPC"))
        #expect(fault.apiError.status == .serviceUnavailable)

        var syntax: DatabaseError?
        do { try queue.write { db in try db.execute(sql: "SELEKT 1") } } catch let e as DatabaseError { syntax = e }
        #expect(try #require(syntax).resultCode == .SQLITE_ERROR)
        #expect(StorageFault(syntax!) == nil)

        let readOnly = StorageFault(DatabaseError(resultCode: .SQLITE_READONLY))
        #expect(readOnly?.kind == .readOnly)
        #expect(readOnly?.message.contains("read-only") == true)
    }
}
