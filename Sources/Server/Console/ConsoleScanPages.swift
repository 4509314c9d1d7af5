import Cron
import Foundation
import HTTPTypes
import Hummingbird
import Scan
import Store

/// The vulnerabilities and scans pages and their form actions (through the scans API until `ScanService` lands).
extension ConsoleRoutes {
    // MARK: Vulnerabilities

    static let triageStatuses = ["OPEN", "ACKNOWLEDGED", "IN_PROGRESS", "FIXED", "WONT_FIX"]

    @Sendable func vulnerabilities(_ req: Request, _ ctx: AppRequestContext, _ v: Viewer) async throws -> Response {
        let severity = Self.param(req, "severity").flatMap { s in Self.severityFilter.first { $0.0 == s }?.0 } ?? ""
        let status = Self.param(req, "status").flatMap { s in Self.triageStatuses.first { $0 == s } }
        let cve = Self.param(req, "cveId"), package = Self.param(req, "package")
        let page = max(Int(Self.param(req, "page") ?? "") ?? 1, 1)
        let filters: [(String, String?)] = [("severity", severity), ("status", status), ("cveId", cve), ("package", package)]
        let r = try await get("/api/vulnerabilities" + Self.query([("limit", "50"), ("page", String(page))] + filters), v, req, ctx)
        guard r.ok else { return failed(r, ConsoleForm(), fallback: "/console/vulnerabilities", viewer: v) }
        var here = "/console/vulnerabilities" + Self.query(filters + [("page", page > 1 ? String(page) : nil)])
        if here.count > 1000 { here = "/console/vulnerabilities" }
        let rows = r.list.enumerated().map { i, row -> [String: Any] in
            var m = row
            let current = row["status"] as? String ?? "OPEN"
            let pkg = row["package"] as? [String: Any] ?? [:]
            m["index"] = i
            m["triageId"] = row["vulnerabilityId"] ?? ""
            m["triageStatus"] = current
            m["packageName"] = pkg["name"] ?? ""
            m["packageVersion"] = (pkg["versions"] as? [Any] ?? []).compactMap { $0 as? String }.joined(separator: ", ")
            m["statusOptions"] = Self.triageStatuses.map { ["value": $0, "selected": $0 == current] as [String: Any] }
            m["returnTo"] = here
            return m
        }
        let pages = r.json.field("meta").field("totalPages").int ?? 1
        func link(_ p: Int) -> String { "/console/vulnerabilities" + Self.query(filters + [("page", String(p))]) }
        let pager = Self.pager(page: page, pages: pages, link: link)
        return show(
            req, "vulnerabilities", title: "Vulnerabilities", viewer: v, current: "vulnerabilities",
            data: [
                "pager": pager, "rows": rows, "total": r.total, "cveId": cve ?? "", "package": package ?? "",
                "severityOptions": Self.severityFilter.map { ["value": $0.0, "label": $0.1, "selected": $0.0 == severity] as [String: Any] },
                "statusFilter": [["value": "", "label": "any", "selected": status == nil] as [String: Any]]
                    + Self.triageStatuses.map { ["value": $0, "label": $0, "selected": $0 == status] as [String: Any] },
            ])
    }

    @Sendable func triage(_ req: Request, _ ctx: AppRequestContext, _ v: Viewer, _ form: ConsoleForm) async throws -> Response {
        let id = ctx.parameters.get("id") ?? ""
        var body: [String: JSONValue] = ["status": .string(form["status"] ?? ""), "scope": .string("organization")]
        if let note = form.value("note") { body["note"] = .string(note) }
        if let exp = form.value("expiresAt") { body["expiresAt"] = .string(exp.count == 10 ? exp + "T23:59:59Z" : exp) }
        return try await act(
            .put, "/api/vulnerabilities/\(ConsoleHTTP.percentEncode(id))/triage", .object(body), form: form,
            fallback: "/console/vulnerabilities", v, req, ctx, done: "Triage saved: \(form["status"] ?? "").")
    }

    // MARK: Scans

    @Sendable func scans(_ req: Request, _ ctx: AppRequestContext, _ v: Viewer) async throws -> Response {
        let running = try await get("/api/scans?status=running&limit=100", v, req, ctx).list
        let queued = try await get("/api/scans?status=queued&limit=100", v, req, ctx).list
        let page = max(Int(Self.param(req, "page") ?? "") ?? 1, 1)
        let all = try await get("/api/scans?limit=50&page=\(page)", v, req, ctx)
        let pager = Self.pager(page: page, pages: all.json.field("meta").field("totalPages").int ?? 1) { "/console/scans?page=\($0)" }
        let history = all.list.filter {
            !["queued", "running"].contains($0["status"] as? String ?? "")
        }.map { s -> [String: Any] in
            var m = s
            if let ms = s["durationMs"] as? Int { m["seconds"] = String(format: "%.1f", Double(ms) / 1000) }
            return m
        }
        return show(req, "scans", title: "Scans", viewer: v, current: "scans", data: ["active": running + queued, "history": history, "pager": pager])
    }

    @Sendable func createScan(_ req: Request, _ ctx: AppRequestContext, _ v: Viewer, _ form: ConsoleForm) async throws -> Response {
        try await act(
            .post, "/api/scans", .object(["image": .string(form.value("image") ?? "")]), form: form, fallback: "/console/scans", v, req, ctx,
            done: "Scan of \(form["image"] ?? "") queued.")
    }

    @Sendable func cancelScan(_ req: Request, _ ctx: AppRequestContext, _ v: Viewer, _ form: ConsoleForm) async throws -> Response {
        let id = ctx.parameters.get("id") ?? ""
        return try await act(
            .post, "/api/scans/\(ConsoleHTTP.percentEncode(id))/cancel", form: form, fallback: "/console/scans", v, req, ctx, done: "Scan cancelled.")
    }
}
