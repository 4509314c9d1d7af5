import Cron
import Foundation
import GRDB
import HTTPTypes
import Scan
import Store

/// VEX in and out (README, VEX): `POST /api/vex` turns a document's statements into
/// image-scoped triage decisions that record their source; `GET /api/images/{id}/vex`
/// writes the decisions that concern an image as OpenVEX or CycloneDX.
struct VEXService: Sendable {
    let s: AppServices

    /// The triage status a VEX status becomes.
    static func triageStatus(_ status: VEXStatus) -> TriageStatus {
        switch status {
        case .notAffected: return .notAffected
        case .affected: return .open
        case .fixed: return .fixed
        case .underInvestigation: return .inProgress
        }
    }

    /// A registry URL's host as purls name it (`127.0.0.1:5000`, `docker.io`).
    static func host(of registryURL: String) -> String {
        let url = URL(string: registryURL)
        var host = url?.host ?? registryURL
        if let port = url?.port { host += ":\(port)" }
        return OCIProduct.normalizedHost(host)
    }

    struct ImportResult: Encodable, Sendable {
        struct Unmatched: Encodable, Sendable { var path: String, vulnerability: String, products: [String] }
        var format: String
        var document: String?
        var author: String?
        /// Statements in the document.
        var statements: Int
        /// Statements that matched at least one image (and were applied to each).
        var applied: Int
        /// Triage decisions written (statement × image × the statement's id and the aliases the image's findings have).
        var decisions: Int
        /// Distinct images the document's products matched.
        var productsMatched: Int
        var unmatched: [Unmatched]

        enum CodingKeys: String, CodingKey {
            case format, document, author, statements, applied, decisions, productsMatched, unmatched
        }
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(format, forKey: .format); try c.encode(document, forKey: .document); try c.encode(author, forKey: .author)
            try c.encode(statements, forKey: .statements); try c.encode(applied, forKey: .applied); try c.encode(decisions, forKey: .decisions)
            try c.encode(productsMatched, forKey: .productsMatched); try c.encode(unmatched, forKey: .unmatched)
        }
    }

    /// Parses and applies a document in one write transaction: every statement or none.
    func importDocument(_ p: Principal, body: Data, ip: String?) async throws -> ImportResult {
        try p.authorize(.developer, reach: .registry, operation: "POST /api/vex")
        if let problem = StrictJSON.problem(in: body) { throw APIError.badRequest(problem) }
        let doc: VEXDocument
        do {
            doc = try VEXDocument.parse(body)
        } catch {
            throw APIError.validation(error.issues.map { ValidationIssue($0.path, $0.message) })
        }
        let now = s.now
        let orgId = p.orgId
        let scope = p.registryScope
        let actor = p.actor
        return try await s.db.write { db in
            let images = try VEXRepository.images(org: orgId, registryId: scope, in: db)
            let hosts = images.map { Self.host(of: $0.registryURL) }
            var digestCache: [String: Set<String>] = [:]
            var matchedImages: Set<String> = []
            var applied = 0, decisions = 0
            var unmatched: [ImportResult.Unmatched] = []
            var touched: Set<String> = []
            for st in doc.statements {
                var targets: [String] = []
                for product in st.products {
                    guard let oci = OCIProduct(purl: product) else { continue }
                    var withDigest: Set<String>?
                    if let d = oci.digest {
                        if digestCache[d] == nil { digestCache[d] = try VEXRepository.images(withDigest: d, org: orgId, in: db) }
                        withDigest = digestCache[d]
                    }
                    var loose = oci
                    loose.digest = nil
                    for (image, host) in zip(images, hosts) {
                        // A digest names the images it was seen on; repository_url (or the name) must agree.
                        if let withDigest, !withDigest.contains(image.id) { continue }
                        if loose.matches(host: host, repository: image.name, digest: nil),
                            !targets.contains(image.id)
                        {
                            targets.append(image.id)
                        }
                    }
                }
                guard !targets.isEmpty else {
                    unmatched.append(.init(path: st.path, vulnerability: st.vulnerability, products: st.products))
                    continue
                }
                applied += 1
                let status = Self.triageStatus(st.status)
                let note = st.note.map { String($0.prefix(4000)) }
                for imageId in targets {
                    // The statement's id, and each of its aliases the image's findings are stored under
                    // (a statement naming a GHSA with the CVE as alias reaches the CVE finding).
                    var ids = [st.vulnerability]
                    for alias in st.aliases where alias != st.vulnerability && !ids.contains(alias) {
                        if try VulnerabilityRepository.found(alias, onImage: imageId, org: orgId, in: db) { ids.append(alias) }
                    }
                    for vulnId in ids {
                        try VulnerabilityRepository.upsertTriage(
                            org: orgId, vulnerabilityId: vulnId, imageId: imageId, status: status.rawValue, note: note, expiresAt: nil,
                            by: actor,
                            vex: .init(
                                justification: st.justification?.rawValue, sourceDocument: doc.id, sourceAuthor: doc.author,
                                subcomponents: st.subcomponents),
                            now: now, in: db)
                        decisions += 1
                        touched.insert(vulnId)
                    }
                    matchedImages.insert(imageId)
                }
            }
            for vulnId in touched.sorted() {
                try ScanRepository.recount(vulnerabilityId: vulnId, orgId: orgId, now: now, in: db)
            }
            try AppServices.audit(
                db, org: orgId, actor: actor, action: "vex.import", target: String((doc.id ?? doc.format.rawValue).prefix(200)), ip: ip, now: now)
            return ImportResult(
                format: doc.format.rawValue, document: doc.id, author: doc.author, statements: doc.statements.count, applied: applied,
                decisions: decisions, productsMatched: matchedImages.count, unmatched: unmatched)
        }
    }

    /// The decisions concerning an image as a VEX document (JSON object).
    func export(_ p: Principal, imageId: String, format: VEXDocument.Format) async throws -> [String: Any] {
        try p.authorize(.viewer, reach: .registry, operation: "GET /api/images/\(imageId)/vex")
        let orgId = p.orgId
        let (image, rows) = try await s.db.read { db -> (VEXRepository.ImageRef?, [(String, TriageDTO)]) in
            guard let image = try VEXRepository.image(imageId, org: orgId, in: db) else { return (nil, []) }
            return (image, try VEXRepository.decisions(imageId: imageId, org: orgId, in: db).map { ($0["vulnerability_id"], TriageDTO(row: $0)) })
        }
        guard let image, p.reaches(registry: image.registryId) else { throw APIError.notFound("Image") }
        guard !rows.isEmpty else {
            throw APIError(.notFound, code: "NOT_FOUND", message: "No triage decision concerns a vulnerability found on this image, so there is nothing to export.")
        }
        let purl = OCIProduct.purl(host: Self.host(of: image.registryURL), repository: image.name, digest: image.latestDigest)
        let decisions = rows.map(\.1)
        let vulnIds = rows.map(\.0)
        let now = Timestamp.format(s.now)
        let serial = "urn:uuid:" + UUID().uuidString.lowercased()
        switch format {
        case .openvex:
            return VEXExport.openVEX(id: serial, author: "harborguard", timestamp: now, product: purl, vulnerabilities: vulnIds, decisions: decisions)
        case .cyclonedx:
            return VEXExport.cycloneDX(
                serial: serial, author: "harborguard", timestamp: now, product: purl, name: image.name, vulnerabilities: vulnIds, decisions: decisions)
        }
    }
}

/// Writes decisions as VEX documents. Each status becomes the VEX status that imports back
/// to it (README, VEX, the mapping table); WONT_FIX and ACKNOWLEDGED, which VEX has no word
/// for, become affected/exploitable and import back as OPEN.
enum VEXExport {
    static func openVEX(id: String, author: String, timestamp: String, product: String, vulnerabilities: [String], decisions: [TriageDTO]) -> [String: Any] {
        var statements: [[String: Any]] = []
        for (vid, d) in zip(vulnerabilities, decisions) {
            var productObject: [String: Any] = ["@id": product, "identifiers": ["purl": product]]
            if !d.subcomponents.isEmpty {
                productObject["subcomponents"] = d.subcomponents.map { ["@id": $0, "identifiers": ["purl": $0]] }
            }
            var st: [String: Any] = ["vulnerability": ["name": vid], "products": [productObject], "timestamp": d.updatedAt]
            switch TriageStatus(rawValue: d.status) ?? .open {
            case .notAffected:
                st["status"] = "not_affected"
                if let j = d.justification {
                    st["justification"] = j
                    if let n = d.note { st["status_notes"] = n }
                } else {
                    st["impact_statement"] = d.note ?? "Marked not affected in harborguard."
                }
            case .fixed:
                st["status"] = "fixed"
                if let n = d.note { st["status_notes"] = n }
            case .inProgress:
                st["status"] = "under_investigation"
                if let n = d.note { st["status_notes"] = n }
            case .wontFix:
                st["status"] = "affected"
                st["action_statement"] = "Will not fix" + (d.note.map { ": \($0)" } ?? ".")
            case .open, .acknowledged:
                st["status"] = "affected"
                st["action_statement"] = d.note ?? "No action decided yet."
            }
            statements.append(st)
        }
        return [
            "@context": VEXDocument.openVEXContext, "@id": id, "author": author, "timestamp": timestamp, "version": 1,
            "tooling": "harborguard", "statements": statements,
        ]
    }

    static func cycloneDX(
        serial: String, author: String, timestamp: String, product: String, name: String, vulnerabilities: [String], decisions: [TriageDTO]
    ) -> [String: Any] {
        var components: [String] = []
        var vulns: [[String: Any]] = []
        for (vid, d) in zip(vulnerabilities, decisions) {
            var analysis: [String: Any] = [:]
            switch TriageStatus(rawValue: d.status) ?? .open {
            case .notAffected:
                analysis["state"] = "not_affected"
                if let j = d.justification.flatMap(VEXJustification.init(rawValue:)) { analysis["justification"] = j.cycloneDX }
            case .fixed: analysis["state"] = "resolved"
            case .inProgress: analysis["state"] = "in_triage"
            case .wontFix:
                analysis["state"] = "exploitable"
                analysis["response"] = ["will_not_fix"]
            case .open, .acknowledged: analysis["state"] = "exploitable"
            }
            if let n = d.note { analysis["detail"] = n }
            var affects: [[String: Any]] = []
            if d.subcomponents.isEmpty {
                affects.append(["ref": product])
            } else {
                for sub in d.subcomponents {
                    if !components.contains(sub) && sub != product { components.append(sub) }
                    affects.append(["ref": sub])
                }
            }
            vulns.append(["id": vid, "analysis": analysis, "affects": affects])
        }
        var doc: [String: Any] = [
            "bomFormat": "CycloneDX", "specVersion": "1.6", "serialNumber": serial, "version": 1,
            "metadata": [
                "timestamp": timestamp,
                "authors": [["name": author]],
                "tools": ["components": [["type": "application", "name": "harborguard"]]],
                "component": ["type": "container", "bom-ref": product, "name": name, "purl": product],
            ] as [String: Any],
            "vulnerabilities": vulns,
        ]
        if !components.isEmpty {
            doc["components"] = components.map { sub -> [String: Any] in
                let base = String(sub.split(separator: "?").first ?? Substring(sub))
                let n = String(base.split(separator: "/").last?.split(separator: "@").first ?? Substring(sub))
                return ["type": "library", "bom-ref": sub, "name": n.removingPercentEncoding ?? n, "purl": sub]
            }
        }
        return doc
    }
}
