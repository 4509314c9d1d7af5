import Cron
import Foundation
import HTTPTypes
import Hummingbird
import Scan
import Store

/// The vulnerabilities and scans pages and their form actions, on `VulnerabilityService` and `ScanService`.
extension ConsoleRoutes {
    // MARK: Vulnerabilities

    static let triageStatuses = ["OPEN", "ACKNOWLEDGED", "IN_PROGRESS", "FIXED", "WONT_FIX", "NOT_AFFECTED"]

    @Sendable func vulnerabilities(_ req: Request, _ ctx: AppRequestContext, _ v: Viewer) async throws -> Response {
        let severity = Self.param(req, "severity").flatMap { s in Self.severityFilter.first { $0.0 == s }?.0 } ?? ""
        let status = Self.param(req, "status").flatMap { s in Self.triageStatuses.first { $0 == s } }
        let cve = Self.param(req, "cveId"), package = Self.param(req, "package")
        let page = max(Int(Self.param(req, "page") ?? "") ?? 1, 1)
        let filters: [(String, String?)] = [("severity", severity), ("status", status), ("cveId", cve), ("package", package)]
        var query = VulnerabilityRepository.ListQuery(org: v.principal.orgId, now: s.now, limit: 50, offset: (page - 1) * 50)
        if !severity.isEmpty { query.severityRanks = try ScanRoutes.severityRanks(severity) }
        query.status = status
        query.cveId = cve
        query.package = package
        let found: (rows: [VulnerabilityDTO], total: Int)
        do {
            found = try await VulnerabilityService(s: s).list(v.principal, query)
        } catch {
            return failed(error, ConsoleForm(), fallback: "/console/vulnerabilities", viewer: v)
        }
        var here = "/console/vulnerabilities" + Self.query(filters + [("page", page > 1 ? String(page) : nil)])
        if here.count > 1000 { here = "/console/vulnerabilities" }
        let rows = found.rows.enumerated().map { i, dto -> [String: Any] in
            var m = ConsoleJSON.object(dto)
            let current = dto.status
            m["index"] = i
            m["triageId"] = dto.vulnerabilityId
            m["triageStatus"] = current
            m["packageName"] = dto.package.name
            m["packageVersion"] = dto.package.versions.joined(separator: ", ")
            m["statusOptions"] = Self.triageStatuses.map { ["value": $0, "selected": $0 == current] as [String: Any] }
            let justification = dto.triage?.justification
            m["justificationOptions"] = VEXJustification.allCases.map { ["value": $0.rawValue, "selected": $0.rawValue == justification] as [String: Any] }
            m["returnTo"] = here
            return m
        }
        let pages = max(1, (found.total + 49) / 50)
        func link(_ p: Int) -> String { "/console/vulnerabilities" + Self.query(filters + [("page", String(p))]) }
        let pager = Self.pager(page: page, pages: pages, link: link)
        return show(
            req, "vulnerabilities", title: "Vulnerabilities", viewer: v, current: "vulnerabilities",
            data: [
                "pager": pager, "rows": rows, "total": found.total, "cveId": cve ?? "", "package": package ?? "",
                "csvHref": "/api/reports/vulnerabilities.csv" + Self.query(filters),
                "severityOptions": Self.severityFilter.map { ["value": $0.0, "label": $0.1, "selected": $0.0 == severity] as [String: Any] },
                "statusFilter": [["value": "", "label": "any", "selected": status == nil] as [String: Any]]
                    + Self.triageStatuses.map { ["value": $0, "label": $0, "selected": $0 == status] as [String: Any] },
            ])
    }

    @Sendable func triage(_ req: Request, _ ctx: AppRequestContext, _ v: Viewer, _ form: ConsoleForm) async throws -> Response {
        let id = ctx.parameters.get("id") ?? ""
        var body: [String: JSONValue] = ["status": .string(form["status"] ?? ""), "scope": .string("organization")]
        if let note = form.value("note") { body["note"] = .string(note) }
        if form["status"] == TriageStatus.notAffected.rawValue, let j = form.value("justification") { body["justification"] = .string(j) }
        if let exp = form.value("expiresAt") { body["expiresAt"] = .string(exp.count == 10 ? exp + "T23:59:59Z" : exp) }
        return await act(form, fallback: "/console/vulnerabilities", v, done: "Triage saved: \(form["status"] ?? "").") {
            _ = try await VulnerabilityService(s: s).triage(v.principal, vulnerabilityId: id, body: ObjectReader(body), ip: ctx.remoteIP)
        }
    }

    /// The vulnerabilities page's VEX import: the document pasted, or read from a file by the
    /// script into the same field, imported as `POST /api/vex` would.
    @Sendable func importVEX(_ req: Request, _ ctx: AppRequestContext, _ v: Viewer, _ form: ConsoleForm) async throws -> Response {
        await act(form, fallback: "/console/vulnerabilities", v) {
            guard let text = form.value("document") else { throw APIError.validation("document", "Choose a VEX file or paste a document.") }
            let r = try await VEXService(s: s).importDocument(v.principal, body: Data(text.utf8), ip: ctx.remoteIP)
            let unmatched = r.unmatched.isEmpty ? "" : " \(r.unmatched.count) matched no image."
            return ("ok", "VEX imported (\(r.format)): \(r.applied) of \(r.statements) statements applied, \(r.decisions) decisions on \(r.productsMatched) images.\(unmatched)")
        }
    }

    // MARK: Scans

    @Sendable func scans(_ req: Request, _ ctx: AppRequestContext, _ v: Viewer) async throws -> Response {
        let service = ScanService(s: s)
        let page = max(Int(Self.param(req, "page") ?? "") ?? 1, 1)
        let running: [ScanDTO], queued: [ScanDTO], all: (scans: [ScanDTO], total: Int)
        do {
            running = try await service.list(v.principal, page: PageRequest(page: 1, limit: 100), status: .running).scans
            queued = try await service.list(v.principal, page: PageRequest(page: 1, limit: 100), status: .queued).scans
            all = try await service.list(v.principal, page: PageRequest(page: page, limit: 50))
        } catch {
            return failed(error, ConsoleForm(), fallback: "/console", viewer: v)
        }
        let pager = Self.pager(page: page, pages: max(1, (all.total + 49) / 50)) { "/console/scans?page=\($0)" }
        let history = all.scans.filter { !["queued", "running"].contains($0.status) }.map { s -> [String: Any] in
            var m = ConsoleJSON.object(s)
            if let ms = s.durationMs { m["seconds"] = String(format: "%.1f", Double(ms) / 1000) }
            return m
        }
        let active = (running + queued).map { ConsoleJSON.object($0) }
        return show(req, "scans", title: "Scans", viewer: v, current: "scans", data: ["active": active, "history": history, "pager": pager])
    }

    @Sendable func createScan(_ req: Request, _ ctx: AppRequestContext, _ v: Viewer, _ form: ConsoleForm) async throws -> Response {
        await act(form, fallback: "/console/scans", v, done: "Scan of \(form["image"] ?? "") queued.") {
            let service = ScanService(s: s)
            try service.admit(v.principal)
            _ = try await service.create(v.principal, body: ObjectReader(["image": .string(form.value("image") ?? "")]), ip: ctx.remoteIP)
        }
    }

    @Sendable func cancelScan(_ req: Request, _ ctx: AppRequestContext, _ v: Viewer, _ form: ConsoleForm) async throws -> Response {
        let id = ctx.parameters.get("id") ?? ""
        return await act(form, fallback: "/console/scans", v, done: "Scan cancelled.") {
            _ = try await ScanService(s: s).cancel(v.principal, id: id, ip: ctx.remoteIP)
        }
    }
}
