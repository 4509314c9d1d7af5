import Cron
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Mustache
import NIOCore
import Scan
import Store

/// The web console: server-rendered pages under /console. Each page resolves the signed-in
/// user's session to a `Principal` and calls the services the API calls (`ImageService`,
/// `RegistryService`, `AccountService`, `NotificationService`, `SensorService`), so roles and
/// registry scope are the services' checks; templates read typed values (`ConsoleView`), and
/// the scan, finding and vulnerability templates the services' DTOs in the API's JSON shape
/// (`ConsoleJSON.plain`). Every form carries a CSRF token.
struct ConsoleRoutes: Sendable {
    let s: AppServices
    /// For what the services need from it: an AWS ECR registry's endpoint on create, connection
    /// tests, the outgoing client of a channel's test send.
    let crawler: Crawler
    let library: MustacheLibrary?

    static let flashCookie = "hg-console-flash"
    static let loginCookie = "hg-console-login"

    init(s: AppServices, crawler: Crawler) {
        self.s = s
        self.crawler = crawler
        library = try? ConsoleTemplates.library()
        if library == nil { s.logger.error("console templates failed to parse") }
    }

    func register(_ router: Router<AppRequestContext>) {
        router.get("/") { _, _ in ConsoleHTTP.redirect("/console") }
        let c = router.group("console")
        c.get("assets/app.css") { _, _ in asset(ConsoleAssets.css, type: "text/css; charset=utf-8") }
        c.get("assets/app.js") { _, _ in asset(ConsoleAssets.js, type: "text/javascript; charset=utf-8") }
        c.get("sign-in", use: signInPage)
        c.post("sign-in", use: signIn)
        c.post("sign-out", use: action { req, ctx, v, _ in try await signOut(req, ctx, v) })
        c.get("", use: page(overview))
        c.get("registries", use: page(registries))
        c.post("registries", use: action(createRegistry))
        c.get("registries/:id", use: page(registry))
        c.post("registries/:id", use: action(updateRegistry))
        c.post("registries/:id/sync", use: action(syncRegistry))
        c.post("registries/:id/test", use: action(testRegistry))
        c.post("registries/:id/delete", use: action(deleteRegistry))
        c.get("images", use: page(images))
        c.get("images/:id", use: page(image))
        c.get("vulnerabilities", use: page(vulnerabilities))
        c.post("vulnerabilities/:id/triage", use: action(triage))
        c.post("vex", use: action(importVEX))
        c.get("reports/posture", use: page(postureReport))
        c.get("reports/images/:id", use: page(imageReport))
        c.get("policies", use: page(policies))
        c.post("policies", use: action(createPolicy))
        c.get("policies/new", use: page(newPolicy))
        c.get("policies/:id", use: page(policy))
        c.post("policies/:id", use: action(updatePolicy))
        c.post("policies/:id/enabled", use: action(setPolicyEnabled))
        c.post("policies/:id/delete", use: action(deletePolicy))
        c.get("scans", use: page(scans))
        c.post("scans", use: action(createScan))
        c.post("scans/:id/cancel", use: action(cancelScan))
        c.get("settings", use: page(settings))
        c.post("settings/api-keys", use: action(createKey))
        c.post("settings/api-keys/:id/revoke", use: action(revokeKey))
        c.post("settings/members", use: action(createMember))
        c.post("settings/members/:id", use: action(updateMember))
        c.post("settings/members/:id/delete", use: action(deleteMember))
        c.post("settings/channels", use: action(createChannel))
        c.post("settings/channels/:id/test", use: action(testChannel))
        c.post("settings/channels/:id/delete", use: action(deleteChannel))
    }

    func asset(_ text: String, type: String) -> Response {
        var h = HTTPFields()
        h[.contentType] = type
        h[.cacheControl] = "public, max-age=31536000, immutable"
        h[.xContentTypeOptions] = "nosniff"
        return Response(status: .ok, headers: h, body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }

    // MARK: Sessions, pages and actions

    /// The signed-in user behind the session cookie (API keys do not sign in to the console).
    struct Viewer: Sendable {
        var principal: Principal
        var token: String
        var csrf: String
        var username: String
        var canAdmin: Bool { principal.role >= .admin }
        var canDevelop: Bool { principal.role >= .developer }
        var canAudit: Bool { principal.role >= .admin || principal.role == .auditor }
    }

    func viewer(_ req: Request) async -> Viewer? {
        guard let token = req.cookies[s.sessionCookieName]?.value,
            Tokens.isWellFormed(token, prefix: Tokens.sessionPrefix),
            let p = try? await s.principal(forToken: token), p.kind == .session
        else { return nil }
        let name = p.actor.hasPrefix("user:") ? String(p.actor.dropFirst(5)) : p.actor
        return Viewer(principal: p, token: token, csrf: ConsoleCSRF.token(forSession: token), username: name)
    }

    typealias PageHandler = @Sendable (Request, AppRequestContext, Viewer) async throws -> Response
    typealias ActionHandler = @Sendable (Request, AppRequestContext, Viewer, ConsoleForm) async throws -> Response

    func page(_ handler: @escaping PageHandler) -> @Sendable (Request, AppRequestContext) async throws -> Response {
        { req, ctx in
            guard let v = await viewer(req) else {
                var target = req.uri.path
                if let q = req.uri.query, !q.isEmpty { target += "?" + q }
                return ConsoleHTTP.redirect("/console/sign-in?next=" + ConsoleHTTP.percentEncode(target))
            }
            return try await handler(req, ctx, v)
        }
    }

    /// A form post: signed in, and carrying this session's CSRF token, or refused with 403.
    func action(_ handler: @escaping ActionHandler) -> @Sendable (Request, AppRequestContext) async throws -> Response {
        { req, ctx in
            guard let v = await viewer(req) else { return ConsoleHTTP.redirect("/console/sign-in") }
            let form = try await ConsoleForm.read(req)
            guard ConsoleCSRF.isValid(form[ConsoleCSRF.field], session: v.token) else {
                return render(
                    "error", title: "Form refused", viewer: v, current: nil,
                    data: ["message": "This form did not come from your console session (missing or wrong CSRF token). Reload the page and try again."],
                    status: .forbidden)
            }
            return try await handler(req, ctx, v, form)
        }
    }

    struct Flash: Codable {
        var kind: String
        var text: String
    }

    func flashCookie(_ f: Flash) -> String {
        let data = (try? JSONEncoder().encode(f)) ?? Data()
        let value = data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
        return consoleCookie(Self.flashCookie, value, maxAge: 60, sameSite: .lax)
    }

    /// A console cookie (Hummingbird's `Cookie`): `Path=/console`, `HttpOnly`, `Secure` under
    /// TLS; `maxAge` nil lasts the browser session, 0 clears it.
    func consoleCookie(_ name: String, _ value: String, maxAge: Int?, sameSite: Cookie.SameSite) -> String {
        Cookie(name: name, value: value, maxAge: maxAge, path: "/console", secure: s.config.tls, httpOnly: true, sameSite: sameSite)
            .description
    }

    func readFlash(_ req: Request) -> Flash? {
        guard var v = req.cookies[Self.flashCookie]?.value, !v.isEmpty else { return nil }
        v = v.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while v.count % 4 != 0 { v += "=" }
        guard let d = Data(base64Encoded: v) else { return nil }
        return try? JSONDecoder().decode(Flash.self, from: d)
    }

    /// After an action: back to `next` (a console path) with a one-time notice.
    func done(_ form: ConsoleForm, fallback: String, _ kind: String, _ text: String) -> Response {
        ConsoleHTTP.redirect(
            ConsoleHTTP.localPath(form["next"], fallback: fallback), cookies: [flashCookie(Flash(kind: kind, text: text))])
    }

    /// A service's refusal as the API would state it: the message plus one line per field issue.
    static func errorText(_ error: any Error) -> (status: HTTPResponse.Status, text: String) {
        let e = error as? APIError ?? APIError.internalError
        var text = e.message
        for issue in e.issues { text += " \(issue.path): \(issue.message)." }
        return (e.status, text)
    }

    /// A service's refusal: 403 is shown as a page with that status; anything else as a notice.
    func failed(_ error: any Error, _ form: ConsoleForm, fallback: String, viewer v: Viewer) -> Response {
        let (status, text) = Self.errorText(error)
        if status == .forbidden {
            return render("error", title: "Not allowed", viewer: v, current: nil, data: ["message": "Your role (\(v.principal.role.rawValue)) does not allow this. \(text)"], status: .forbidden)
        }
        return done(form, fallback: fallback, "error", text)
    }

    /// A form action calling a service: on success back to `next` (or `fallback`) with the
    /// notice `body` answers; on refusal, `failed`.
    func act(
        _ form: ConsoleForm, fallback: String, _ v: Viewer, _ body: () async throws -> (kind: String, text: String)
    ) async -> Response {
        do {
            let notice = try await body()
            return done(form, fallback: fallback, notice.kind, notice.text)
        } catch {
            return failed(error, form, fallback: fallback, viewer: v)
        }
    }

    /// `act` with a fixed notice.
    func act(_ form: ConsoleForm, fallback: String, _ v: Viewer, done text: String, _ body: () async throws -> Void) async -> Response {
        await act(form, fallback: fallback, v) {
            try await body()
            return ("ok", text)
        }
    }

    static let nav: [(String, String, String)] = [
        ("overview", "Overview", "/console"), ("registries", "Registries", "/console/registries"),
        ("images", "Images", "/console/images"), ("vulnerabilities", "Vulnerabilities", "/console/vulnerabilities"),
        ("policies", "Policies", "/console/policies"), ("scans", "Scans", "/console/scans"), ("settings", "Settings", "/console/settings"),
    ]

    func render(
        _ template: String, title: String, viewer v: Viewer?, current: String?, data: Any, flash: Flash? = nil,
        status: HTTPResponse.Status = .ok, cookies: [String] = [], csrf: String? = nil
    ) -> Response {
        guard let library else {
            return ConsoleHTTP.html("<!doctype html><title>Console unavailable</title><p>The console templates failed to load.</p>", status: .internalServerError)
        }
        // The page's view model with what every page reads (the CSRF token, the viewer's roles).
        var common: [String: Any] = ["csrf": csrf ?? v?.csrf ?? ""]
        if let v {
            common["canAdmin"] = v.canAdmin
            common["canDevelop"] = v.canDevelop
            common["canAudit"] = v.canAudit
        }
        let body = library.render(ConsoleView(data, common), withTemplate: template) ?? ""
        var layout: [String: Any] = ["title": title, "body": body, "assetVersion": ConsoleAssets.version, "csrf": common["csrf"] ?? ""]
        if let v {
            layout["user"] = [
                "username": v.username, "role": v.principal.role.rawValue,
                "nav": Self.nav.map { ["href": $0.2, "label": $0.1, "current": $0.0 == current] as [String: Any] },
            ] as [String: Any]
        }
        if let flash {
            layout["flash"] = ["kind": flash.kind, "text": flash.text, "ariaRole": flash.kind == "error" ? "alert" : "status"]
        }
        return ConsoleHTTP.html(library.render(layout, withTemplate: "layout") ?? "", status: status, cookies: cookies)
    }

    /// A page render that shows and clears the pending notice.
    func show(
        _ req: Request, _ template: String, title: String, viewer v: Viewer, current: String, data: Any
    ) -> Response {
        let flash = readFlash(req)
        let clear = flash == nil ? [] : [consoleCookie(Self.flashCookie, "", maxAge: 0, sameSite: .lax)]
        return render(template, title: title, viewer: v, current: current, data: data, flash: flash, cookies: clear)
    }

    static func query(_ pairs: [(String, String?)]) -> String {
        let parts = pairs.compactMap { k, v in v.flatMap { $0.isEmpty ? nil : "\(k)=\(ConsoleHTTP.percentEncode($0))" } }
        return parts.isEmpty ? "" : "?" + parts.joined(separator: "&")
    }

    static func param(_ req: Request, _ name: String) -> String? {
        guard let v = req.uri.queryParameters.get(name), !v.isEmpty else { return nil }
        return v
    }

    // MARK: Sign-in and sign-out

    @Sendable func signInPage(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        if await viewer(req) != nil { return ConsoleHTTP.redirect("/console") }
        return signInForm(req, next: Self.param(req, "next"), username: "", flash: readFlash(req), status: .ok)
    }

    /// The sign-in form's CSRF token is a random value also set as a cookie (there is no session yet).
    func signInForm(_ req: Request, next: String?, username: String, flash: Flash?, status: HTTPResponse.Status) -> Response {
        let token = Tokens.generate(prefix: "")
        let cookie = consoleCookie(Self.loginCookie, token, maxAge: nil, sameSite: .strict)
        var cookies = [cookie]
        if flash != nil { cookies.append(consoleCookie(Self.flashCookie, "", maxAge: 0, sameSite: .lax)) }
        return render(
            "sign-in", title: "Sign in", viewer: nil, current: nil,
            data: ["next": ConsoleHTTP.localPath(next, fallback: "/console"), "username": username], flash: flash, status: status,
            cookies: cookies, csrf: token)
    }

    @Sendable func signIn(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let form = try await ConsoleForm.read(req)
        let expected = req.cookies[Self.loginCookie]?.value ?? ""
        guard !expected.isEmpty, let sent = form[ConsoleCSRF.field],
            Tokens.constantTimeEquals(Data(sent.utf8), Data(expected.utf8))
        else {
            return signInForm(
                req, next: form["next"], username: form["username"] ?? "",
                flash: Flash(kind: "error", text: "The sign-in form expired. Please try again."), status: .forbidden)
        }
        let body = ObjectReader(["username": .string(form["username"] ?? ""), "password": .string(form["password"] ?? "")])
        let signed: AccountService.SignedIn
        do {
            signed = try await AccountService(s: s).signIn(body, ip: ctx.remoteIP)
        } catch {
            let (status, message) = Self.errorText(error)
            let text = status == .unauthorized ? "Wrong username or password." : message
            return signInForm(req, next: form["next"], username: form["username"] ?? "", flash: Flash(kind: "error", text: text), status: status)
        }
        let cookies = [s.sessionCookie(token: signed.token).description, consoleCookie(Self.loginCookie, "", maxAge: 0, sameSite: .strict)]
        return ConsoleHTTP.redirect(ConsoleHTTP.localPath(form["next"], fallback: "/console"), cookies: cookies)
    }

    func signOut(_ req: Request, _ ctx: AppRequestContext, _ v: Viewer) async throws -> Response {
        var cookies: [String] = []
        if (try? await AccountService(s: s).signOut(v.principal, sessionToken: v.token, ip: ctx.remoteIP)) != nil {
            cookies.append(s.clearedSessionCookie.description)
        }
        cookies.append(flashCookie(Flash(kind: "ok", text: "You are signed out.")))
        return ConsoleHTTP.redirect("/console/sign-in", cookies: cookies)
    }
}
