import Cron
import Foundation
import HTTPTypes
import Hummingbird
import Scan

/// Settings: API keys, members, notification channels and the audit log.
extension ConsoleRoutes {
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
