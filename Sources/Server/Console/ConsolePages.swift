import Cron
import Foundation
import HTTPTypes
import Hummingbird
import Scan
import Store

/// The console's pages and form actions; each reads or writes through the JSON API.
extension ConsoleRoutes {
    // MARK: Overview

    @Sendable func overview(_ req: Request, _ ctx: AppRequestContext, _ v: Viewer) async throws -> Response {
        let regs = try await get("/api/registries?limit=200", v, req, ctx).list
        // Every image (up to 10 000) for the totals; the API pages by 200.
        var imgs: [[String: Any]] = []
        for page in 1...50 {
            let r = try await get("/api/images?limit=200&sort=riskScore:desc&page=\(page)", v, req, ctx)
            imgs += r.list
            if r.json.field("meta").field("hasNext") != .bool(true) { break }
        }
        var scans: [[String: Any]] = []
        let now = s.now
        let monthAgo = Timestamp.format(now.addingTimeInterval(-31 * 86_400))
        for page in 1...5 {
            let r = try await get("/api/scans?limit=200&page=\(page)", v, req, ctx)
            scans += r.list
            let oldest = r.list.last?["queuedAt"] as? String ?? ""
            if r.json.field("meta").field("hasNext") != .bool(true) || oldest < monthAgo { break }
        }
        let keys = ["critical", "high", "medium", "low", "unknown"]
        var totals = [String: Int]()
        for img in imgs {
            let vulns = img["vulnerabilities"] as? [String: Any] ?? [:]
            for k in keys { totals[k, default: 0] += vulns[k] as? Int ?? 0 }
        }
        let severities = keys.map { ["key": $0, "label": $0.capitalized, "count": totals[$0] ?? 0] as [String: Any] }
        let byRegistry = regs.map { reg -> [String: Any] in
            let id = reg["id"] as? String ?? ""
            let mine = imgs.filter { $0["registryId"] as? String == id }
            func sum(_ k: String) -> Int { mine.reduce(0) { $0 + ((($1["vulnerabilities"] as? [String: Any])?[k] as? Int) ?? 0) } }
            return [
                "id": id, "name": reg["name"] ?? "", "health": (reg["health"] as? [String: Any])?["status"] ?? "unknown",
                "images": reg["imageCount"] ?? mine.count, "critical": sum("critical"), "high": sum("high"),
                "maxRisk": mine.map { $0["riskScore"] as? Int ?? 0 }.max() ?? 0,
            ]
        }.sorted { ($0["maxRisk"] as? Int ?? 0) > ($1["maxRisk"] as? Int ?? 0) }
        let dayAgo = Timestamp.format(now.addingTimeInterval(-86_400))
        let recent = scans.filter { ($0["queuedAt"] as? String ?? "") >= dayAgo }
        let recentTiles = ["completed", "failed", "running", "queued"].map { (st: String) -> [String: Any] in
            ["label": st, "count": recent.filter { $0["status"] as? String == st }.count] as [String: Any]
        }
        let trend = ConsoleChart.trend(scans: scans, now: now)
        let last = trend.last.map { $0.critical + $0.high } ?? 0
        return show(
            req, "overview", title: "Overview", viewer: v, current: "overview",
            data: [
                "severities": severities, "registries": byRegistry, "recent": recentTiles,
                "images": Array(imgs.prefix(10)).map(Self.withGrade), "chart": ConsoleChart.svg(trend),
                "trendSummary": "Today: \(trend.last?.critical ?? 0) critical and \(trend.last?.high ?? 0) high open in the latest scan of each image (\(last) in all).",
            ])
    }

    /// A letter for the risk score: A 0, B under 10, C under 25, D under 50, E under 75, F from 75.
    static func grade(_ risk: Int) -> String {
        switch risk {
        case ...0: "A"
        case ..<10: "B"
        case ..<25: "C"
        case ..<50: "D"
        case ..<75: "E"
        default: "F"
        }
    }

    static func withGrade(_ img: [String: Any]) -> [String: Any] {
        var m = img
        m["grade"] = grade(img["riskScore"] as? Int ?? 0)
        return m
    }

    // MARK: Registries

    static let providers = [
        "DOCKER_REGISTRY", "DOCKER_HUB", "GHCR", "AWS_ECR", "AZURE_ACR", "GOOGLE_GAR", "GITLAB", "HARBOR", "JFROG", "QUAY", "NEXUS",
        "CUSTOM",
    ]

    /// Credential payloads by type, with the providers that accept each (the README's Registries table).
    static let credentialKinds: [(kind: String, label: String, providers: [String], fields: [(String, String, String)])] = [
        ("none", "None (anonymous)", ["DOCKER_HUB", "NEXUS", "DOCKER_REGISTRY", "CUSTOM", "GITLAB", "QUAY", "HARBOR", "JFROG", "GHCR"], []),
        (
            "UsernamePassword", "Username and password",
            ["DOCKER_HUB", "AZURE_ACR", "GITLAB", "HARBOR", "JFROG", "QUAY", "NEXUS", "DOCKER_REGISTRY", "CUSTOM"],
            [("username", "Username", "text"), ("password", "Password", "password")]
        ),
        ("UsernamePat", "Username and access token", ["DOCKER_HUB", "GHCR", "GITLAB"], [("username", "Username", "text"), ("pat", "Access token", "password")]),
        (
            "AwsEcr", "AWS access key", ["AWS_ECR"],
            [("accessKeyId", "Access key ID", "text"), ("secretAccessKey", "Secret access key", "password"), ("region", "Region", "text"),
             ("sessionToken", "Session token (optional)", "password")]
        ),
        ("AzureAcr", "Azure service principal", ["AZURE_ACR"], [("tenantId", "Tenant ID", "text"), ("clientId", "Client ID", "text"), ("clientSecret", "Client secret", "password")]),
        ("GoogleGar", "Google service account key", ["GOOGLE_GAR"], [("serviceAccountKey", "Service account key (JSON)", "multiline")]),
        ("HarborRobot", "Harbor robot account", ["HARBOR"], [("robotName", "Robot name", "text"), ("robotSecret", "Robot secret", "password")]),
        ("JfrogIdentityToken", "JFrog identity token", ["JFROG"], [("username", "Username", "text"), ("identityToken", "Identity token", "password")]),
    ]

    static let allScanners = ["native", "trivy", "grype", "syft"]
    static let schedules = ["manual", "on_push", "daily", "weekly"]

    /// The form's values: a saved registry's when editing, the submitted ones after a refusal
    /// (secrets are never sent back), the defaults otherwise.
    func registryFormData(_ reg: [String: Any]?, submitted: ConsoleForm? = nil) -> [String: Any] {
        if let f = submitted {
            var data = registryFormData(nil)
            let chosen = f.lists["scanners"] ?? []
            data["form"] = [
                "name": f["name"] ?? "", "url": f["url"] ?? "", "insecure": f["insecure"] == "true",
                "includeTags": f["includeTags"] ?? "", "excludeTags": f["excludeTags"] ?? "",
            ] as [String: Any]
            data["providers"] = Self.providers.map { ["value": $0, "label": $0, "selected": $0 == f["provider"]] as [String: Any] }
            data["schedules"] = Self.schedules.map { ["value": $0, "selected": $0 == (f["schedule"] ?? "daily")] as [String: Any] }
            data["scanners"] = Self.allScanners.map { ["value": $0, "selected": chosen.contains($0)] as [String: Any] }
            return data
        }
        let scanning = reg?["scanning"] as? [String: Any] ?? [:]
        let chosen = scanning["scanners"] as? [Any] ?? ["trivy", "grype", "syft"]
        let schedule = scanning["schedule"] as? String ?? "daily"
        return [
            "editing": reg != nil,
            "form": [
                "name": reg?["name"] ?? "", "url": reg?["url"] ?? "", "insecure": reg?["insecure"] as? Bool ?? false,
                "hasCredentials": reg?["hasCredentials"] as? Bool ?? false,
                "includeTags": scanning["tagInclude"] ?? "", "excludeTags": scanning["tagExclude"] ?? "",
            ] as [String: Any],
            "providers": Self.providers.map { ["value": $0, "label": $0, "selected": $0 == "DOCKER_REGISTRY"] as [String: Any] },
            "schedules": Self.schedules.map { ["value": $0, "selected": $0 == schedule] as [String: Any] },
            "scanners": Self.allScanners.map { n in ["value": n, "selected": chosen.contains { $0 as? String == n }] as [String: Any] },
            "credentialKinds": Self.credentialKinds.map { k in
                [
                    "value": k.kind, "label": k.label, "providers": k.providers.joined(separator: " "),
                    "fields": k.fields.map { f in
                        ["kind": k.kind, "name": f.0, "label": f.1, "type": f.2, "multiline": f.2 == "multiline"] as [String: Any]
                    },
                ] as [String: Any]
            },
        ]
    }

    func sensorStatus(_ reg: [String: Any], _ v: Viewer, _ req: Request, _ ctx: AppRequestContext) async throws -> [String: Any]? {
        guard reg["scanMethod"] as? String == "sensor", let id = reg["id"] as? String else { return nil }
        let r = try await get("/api/registries/\(ConsoleHTTP.percentEncode(id))/sensor-status", v, req, ctx)
        return r.ok ? r.object : nil
    }

    @Sendable func registries(_ req: Request, _ ctx: AppRequestContext, _ v: Viewer) async throws -> Response {
        var data = registryFormData(nil)
        data["registries"] = try await registryRows(v, req, ctx)
        return show(req, "registries", title: "Registries", viewer: v, current: "registries", data: data)
    }

    func registryRows(_ v: Viewer, _ req: Request, _ ctx: AppRequestContext) async throws -> [[String: Any]] {
        var regs = try await get("/api/registries?limit=200", v, req, ctx).list
        for i in regs.indices { regs[i]["sensor"] = try await sensorStatus(regs[i], v, req, ctx) }
        return regs
    }

    @Sendable func registry(_ req: Request, _ ctx: AppRequestContext, _ v: Viewer) async throws -> Response {
        let id = ctx.parameters.get("id") ?? ""
        let r = try await get("/api/registries/\(ConsoleHTTP.percentEncode(id))", v, req, ctx)
        guard r.ok else { return notFound(v, "No such registry.") }
        let reg = r.object
        var data = registryFormData(reg)
        data["registry"] = reg
        data["sensor"] = try await sensorStatus(reg, v, req, ctx)
        return show(req, "registry", title: reg["name"] as? String ?? "Registry", viewer: v, current: "registries", data: data)
    }

    func notFound(_ v: Viewer, _ message: String) -> Response {
        render("error", title: "Not found", viewer: v, current: nil, data: ["message": message], status: .notFound)
    }

    /// The credentials object of the chosen type from its `cred.<type>.<field>` inputs.
    static func credentials(_ form: ConsoleForm) -> JSONValue? {
        guard let kind = form.value("credentialKind"), let spec = credentialKinds.first(where: { $0.kind == kind }), kind != "none"
        else { return nil }
        var o: [String: JSONValue] = [:]
        for f in spec.fields {
            if let v = form["cred.\(kind).\(f.0)"], !v.isEmpty { o[f.0] = .string(f.0 == "serviceAccountKey" ? v : v.trimmingCharacters(in: .whitespaces)) }
        }
        return .object(o)
    }

    @Sendable func createRegistry(_ req: Request, _ ctx: AppRequestContext, _ v: Viewer, _ form: ConsoleForm) async throws -> Response {
        var body: [String: JSONValue] = [
            "name": .string(form["name"] ?? ""), "provider": .string(form["provider"] ?? ""),
            "insecure": .bool(form["insecure"] == "true"), "scanMethod": .string(form.value("scanMethod") ?? "cloud"),
            "schedule": .string(form.value("schedule") ?? "daily"),
            "scanners": .array((form.lists["scanners"] ?? []).map(JSONValue.string)),
        ]
        if let url = form.value("url") { body["url"] = .string(url) }
        if let t = form.value("includeTags") { body["includeTags"] = .string(t) }
        if let t = form.value("excludeTags") { body["excludeTags"] = .string(t) }
        if let c = Self.credentials(form) { body["credentials"] = c }
        let r = try await send(.post, "/api/registries", .object(body), v, req, ctx)
        if r.status == .badRequest || r.status == .conflict {
            // Back to the form with what was typed (but the secrets) and the API's reasons.
            var data = registryFormData(nil, submitted: form)
            data["registries"] = try await registryRows(v, req, ctx)
            return render(
                "registries", title: "Registries", viewer: v, current: "registries", data: data,
                flash: Flash(kind: "error", text: r.errorText), status: r.status)
        }
        guard r.ok else { return failed(r, form, fallback: "/console/registries", viewer: v) }
        var text = "Registry \(r.object["name"] as? String ?? "") added."
        if let key = r.object["sensorApiKey"] as? String { text += " Sensor API key (shown once): \(key)" }
        if let token = r.object["webhookToken"] as? String { text += " Webhook token (shown once): \(token)" }
        return done(form, fallback: "/console/registries", "ok", text)
    }

    @Sendable func updateRegistry(_ req: Request, _ ctx: AppRequestContext, _ v: Viewer, _ form: ConsoleForm) async throws -> Response {
        let id = ctx.parameters.get("id") ?? ""
        var scanning: [String: JSONValue] = [
            "schedule": .string(form.value("schedule") ?? "daily"),
            "scanners": .array((form.lists["scanners"] ?? []).map(JSONValue.string)),
            "tagInclude": .string(form.value("includeTags") ?? ""), "tagExclude": .string(form.value("excludeTags") ?? ""),
        ]
        if form.value("includeTags") == nil { scanning["tagInclude"] = .string("*") }
        var body: [String: JSONValue] = [
            "name": .string(form["name"] ?? ""), "insecure": .bool(form["insecure"] == "true"), "scanning": .object(scanning),
        ]
        if let url = form.value("url") { body["url"] = .string(url) }
        if form.value("credentialKind") != "keep", let c = Self.credentials(form) { body["credentials"] = c }
        let back = "/console/registries/\(ConsoleHTTP.percentEncode(id))"
        return try await act(.put, "/api/registries/\(ConsoleHTTP.percentEncode(id))", .object(body), form: form, fallback: back, v, req, ctx) { r in
            guard r.object["credentialsDropped"] as? Bool == true else { return ("ok", "Registry saved.") }
            return ("ok", "Registry saved. The saved credentials were cleared because the URL changed or Insecure was turned on; enter them again if the registry needs them.")
        }
    }

    @Sendable func syncRegistry(_ req: Request, _ ctx: AppRequestContext, _ v: Viewer, _ form: ConsoleForm) async throws -> Response {
        let id = ctx.parameters.get("id") ?? ""
        return try await act(.post, "/api/registries/\(ConsoleHTTP.percentEncode(id))/sync", form: form, fallback: "/console/registries", v, req, ctx) {
            ("ok", "Sync \($0.object["status"] as? String ?? "queued") (job \($0.object["jobId"] as? String ?? "")).")
        }
    }

    @Sendable func testRegistry(_ req: Request, _ ctx: AppRequestContext, _ v: Viewer, _ form: ConsoleForm) async throws -> Response {
        let id = ctx.parameters.get("id") ?? ""
        let body: JSONValue = .object(["registryId": .string(id)])
        return try await act(.post, "/api/registries/test-connection", body, form: form, fallback: "/console/registries", v, req, ctx) { r in
            let o = r.object
            var text = "Connection test: \(o["status"] as? String ?? "?") in \(o["latencyMs"] as? Int ?? 0) ms."
            if let m = o["message"] as? String, !m.isEmpty { text += " \(m)" }
            if let repos = o["repositories"] as? [Any], !repos.isEmpty { text += " Repositories: \(repos.compactMap { $0 as? String }.joined(separator: ", "))." }
            return (o["ok"] as? Bool ?? false ? "ok" : "error", text)
        }
    }

    @Sendable func deleteRegistry(_ req: Request, _ ctx: AppRequestContext, _ v: Viewer, _ form: ConsoleForm) async throws -> Response {
        let id = ctx.parameters.get("id") ?? ""
        let r = try await send(.delete, "/api/registries/\(ConsoleHTTP.percentEncode(id))", nil, v, req, ctx)
        guard r.ok else { return failed(r, form, fallback: "/console/registries", viewer: v) }
        return ConsoleHTTP.redirect("/console/registries", cookies: [flashCookie(Flash(kind: "ok", text: "Registry deleted."))])
    }

    // MARK: Images

    static let imageSorts = [("riskScore:desc", "Risk, highest first"), ("name:asc", "Name"), ("createdAt:desc", "Newest first")]

    @Sendable func images(_ req: Request, _ ctx: AppRequestContext, _ v: Viewer) async throws -> Response {
        let search = Self.param(req, "search"), registryId = Self.param(req, "registryId")
        let sort = Self.param(req, "sort").flatMap { s in Self.imageSorts.first { $0.0 == s }?.0 } ?? "riskScore:desc"
        let page = Int(Self.param(req, "page") ?? "") ?? 1
        let r = try await get(
            "/api/images" + Self.query([("limit", "50"), ("page", String(max(page, 1))), ("search", search), ("registryId", registryId), ("sort", sort)]),
            v, req, ctx)
        let regs = try await get("/api/registries?limit=200", v, req, ctx).list
        let filters: [(String, String?)] = [("search", search), ("registryId", registryId), ("sort", sort)]
        let pager = Self.pager(page: max(page, 1), pages: r.json.field("meta").field("totalPages").int ?? 1) {
            "/console/images" + Self.query(filters + [("page", String($0))])
        }
        return show(
            req, "images", title: "Images", viewer: v, current: "images",
            data: [
                "pager": pager, "images": r.list.map(Self.withGrade), "total": r.total, "search": search ?? "",
                "registryOptions": regs.map { ["id": $0["id"] ?? "", "name": $0["name"] ?? "", "selected": $0["id"] as? String == registryId] as [String: Any] },
                "sortOptions": Self.imageSorts.map { ["value": $0.0, "label": $0.1, "selected": $0.0 == sort] as [String: Any] },
            ])
    }

    static let severityFilter = [("", "any"), ("critical", "critical"), ("critical,high", "critical and high"), ("high", "high"), ("medium", "medium"), ("low", "low")]

    @Sendable func image(_ req: Request, _ ctx: AppRequestContext, _ v: Viewer) async throws -> Response {
        let id = ctx.parameters.get("id") ?? ""
        let r = try await get("/api/images/\(ConsoleHTTP.percentEncode(id))", v, req, ctx)
        guard r.ok else { return notFound(v, "No such image.") }
        let img = r.object
        let fullName = img["fullName"] as? String ?? ""
        let tags = (img["tags"] as? [Any] ?? []).compactMap { $0 as? [String: Any] }
        let latest = tags.filter { $0["lastScanId"] != nil }.max { ($0["lastScannedAt"] as? String ?? "") < ($1["lastScannedAt"] as? String ?? "") }
        let scanId = Self.param(req, "scan") ?? latest?["lastScanId"] as? String
        var data: [String: Any] = ["image": img, "grade": Self.grade(img["riskScore"] as? Int ?? 0)]
        let regId = img["registryId"] as? String ?? ""
        let reg = try await get("/api/registries/\(ConsoleHTTP.percentEncode(regId))", v, req, ctx)
        data["registryName"] = reg.object["name"] as? String ?? regId
        data["tags"] = tags.map { t -> [String: Any] in
            var m = t
            m["reference"] = "\(fullName):\(t["name"] as? String ?? "")"
            m["current"] = scanId != nil && t["lastScanId"] as? String == scanId
            return m
        }
        if let scanId {
            let sid = ConsoleHTTP.percentEncode(scanId)
            let sr = try await get("/api/scans/\(sid)", v, req, ctx)
            if sr.ok, sr.object["imageId"] as? String == id {
                var scan = sr.object
                let severity = Self.param(req, "severity").flatMap { s in Self.severityFilter.first { $0.0 == s }?.0 } ?? ""
                let fixable = Self.param(req, "fixable") == "true"
                let package = Self.param(req, "package")
                let findings = try await get(
                    "/api/scans/\(sid)/findings"
                        + Self.query([("limit", "200"), ("severity", severity), ("fixable", fixable ? "true" : nil), ("package", package)]),
                    v, req, ctx)
                scan["findings"] = findings.list
                var packages: [[String: Any]] = []
                var packageTotal = 0
                for page in 1...10 {
                    let pr = try await get("/api/scans/\(sid)/packages?limit=200&page=\(page)", v, req, ctx)
                    packages += pr.list
                    packageTotal = pr.total
                    if pr.json.field("meta").field("hasNext") != .bool(true) { break }
                }
                var layerOrder: [String] = []
                var perLayer: [String: Int] = [:]
                for p in packages {
                    let layer = p["layer"] as? String ?? "unknown"
                    if perLayer[layer] == nil { layerOrder.append(layer) }
                    perLayer[layer, default: 0] += 1
                }
                scan["layers"] = layerOrder.enumerated().map { ["index": $0.offset + 1, "digest": $0.element, "packages": perLayer[$0.element] ?? 0] as [String: Any] }
                scan["layerTotals"] = sr.object["layers"]
                scan["packages"] = Array(packages.prefix(200))
                scan["packageTotal"] = packageTotal
                scan["packagesTruncated"] = packageTotal > 200
                scan["severityOptions"] = Self.severityFilter.map { ["value": $0.0, "label": $0.1, "selected": $0.0 == severity] as [String: Any] }
                scan["fixableOnly"] = fixable
                scan["packageFilter"] = package ?? ""
                data["scan"] = scan
            }
        }
        return show(req, "image", title: fullName, viewer: v, current: "images", data: data)
    }

    /// Previous/next links for a paged list; false (no pager) for a single page.
    static func pager(page: Int, pages: Int, link: (Int) -> String) -> Any {
        guard pages > 1 else { return false }
        // Absent, not empty: a section on an empty string would still render.
        var p: [String: Any] = ["page": page, "pages": pages]
        if page > 1 { p["prev"] = link(page - 1) }
        if page < pages { p["next"] = link(page + 1) }
        return p
    }

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

    // MARK: Settings

    func settingsData(_ v: Viewer, _ req: Request, _ ctx: AppRequestContext) async throws -> [String: Any] {
        // Roles above the viewer's own are neither offered nor changeable (the API refuses
        // both). Least privilege first, so the default choice is the lowest role.
        let assignable = Role.allCases.filter { $0 <= v.principal.role }.reversed()
        var data: [String: Any] = [
            "roles": assignable.map(\.rawValue),
            "eventOptions": NotificationEvent.allCases.map(\.rawValue),
        ]
        if v.canAdmin {
            data["keys"] = try await get("/api/api-keys?limit=200", v, req, ctx).list.filter { $0["revokedAt"] == nil && $0["kind"] as? String != "pat" }
            data["members"] = try await get("/api/members?limit=200", v, req, ctx).list.map { m -> [String: Any] in
                var row = m
                let role = Role(rawValue: m["role"] as? String ?? "") ?? .owner
                row["manageable"] = role <= v.principal.role
                row["roleOptions"] = assignable.map { ["value": $0.rawValue, "selected": $0 == role] as [String: Any] }
                return row
            }
            data["channels"] = try await get("/api/notification-channels?limit=200", v, req, ctx).list.map { c -> [String: Any] in
                var m = c
                m["eventList"] = (c["events"] as? [Any] ?? []).compactMap { $0 as? String }.joined(separator: ", ")
                return m
            }
        }
        if v.canAudit { data["audit"] = try await get("/api/audit-log?limit=50", v, req, ctx).list }
        return data
    }

    @Sendable func settings(_ req: Request, _ ctx: AppRequestContext, _ v: Viewer) async throws -> Response {
        show(req, "settings", title: "Settings", viewer: v, current: "settings", data: try await settingsData(v, req, ctx))
    }

    /// Answers with the page itself (not a redirect): the new key is shown once and never stored in a cookie.
    @Sendable func createKey(_ req: Request, _ ctx: AppRequestContext, _ v: Viewer, _ form: ConsoleForm) async throws -> Response {
        let body: JSONValue = .object(["name": .string(form["name"] ?? ""), "role": .string(form["role"] ?? "")])
        let r = try await send(.post, "/api/api-keys", body, v, req, ctx)
        guard r.ok else { return failed(r, form, fallback: "/console/settings", viewer: v) }
        var data = try await settingsData(v, req, ctx)
        data["newKey"] = ["name": r.object["name"] ?? "", "key": r.object["key"] ?? ""]
        return render("settings", title: "Settings", viewer: v, current: "settings", data: data, status: .created)
    }

    @Sendable func revokeKey(_ req: Request, _ ctx: AppRequestContext, _ v: Viewer, _ form: ConsoleForm) async throws -> Response {
        let id = ctx.parameters.get("id") ?? ""
        return try await act(
            .delete, "/api/api-keys/\(ConsoleHTTP.percentEncode(id))", form: form, fallback: "/console/settings", v, req, ctx, done: "API key revoked.")
    }

    @Sendable func createMember(_ req: Request, _ ctx: AppRequestContext, _ v: Viewer, _ form: ConsoleForm) async throws -> Response {
        let body: JSONValue = .object([
            "username": .string(form["username"] ?? ""), "password": .string(form["password"] ?? ""), "role": .string(form["role"] ?? ""),
        ])
        return try await act(.post, "/api/members", body, form: form, fallback: "/console/settings", v, req, ctx, done: "Member \(form["username"] ?? "") added.")
    }

    @Sendable func updateMember(_ req: Request, _ ctx: AppRequestContext, _ v: Viewer, _ form: ConsoleForm) async throws -> Response {
        let id = ctx.parameters.get("id") ?? ""
        return try await act(
            .put, "/api/members/\(ConsoleHTTP.percentEncode(id))", .object(["role": .string(form["role"] ?? "")]), form: form,
            fallback: "/console/settings", v, req, ctx
        ) { ("ok", "\($0.object["username"] as? String ?? "Member") is now \($0.object["role"] as? String ?? "").") }
    }

    @Sendable func deleteMember(_ req: Request, _ ctx: AppRequestContext, _ v: Viewer, _ form: ConsoleForm) async throws -> Response {
        let id = ctx.parameters.get("id") ?? ""
        return try await act(
            .delete, "/api/members/\(ConsoleHTTP.percentEncode(id))", form: form, fallback: "/console/settings", v, req, ctx,
            done: "Member removed.")
    }

    @Sendable func createChannel(_ req: Request, _ ctx: AppRequestContext, _ v: Viewer, _ form: ConsoleForm) async throws -> Response {
        var body: [String: JSONValue] = [
            "name": .string(form["name"] ?? ""), "type": .string("webhook"), "url": .string(form.value("url") ?? ""),
            "events": .array((form.lists["events"] ?? []).map(JSONValue.string)),
        ]
        if let secret = form.value("secret") { body["secret"] = .string(secret) }
        return try await act(
            .post, "/api/notification-channels", .object(body), form: form, fallback: "/console/settings", v, req, ctx,
            done: "Channel \(form["name"] ?? "") added.")
    }

    @Sendable func testChannel(_ req: Request, _ ctx: AppRequestContext, _ v: Viewer, _ form: ConsoleForm) async throws -> Response {
        let id = ctx.parameters.get("id") ?? ""
        return try await act(
            .post, "/api/notification-channels/\(ConsoleHTTP.percentEncode(id))/test", form: form, fallback: "/console/settings", v, req, ctx,
            done: "Test notification sent.")
    }

    @Sendable func deleteChannel(_ req: Request, _ ctx: AppRequestContext, _ v: Viewer, _ form: ConsoleForm) async throws -> Response {
        let id = ctx.parameters.get("id") ?? ""
        return try await act(
            .delete, "/api/notification-channels/\(ConsoleHTTP.percentEncode(id))", form: form, fallback: "/console/settings", v, req, ctx,
            done: "Channel deleted.")
    }
}
