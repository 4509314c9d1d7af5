import Cron
import Foundation
import HTTPTypes
import Hummingbird
import Scan
import Store

/// The registries pages and their form actions.
extension ConsoleRoutes {
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
    func registryFormData(_ reg: RegistryDTO?, submitted: ConsoleForm? = nil) -> [String: Any] {
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
        let chosen = reg?.scanning.scanners ?? ["trivy", "grype", "syft"]
        let schedule = reg?.scanning.schedule ?? "daily"
        return [
            "editing": reg != nil,
            "form": [
                "name": reg?.name ?? "", "url": reg?.url ?? "", "insecure": reg?.insecure ?? false,
                "hasCredentials": reg?.hasCredentials ?? false,
                "includeTags": reg?.scanning.tagInclude ?? "", "excludeTags": reg?.scanning.tagExclude ?? "",
            ] as [String: Any],
            "providers": Self.providers.map { ["value": $0, "label": $0, "selected": $0 == "DOCKER_REGISTRY"] as [String: Any] },
            "schedules": Self.schedules.map { ["value": $0, "selected": $0 == schedule] as [String: Any] },
            "scanners": Self.allScanners.map { n in ["value": n, "selected": chosen.contains(n)] as [String: Any] },
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

    /// A sensor registry's sensor status (`SensorService`), nil for a cloud registry.
    func sensorStatus(_ reg: RegistryDTO, _ v: Viewer) async -> SensorStatusReply? {
        guard reg.scanMethod == ScanMethod.sensor.rawValue else { return nil }
        return try? await SensorService(s: s, crawler: crawler).status(v.principal, registryId: reg.id)
    }

    @Sendable func registries(_ req: Request, _ ctx: AppRequestContext, _ v: Viewer) async throws -> Response {
        var data = registryFormData(nil)
        data["registries"] = try await registryRows(v, req, ctx)
        return show(req, "registries", title: "Registries", viewer: v, current: "registries", data: data)
    }

    /// The first 200 registries (oldest first) with their sensor's status.
    func registryRows(_ v: Viewer, _ req: Request, _ ctx: AppRequestContext) async throws -> [ConsoleView] {
        let base = s.config.baseURL
        var rows: [ConsoleView] = []
        for record in try await RegistryService(s: s).list(v.principal, Self.registryOptionsQuery).registries {
            let dto = RegistryDTO(record, baseURL: base)
            var extra: [String: Any] = [:]
            if let sensor = await sensorStatus(dto, v) { extra["sensor"] = sensor }
            rows.append(ConsoleView(dto, extra))
        }
        return rows
    }

    @Sendable func registry(_ req: Request, _ ctx: AppRequestContext, _ v: Viewer) async throws -> Response {
        let id = ctx.parameters.get("id") ?? ""
        guard let record = try? await RegistryService(s: s).registry(v.principal, id: id) else { return notFound(v, "No such registry.") }
        let reg = RegistryDTO(record, baseURL: s.config.baseURL)
        var data = registryFormData(reg)
        data["registry"] = ConsoleView(reg)
        data["sensor"] = await sensorStatus(reg, v)
        return show(req, "registry", title: reg.name, viewer: v, current: "registries", data: data)
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
        let registries = RegistryService(s: s)
        let made: (record: RegistryRecord, sensorKey: String?, webhookToken: String)
        do {
            try v.principal.authorize(.admin, operation: "POST /api/registries")
            made = try await registries.createAuthorized(
                v.principal, try RegistryValidation.create(ObjectReader(body)), crawler: crawler, ip: ctx.remoteIP)
        } catch {
            let (status, text) = Self.errorText(error)
            guard status == .badRequest || status == .conflict else { return failed(error, form, fallback: "/console/registries", viewer: v) }
            // Back to the form with what was typed (but the secrets) and the reasons.
            var data = registryFormData(nil, submitted: form)
            data["registries"] = try await registryRows(v, req, ctx)
            return render(
                "registries", title: "Registries", viewer: v, current: "registries", data: data,
                flash: Flash(kind: "error", text: text), status: status)
        }
        var text = "Registry \(made.record.name) added."
        if let key = made.sensorKey { text += " Sensor API key (shown once): \(key)" }
        text += " Webhook token (shown once): \(made.webhookToken)"
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
        let input = ObjectReader(body)
        return await act(form, fallback: back, v) {
            let registries = RegistryService(s: s)
            try v.principal.authorize(.admin, reach: .registry, operation: "PUT /api/registries/\(id)")
            let existing = try await registries.load(v.principal, id: id)
            let saved = try await registries.update(
                v.principal, existing: existing, try RegistryValidation.update(input, existing: existing), ip: ctx.remoteIP)
            guard saved.credentialsDropped else { return ("ok", "Registry saved.") }
            return ("ok", "Registry saved. The saved credentials were cleared because the URL changed or Insecure was turned on; enter them again if the registry needs them.")
        }
    }

    @Sendable func syncRegistry(_ req: Request, _ ctx: AppRequestContext, _ v: Viewer, _ form: ConsoleForm) async throws -> Response {
        let id = ctx.parameters.get("id") ?? ""
        return await act(form, fallback: "/console/registries", v) {
            let queued = try await RegistryService(s: s).sync(v.principal, id: id, ip: ctx.remoteIP)
            return ("ok", "Sync \(queued.status) (job \(queued.jobId)).")
        }
    }

    @Sendable func testRegistry(_ req: Request, _ ctx: AppRequestContext, _ v: Viewer, _ form: ConsoleForm) async throws -> Response {
        let id = ctx.parameters.get("id") ?? ""
        let body = ObjectReader(["registryId": .string(id)])
        return await act(form, fallback: "/console/registries", v) {
            let o = try await RegistryService(s: s).testConnection(v.principal, body, crawler: crawler)
            var text = "Connection test: \(o.status) in \(o.latencyMs) ms."
            if !o.message.isEmpty { text += " \(o.message)" }
            if !o.repositories.isEmpty { text += " Repositories: \(o.repositories.joined(separator: ", "))." }
            return (o.ok ? "ok" : "error", text)
        }
    }

    @Sendable func deleteRegistry(_ req: Request, _ ctx: AppRequestContext, _ v: Viewer, _ form: ConsoleForm) async throws -> Response {
        let id = ctx.parameters.get("id") ?? ""
        do {
            _ = try await RegistryService(s: s).delete(v.principal, id: id, ip: ctx.remoteIP)
        } catch {
            return failed(error, form, fallback: "/console/registries", viewer: v)
        }
        return ConsoleHTTP.redirect("/console/registries", cookies: [flashCookie(Flash(kind: "ok", text: "Registry deleted."))])
    }
}
