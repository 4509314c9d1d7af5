import Cron
import Foundation
import HTTPTypes
import Hummingbird
import Scan
import Store

/// Settings: API keys, members, notification channels and the audit log.
extension ConsoleRoutes {
    // MARK: Settings

    /// Every settings list shows up to 200 rows (the audit log its latest 50).
    static let settingsPage = PageRequest(page: 1, limit: 200)

    func settingsData(_ v: Viewer) async throws -> [String: Any] {
        // Roles above the viewer's own are neither offered nor changeable (the services refuse
        // both). Least privilege first, so the default choice is the lowest role.
        let assignable = Role.allCases.filter { $0 <= v.principal.role }.reversed()
        var data: [String: Any] = [
            "roles": assignable.map(\.rawValue),
            "eventOptions": NotificationEvent.allCases.map(\.rawValue),
            "severityOptions": ChannelSeverity.levels,
            "priorityOptions": Priority.allCases.map(\.rawValue),
        ]
        if v.canAdmin {
            let accounts = AccountService(s: s)
            data["keys"] = try await accounts.keys(v.principal, page: Self.settingsPage).keys
                .filter { $0.revokedAt == nil && $0.kind != "pat" }.map { ConsoleView($0) }
            data["members"] = try await accounts.members(v.principal, page: Self.settingsPage).members.map { m in
                let role = Role(rawValue: m.role) ?? .owner
                return ConsoleView(m, [
                    "manageable": role <= v.principal.role,
                    "roleOptions": assignable.map { ["value": $0.rawValue, "selected": $0 == role] as [String: Any] },
                ])
            }
            data["channels"] = try await NotificationService(s: s).channels(v.principal, page: Self.settingsPage).channels.map {
                ConsoleView($0, ["eventList": $0.events.joined(separator: ", ")])
            }
        }
        if v.canAudit {
            data["audit"] = try await AccountService(s: s).auditLog(v.principal, page: PageRequest(page: 1, limit: 50)).events.map { ConsoleView($0) }
        }
        return data
    }

    @Sendable func settings(_ req: Request, _ ctx: AppRequestContext, _ v: Viewer) async throws -> Response {
        show(req, "settings", title: "Settings", viewer: v, current: "settings", data: try await settingsData(v))
    }

    /// Answers with the page itself (not a redirect): the new key is shown once and never stored in a cookie.
    @Sendable func createKey(_ req: Request, _ ctx: AppRequestContext, _ v: Viewer, _ form: ConsoleForm) async throws -> Response {
        let accounts = AccountService(s: s)
        let made: KeyDTO
        do {
            try accounts.mayCreateKey(v.principal)
            let body = ObjectReader(["name": .string(form["name"] ?? ""), "role": .string(form["role"] ?? "")])
            made = try await accounts.createKey(v.principal, try accounts.keyRequest(body, creator: v.principal, kind: .apiKey), ip: ctx.remoteIP)
        } catch {
            return failed(error, form, fallback: "/console/settings", viewer: v)
        }
        var data = try await settingsData(v)
        data["newKey"] = ["name": made.name, "key": made.key ?? ""]
        return render("settings", title: "Settings", viewer: v, current: "settings", data: data, status: .created)
    }

    @Sendable func revokeKey(_ req: Request, _ ctx: AppRequestContext, _ v: Viewer, _ form: ConsoleForm) async throws -> Response {
        let id = ctx.parameters.get("id") ?? ""
        return await act(form, fallback: "/console/settings", v, done: "API key revoked.") {
            _ = try await AccountService(s: s).revokeKey(v.principal, id: id, ip: ctx.remoteIP)
        }
    }

    @Sendable func createMember(_ req: Request, _ ctx: AppRequestContext, _ v: Viewer, _ form: ConsoleForm) async throws -> Response {
        let body = ObjectReader([
            "username": .string(form["username"] ?? ""), "password": .string(form["password"] ?? ""), "role": .string(form["role"] ?? ""),
        ])
        return await act(form, fallback: "/console/settings", v, done: "Member \(form["username"] ?? "") added.") {
            _ = try await AccountService(s: s).createMember(v.principal, body, ip: ctx.remoteIP)
        }
    }

    @Sendable func updateMember(_ req: Request, _ ctx: AppRequestContext, _ v: Viewer, _ form: ConsoleForm) async throws -> Response {
        let id = ctx.parameters.get("id") ?? ""
        let body = ObjectReader(["role": .string(form["role"] ?? "")])
        return await act(form, fallback: "/console/settings", v) {
            let m = try await AccountService(s: s).updateMember(v.principal, id: id, body, ip: ctx.remoteIP)
            return ("ok", "\(m.username) is now \(m.role).")
        }
    }

    @Sendable func deleteMember(_ req: Request, _ ctx: AppRequestContext, _ v: Viewer, _ form: ConsoleForm) async throws -> Response {
        let id = ctx.parameters.get("id") ?? ""
        return await act(form, fallback: "/console/settings", v, done: "Member removed.") {
            try await AccountService(s: s).deleteMember(v.principal, id: id, ip: ctx.remoteIP)
        }
    }

    @Sendable func createChannel(_ req: Request, _ ctx: AppRequestContext, _ v: Viewer, _ form: ConsoleForm) async throws -> Response {
        let input = ObjectReader(Self.channelBody(form))
        return await act(form, fallback: "/console/settings", v, done: "Channel \(form["name"] ?? "") added.") {
            _ = try await NotificationService(s: s).create(v.principal, input, ip: ctx.remoteIP)
        }
    }

    /// The API's channel body from the settings form: only the chosen type's fields.
    static func channelBody(_ form: ConsoleForm) -> [String: JSONValue] {
        let type = form.value("type") ?? "webhook"
        var body: [String: JSONValue] = [
            "name": .string(form["name"] ?? ""), "type": .string(type),
            "events": .array((form.lists["events"] ?? []).map(JSONValue.string)),
        ]
        if let severity = form.value("minSeverity") { body["minSeverity"] = .string(severity) }
        if let priority = form.value("minPriority") { body["minPriority"] = .string(priority) }
        if type != "webhook", let delivery = form.value("delivery") { body["delivery"] = .string(delivery) }
        if type == "email" {
            var email: [String: JSONValue] = [
                "host": .string(form.value("emailHost") ?? ""), "from": .string(form.value("emailFrom") ?? ""),
                "security": .string(form.value("emailSecurity") ?? "starttls"),
                "to": .array((form.value("emailTo") ?? "").split(separator: ",").map {
                    .string($0.trimmingCharacters(in: .whitespaces))
                }),
            ]
            if let port = form.value("emailPort") { email["port"] = Double(port).map(JSONValue.number) ?? .string(port) }
            if let user = form.value("emailUsername") { email["username"] = .string(user) }
            if let password = form.value("emailPassword") { email["password"] = .string(password) }
            body["email"] = .object(email)
        } else {
            body["url"] = .string(form.value("url") ?? "")
            if type == "webhook", let secret = form.value("secret") { body["secret"] = .string(secret) }
        }
        return body
    }

    @Sendable func testChannel(_ req: Request, _ ctx: AppRequestContext, _ v: Viewer, _ form: ConsoleForm) async throws -> Response {
        let id = ctx.parameters.get("id") ?? ""
        return await act(form, fallback: "/console/settings", v, done: "Test notification sent.") {
            _ = try await NotificationService(s: s).test(v.principal, id: id, client: crawler.clients.notifications)
        }
    }

    @Sendable func deleteChannel(_ req: Request, _ ctx: AppRequestContext, _ v: Viewer, _ form: ConsoleForm) async throws -> Response {
        let id = ctx.parameters.get("id") ?? ""
        return await act(form, fallback: "/console/settings", v, done: "Channel deleted.") {
            _ = try await NotificationService(s: s).delete(v.principal, id: id, ip: ctx.remoteIP)
        }
    }
}
