import Cron
import Foundation
import GRDB
import SQLTestSupport
import Testing

/// The dialect helpers the repositories build their engine-specific SQL with give the same
/// answers on SQLite and PostgreSQL, on the same rows.
@Suite struct SQLDialectTests {
    static let schema = [
        "CREATE TABLE docs (id BIGINT PRIMARY KEY NOT NULL, grp TEXT NOT NULL, name TEXT, score DOUBLE PRECISION, detail BYTEA NOT NULL)",
    ]

    static let rows: [(Int, String, String?, Double?, String)] = [
        (1, "a", "Alpha", 0.5, #"{"cvssRating":{"score":9.8,"vector":"CVSS:3.1/AV:N"},"aliases":["GHSA-1","PYSEC-2"],"title":"one","sources":["native"]}"#),
        (2, "a", "beta", nil, #"{"cvss":7.5,"aliases":[],"title":"two","sources":["trivy"]}"#),
        (3, "b", nil, 0.1, #"{"title":"three","package":{"purl":"pkg:pypi/x@1"}}"#),
        (4, "b", "Gamma", 0.9, #"{"aliases":["CVE-1"],"title":"f\u00fcnf","sources":["native","grype"]}"#),
    ]

    func open(_ backend: TestBackend) async throws -> any SQLDatabase {
        let (db, _) = try await backend.open(
            nil,
            sqlite: { m in
                m.registerMigration("docs") { db in
                    try db.execute(sql: "CREATE TABLE docs (id INTEGER PRIMARY KEY NOT NULL, grp TEXT NOT NULL, name TEXT, score REAL, detail BLOB NOT NULL)")
                }
            },
            postgres: [SQLMigration("docs", Self.schema[0])])
        try await db.write { c in
            try c.insertMany(
                "INSERT INTO docs (id, grp, name, score, detail)",
                rows: Self.rows.map { [$0.0, $0.1, $0.2, $0.3, Data($0.4.utf8)] as [any SQLBindable] }, chunk: 3)
        }
        return db
    }

    /// Every helper's answer on one engine, as text.
    func answers(_ db: any SQLDatabase) async throws -> [String] {
        try await db.read { c in
            let d = c.dialect
            func column(_ sql: String, _ args: [any SQLBindable] = []) throws -> String {
                try c.query(sql, args).map { row in row.values.map { v -> String in
                    switch v {
                    case .null: "NULL"
                    case .integer(let i): String(i)
                    case .real(let x): String(x)
                    case .text(let s): s
                    case .blob(let b): "0x" + b.map { String(format: "%02x", $0) }.joined()
                    }
                }.joined(separator: "|") }.joined(separator: ";")
            }
            return [
                try column("SELECT id, \(d.json("detail", "cvssRating", "score")), \(d.json("detail", "title")), \(d.json("detail", "package", "purl")) FROM docs ORDER BY id"),
                try column("SELECT id, \(d.jsonArrayJoined("detail", "aliases", separator: " ")) FROM docs ORDER BY id"),
                // DISTINCT concatenation: the order of the parts is the engine's; compare sorted.
                try c.query("SELECT grp, \(d.groupConcat("name", distinct: true)) FROM docs GROUP BY grp ORDER BY grp", []).map { r in
                    "\(r.string(0) ?? "")=\((r.string(1) ?? "").split(separator: ",").sorted().joined(separator: ","))"
                }.joined(separator: ";"),
                try column("SELECT id FROM docs WHERE \(d.position(of: "?", in: "detail")) > 0 ORDER BY id", [Data(#""sources":["native""#.utf8)]),
                try column("SELECT grp, \(d.maxBytes("detail")) FROM docs GROUP BY grp ORDER BY grp"),
                try column("SELECT id FROM docs WHERE name \(d.like) ? ORDER BY id", ["%A%"]),
                try column("SELECT id FROM docs ORDER BY \(d.orderTerm("score", descending: true)), id"),
                try column("SELECT id FROM docs ORDER BY \(d.orderTerm("score", descending: false)), id"),
                try column("SELECT id FROM docs ORDER BY \(d.orderTerm("name COLLATE NOCASE", descending: false)), id"),
                // A NULL bound where a type cannot be inferred from the first use.
                try column("SELECT COUNT(*) FROM docs WHERE CAST(?1 AS TEXT) IS NULL OR name = ?1", [String?.none]),
                try column("SELECT COUNT(*) FROM docs WHERE CAST(?1 AS TEXT) IS NULL OR name = ?1", ["beta"]),
                // PostgreSQL sums BIGINT as NUMERIC: whole numbers read back as integers.
                try column("SELECT SUM(id), COALESCE(SUM(CASE WHEN id > 10 THEN id END), 0), SUM(score) FROM docs"),
            ]
        }
    }

    /// `each` streams (a cursor on both engines), with arguments, in order, and stops at the
    /// first error the body throws.
    @Test(arguments: TestBackend.available) func eachStreamsEveryRowInOrder(_ backend: TestBackend) async throws {
        let db = try await open(backend)
        try await db.write { c in
            try c.insertMany(
                "INSERT INTO docs (id, grp, name, score, detail)",
                rows: (10..<2_510).map { [$0, "big", "n\($0)", nil as Double?, Data([1])] as [any SQLBindable] })
        }
        let ids = try await db.read { c in
            var ids: [Int] = []
            try c.each("SELECT id FROM docs WHERE grp = ? ORDER BY id", ["big"]) { ids.append($0.int(0) ?? -1) }
            return ids
        }
        #expect(ids == Array(10..<2_510))
        struct Stop: Error {}
        let seen = try await db.read { c in
            var n = 0
            do {
                try c.each("SELECT id FROM docs ORDER BY id", []) { _ in
                    n += 1
                    if n == 3 { throw Stop() }
                }
            } catch is Stop {}
            // The transaction is still usable after the cursor was abandoned.
            return (n, try c.int("SELECT COUNT(*) FROM docs") ?? 0)
        }
        #expect(seen.0 == 3 && seen.1 == 2_504)
    }

    @Test func theHelpersAnswerAlikeOnBothEngines() async throws {
        let sqlite = try await answers(try await open(.sqlite))
        #expect(sqlite[0] == "1|9.8|one|NULL;2|NULL|two|NULL;3|NULL|three|pkg:pypi/x@1;4|NULL|fünf|NULL")
        #expect(sqlite[1] == "1|GHSA-1 PYSEC-2;2|NULL;3|NULL;4|CVE-1")
        #expect(sqlite[2] == "a=Alpha,beta;b=Gamma")
        #expect(sqlite[3] == "1;4")
        #expect(sqlite[4].hasPrefix("a|0x7b22637673735261"))  // {"cvssRa…: row 1's bytes are the greater
        #expect(sqlite[5] == "1;2;4")
        #expect(sqlite[6] == "4;1;3;2")
        #expect(sqlite[7] == "2;3;1;4")
        #expect(sqlite[8] == "3;1;2;4")
        #expect(sqlite[9] == "4")
        #expect(sqlite[10] == "1")
        #expect(sqlite[11] == "10|0|1.5")
        guard TestBackend.available.contains(.postgres) else { return }
        let postgres = try await answers(try await open(.postgres))
        for i in 0..<sqlite.count { #expect(postgres[i] == sqlite[i], "answer \(i)") }
    }
}
