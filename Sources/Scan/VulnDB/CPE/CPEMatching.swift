import Foundation
import GRDB

/// Writes one CVE's configurations and their product index in an NVD import's transaction.
struct CPEConfigurationWriter {
    let deleteProducts: Statement
    let insertProduct: Statement
    let upsert: Statement
    let delete: Statement

    init(_ db: Database) throws {
        deleteProducts = try db.makeStatement(sql: "DELETE FROM nvd_cpe_product WHERE cve = ?")
        insertProduct = try db.makeStatement(sql: "INSERT OR IGNORE INTO nvd_cpe_product(vendor, product, cve) VALUES (?, ?, ?)")
        upsert = try db.makeStatement(sql: "INSERT OR REPLACE INTO nvd_configuration(cve, configurations) VALUES (?, ?)")
        delete = try db.makeStatement(sql: "DELETE FROM nvd_configuration WHERE cve = ?")
    }

    func replace(_ cve: String, with configurations: [CPEConfiguration]) throws {
        try deleteProducts.execute(arguments: [cve])
        var products: Set<CPEProduct> = []
        for c in configurations { products.formUnion(c.vulnerableProducts) }
        guard !products.isEmpty else {
            try delete.execute(arguments: [cve])
            return
        }
        try upsert.execute(arguments: [cve, Data(CPEConfiguration.json(configurations))])
        for p in products.sorted() { try insertProduct.execute(arguments: [p.vendor, p.product, cve]) }
    }
}

extension VulnerabilityDatabase {
    /// CVEs whose vulnerable criteria name one of `products`.
    static func cves(_ db: Database, forProducts products: Set<CPEProduct>) throws -> Set<String> {
        var out: Set<String> = []
        let statement = try db.makeStatement(sql: "SELECT cve FROM nvd_cpe_product WHERE vendor = ? AND product = ?")
        for p in products.sorted() {
            let rows = try String.fetchCursor(statement, arguments: [p.vendor, p.product])
            while let cve = try rows.next() { out.insert(cve) }
        }
        return out
    }

    /// The stored configurations of `cves`, and NVD's description of each.
    static func nvdConfigurations(_ db: Database, cves: Set<String>) throws -> [String: (configurations: [CPEConfiguration], description: String?)] {
        var out: [String: (configurations: [CPEConfiguration], description: String?)] = [:]
        let decoder = JSONDecoder()
        struct Description: Decodable { var description: String? }
        try inChunks(cves) { chunk, marks in
            let rows = try Row.fetchCursor(
                db,
                sql: """
                    SELECT c.cve, c.configurations, n.record FROM nvd_configuration c
                    LEFT JOIN nvd_cve n ON n.id = c.cve WHERE c.cve IN (\(marks))
                    """, arguments: StatementArguments(chunk))
            while let row = try rows.next() {
                let configurations = try decoder.decode([CPEConfiguration].self, from: row[1] as Data)
                let description = (row[2] as Data?).flatMap { try? decoder.decode(Description.self, from: $0).description }
                out[row[0]] = (configurations, description)
            }
        }
        return out
    }
}

/// Matching of software that no package manager records (runtimes found from their own
/// files, which carry CPE names) against NVD's CPE configurations.
enum CPEMatching {
    /// The source a CPE finding names in `matchedBy`.
    static let source = "nvd-cpe"

    static func findings(_ inventory: ImageInventory, in db: Database) throws -> [Finding] {
        // Software with CPE names, each name parsed once.
        var software: [(package: InstalledPackage, names: [CPEName])] = []
        var products: Set<CPEProduct> = []
        for p in inventory.packages {
            guard let cpes = p.cpes, !cpes.isEmpty else { continue }
            let names = cpes.compactMap(CPEName.init)
            guard !names.isEmpty else { continue }
            software.append((p, names))
            for n in names { products.insert(CPEProduct(vendor: n.vendor, product: n.product)) }
        }
        guard !software.isEmpty else { return [] }
        let cves = try VulnerabilityDatabase.cves(db, forProducts: products)
        guard !cves.isEmpty else { return [] }
        let records = try VulnerabilityDatabase.nvdConfigurations(db, cves: cves)
        let osPlatform = CPEConfiguration.platform(os: inventory.os)
        var findings: [Finding] = []
        for (index, s) in software.enumerated() {
            // The platform of this software: the OS, the kernel, everything else found.
            var platform = osPlatform
            for (other, o) in software.enumerated() where other != index { platform += o.names }
            let mine = Set(s.names.map { CPEProduct(vendor: $0.vendor, product: $0.product) })
            for cve in records.keys.sorted() {
                guard let record = records[cve] else { continue }
                guard record.configurations.contains(where: { !$0.vulnerableProducts.isDisjoint(with: mine) }) else { continue }
                var evaluation: CPEEvaluation?
                for name in s.names {
                    if let e = CPEConfiguration.evaluate(record.configurations, software: name, platform: platform) {
                        evaluation = CPEEvaluation(criteria: (evaluation?.criteria ?? []) + e.criteria)
                    }
                }
                guard let evaluation else { continue }
                let fix = evaluation.fixedVersion(above: s.package.version)
                var f = Finding(
                    vulnerabilityId: cve, aliases: [], severity: .unknown, cvss: nil,
                    package: FindingPackage(
                        name: s.package.name, version: s.package.version, type: s.package.type, purl: s.package.purl,
                        layer: s.package.layer),
                    fixedVersion: fix, fixState: fix != nil ? .fixed : .unknown, title: record.description.map(title),
                    references: ["https://nvd.nist.gov/vuln/detail/\(cve)"], sources: ["native"], advisoryIds: [cve])
                f.matchedBy = source
                findings.append(f)
            }
        }
        return findings
    }

    /// The first sentence of NVD's description, at most 200 characters.
    static func title(_ description: String) -> String {
        var text = description.trimmingCharacters(in: .whitespacesAndNewlines)
        if let end = text.range(of: ". ") { text = String(text[..<end.lowerBound]) + "." }
        if text.count > 200 { text = String(text.prefix(199)) + "…" }
        return text
    }
}
