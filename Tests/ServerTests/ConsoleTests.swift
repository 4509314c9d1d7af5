import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Server
import Store
import Testing

/// The web console through the router: sign-in with its own CSRF cookie, session-bound CSRF
/// tokens on every form, role refusals from the API's own checks, escaping, security headers.
@Suite struct ConsoleTests {
    struct Page: Sendable {
        var status: HTTPResponse.Status
        var headers: HTTPFields
        var text: String
        var cookies: [String] { headers[values: .setCookie] }
        var location: String? { headers[.location] }
        var csrf: String? {
            guard let r = text.range(of: #"name="_csrf" value=""#) else { return nil }
            return String(text[r.upperBound...].prefix { $0 != "\"" })
        }
    }

    static func page(
        _ c: any TestClientProtocol, _ method: HTTPRequest.Method, _ uri: String, cookie: String? = nil, form: [String: String]? = nil,
        headers extra: HTTPFields = [:]
    ) async throws -> Page {
        var headers = extra
        if let cookie { headers[.cookie] = cookie }
        var body: ByteBuffer?
        if let form {
            var allowed = CharacterSet.alphanumerics
            allowed.insert(charactersIn: "-._~")
            let text = form.map { "\($0.key)=\($0.value.addingPercentEncoding(withAllowedCharacters: allowed) ?? "")" }.joined(separator: "&")
            body = ByteBuffer(string: text)
            headers[.contentType] = "application/x-www-form-urlencoded"
        }
        return try await c.execute(uri: uri, method: method, headers: headers, body: body) {
            Page(status: $0.status, headers: $0.headers, text: String(buffer: $0.body))
        }
    }

    static func cookieValue(_ cookies: [String], _ name: String) -> String? {
        for c in cookies {
            let pair = c.split(separator: ";").first.map(String.init) ?? ""
            if pair.hasPrefix(name + "=") { return String(pair.dropFirst(name.count + 1)) }
        }
        return nil
    }

    /// Signs in through the console's form; returns the session cookie pair.
    /// (Sign-in allows 5 attempts a minute per address: `tryWrong` spends one on a wrong password.)
    static func signIn(_ c: any TestClientProtocol, _ user: String, _ password: String, tryWrong: Bool = true) async throws -> String {
        let form = try await page(c, .get, "/console/sign-in?next=%2Fconsole%2Fregistries")
        #expect(form.status == .ok)
        let login = try #require(cookieValue(form.cookies, "hg-console-login"))
        let csrf = try #require(form.csrf)
        #expect(csrf == login)
        if tryWrong {
            let wrong = try await page(
                c, .post, "/console/sign-in", cookie: "hg-console-login=\(login)",
                form: ["_csrf": csrf, "username": user, "password": "not-the-password", "next": "/console"])
            #expect(wrong.status == .unauthorized)
            #expect(wrong.text.contains("Wrong username or password."))
        }
        let ok = try await page(
            c, .post, "/console/sign-in", cookie: "hg-console-login=\(login)",
            form: ["_csrf": csrf, "username": user, "password": password, "next": "/console/registries"])
        #expect(ok.status == .seeOther)
        #expect(ok.location == "/console/registries")
        let session = try #require(cookieValue(ok.cookies, "next-auth.session-token"))
        #expect(ok.cookies.contains { $0.contains("next-auth.session-token=") && $0.contains("HttpOnly") && $0.contains("SameSite=Lax") })
        return "next-auth.session-token=\(session)"
    }

    @Test func signInFormsCSRFAndRoles() async throws {
        var f = try await Fixture.make()
        try await f.populate()
        let fx = f
        try await f.test { c in
            // A registry name full of markup, created through the API.
            let evil = try await c.json(.post, "/api/registries", key: fx.keys[.owner]!, body: [
                "name": "<script>alert(\"x\")</script>", "provider": "DOCKER_REGISTRY", "url": "https://evil.example.test",
            ])
            #expect(evil.status == .created)

            // No session: pages redirect to sign-in with their path; API keys do not sign in to the console.
            let anon = try await Self.page(c, .get, "/console/images?search=a%20b")
            #expect(anon.status == .seeOther)
            #expect(anon.location == "/console/sign-in?next=%2Fconsole%2Fimages%3Fsearch%3Da%2520b")
            let byKey = try await Self.page(c, .get, "/console", headers: [HTTPField.Name("X-API-Key")!: fx.keys[.owner]!])
            #expect(byKey.status == .seeOther)

            // The sign-in form refuses a post without its cookie-bound token.
            let forged = try await Self.page(
                c, .post, "/console/sign-in", form: ["_csrf": "abc", "username": "dev", "password": "correct horse battery"])
            #expect(forged.status == .forbidden)
            #expect(Self.cookieValue(forged.cookies, "next-auth.session-token") == nil)

            let cookie = try await Self.signIn(c, "dev", "correct horse battery")
            let list = try await Self.page(c, .get, "/console/registries", cookie: cookie)
            #expect(list.status == .ok)
            #expect(list.headers[.contentType] == "text/html; charset=utf-8")
            #expect(list.headers[.contentSecurityPolicy]?.contains("script-src 'self'") == true)
            #expect(list.headers[HTTPField.Name("X-Frame-Options")!] == "DENY")
            #expect(list.text.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"))
            #expect(!list.text.contains("<script>alert"))
            #expect(list.text.contains(">dev <span class=\"role\">developer</span>"))
            // A developer may test connections but not sync (admin) nor add registries.
            #expect(list.text.contains(">Test connection<"))
            #expect(!list.text.contains(">Sync<"))
            #expect(!list.text.contains("Add a registry"))
            let csrf = try #require(list.csrf)
            #expect(csrf.count == 64)

            let target = "/console/registries/\(fx.registryA)/sync"
            for bad in [nil, "", String(repeating: "0", count: 64), String(csrf.dropLast()) + (csrf.hasSuffix("a") ? "b" : "a")] {
                var form: [String: String] = [:]
                if let bad { form["_csrf"] = bad }
                let r = try await Self.page(c, .post, target, cookie: cookie, form: form)
                #expect(r.status == .forbidden)
                #expect(r.text.contains("CSRF"))
            }
            // With the right token the API's own role check answers: sync needs admin.
            let refused = try await Self.page(c, .post, target, cookie: cookie, form: ["_csrf": csrf])
            #expect(refused.status == .forbidden)
            #expect(refused.text.contains("does not allow"))

            // Another session of the same user has another token.
            let second = try await Self.signIn(c, "dev", "correct horse battery", tryWrong: false)
            let other = try await Self.page(c, .get, "/console/registries", cookie: second)
            #expect(other.csrf != nil && other.csrf != csrf)

            // The JSON API refuses a session-cookie change sent from another origin; API keys and
            // clients that send no Origin are unaffected.
            let body = ByteBuffer(string: #"{"name":"from-elsewhere","provider":"DOCKER_REGISTRY","url":"https://x.example.test"}"#)
            let pat = ByteBuffer(string: #"{"name":"cli"}"#)
            for extra: HTTPFields in [[HTTPField.Name("Origin")!: "https://evil.example"], [HTTPField.Name("Origin")!: "null"],
                                      [HTTPField.Name("Sec-Fetch-Site")!: "cross-site"]] {
                var h = extra
                h[.cookie] = cookie
                h[.contentType] = "application/json"
                let status = try await c.execute(uri: "/api/personal-access-tokens", method: .post, headers: h, body: pat) { $0.status }
                #expect(status == .forbidden)
            }
            let sameClient = try await c.execute(
                uri: "/api/personal-access-tokens", method: .post, headers: [.cookie: cookie, .contentType: "application/json"], body: pat
            ) { $0.status }
            #expect(sameClient == .created)
            let viaKey = try await c.execute(
                uri: "/api/registries", method: .post,
                headers: [HTTPField.Name("X-API-Key")!: fx.keys[.owner]!, HTTPField.Name("Origin")!: "https://evil.example", .contentType: "application/json"],
                body: body) { $0.status }
            #expect(viaKey == .created)
            let noOrigin = try await c.execute(
                uri: "/api/auth/sign-out", method: .post, headers: [.cookie: second], body: nil) { $0.status }
            #expect(noOrigin == .ok)

            // Sign-out needs the token too, then the session is gone.
            let noToken = try await Self.page(c, .post, "/console/sign-out", cookie: cookie, form: [:])
            #expect(noToken.status == .forbidden)
            let out = try await Self.page(c, .post, "/console/sign-out", cookie: cookie, form: ["_csrf": csrf])
            #expect(out.status == .seeOther)
            #expect(out.location == "/console/sign-in")
            let after = try await Self.page(c, .get, "/console/registries", cookie: cookie)
            #expect(after.status == .seeOther)
        }
    }

    @Test func pagesRenderForAnOwner() async throws {
        var fixture = try await Fixture.make()
        try await fixture.populate()
        let f = fixture
        try await f.test { c in
            _ = try await c.json(.post, "/api/members", key: f.keys[.owner]!, body: [
                "username": "olive", "password": "olive-password-1", "role": "owner",
            ])
            let cookie = try await Self.signIn(c, "olive", "olive-password-1")
            for (path, heading) in [
                ("/console", "Overview"), ("/console/registries", "Registries"), ("/console/images", "Images"),
                ("/console/vulnerabilities", "Vulnerabilities"), ("/console/scans", "Scans"), ("/console/settings", "Settings"),
                ("/console/registries/\(f.registryA)", "a"), ("/console/policies", "Policies"), ("/console/policies/new", "New policy"),
            ] {
                let p = try await Self.page(c, .get, path, cookie: cookie)
                #expect(p.status == .ok, "\(path)")
                #expect(p.text.contains("<h1>\(heading)</h1>"), "\(path)")
                #expect(p.text.contains("aria-current=\"page\""), "\(path)")
            }
            // A registry with stored credentials: its edit form says a new URL or Insecure clears them.
            let withCredentials = try await Self.page(c, .get, "/console/registries/\(f.registryA)", cookie: cookie)
            #expect(withCredentials.text.contains("id=\"f-cred-note\""))
            #expect(withCredentials.text.contains("clears the saved credentials"))
            let withoutCredentials = try await Self.page(c, .get, "/console/registries/\(f.sensorRegistry)", cookie: cookie)
            #expect(withoutCredentials.status == .ok)
            #expect(!withoutCredentials.text.contains("f-cred-note"))
            let overview = try await Self.page(c, .get, "/console", cookie: cookie)
            #expect(overview.text.contains("<svg class=\"chart\""))
            let settings = try await Self.page(c, .get, "/console/settings", cookie: cookie)
            #expect(settings.text.contains("Audit log"))
            #expect(settings.text.contains("auth.sign_in"))
            // A webhook channel through the settings form (events as repeated `events[]` checkboxes).
            let token = try #require(settings.csrf)
            let made = try await c.execute(
                uri: "/console/settings/channels", method: .post,
                headers: [.cookie: cookie, .contentType: "application/x-www-form-urlencoded"],
                body: ByteBuffer(string: "_csrf=\(token)&name=ops%20%3Chook%3E&url=https%3A%2F%2Fhooks.example.test%2Fhg&events[]=scan_complete&events[]=critical_cve")
            ) { $0.status }
            #expect(made == .seeOther)
            let channels = try await c.json(.get, "/api/notification-channels", key: f.keys[.owner]!)
            let ch = (channels.body["data"] as? [[String: Any]] ?? []).first
            #expect(ch?["name"] as? String == "ops <hook>")
            #expect(ch?["events"] as? [String] == ["scan_complete", "critical_cve"])
            let listed = try await Self.page(c, .get, "/console/settings", cookie: cookie)
            #expect(listed.text.contains("ops &lt;hook&gt;"))
            #expect(listed.text.contains("scan_complete, critical_cve"))
            let missing = try await Self.page(c, .get, "/console/registries/reg_nope", cookie: cookie)
            #expect(missing.status == .notFound)
            let css = try await Self.page(c, .get, "/console/assets/app.css")
            #expect(css.status == .ok)
            #expect(css.headers[.cacheControl]?.contains("immutable") == true)
        }
    }

    @Test func policyFormsThroughTheRouter() async throws {
        var fixture = try await Fixture.make()
        try await fixture.populate()
        let f = fixture
        try await f.test { c in
            _ = try await c.json(.post, "/api/members", key: f.keys[.owner]!, body: [
                "username": "ada", "password": "ada-password-123", "role": "admin",
            ])
            let cookie = try await Self.signIn(c, "ada", "ada-password-123", tryWrong: false)
            let token = try #require(try await Self.page(c, .get, "/console/policies/new", cookie: cookie).csrf)
            // A refused form: 400, the page again with the API's message on the input it is about.
            let bad = try await Self.page(c, .post, "/console/policies", cookie: cookie, form: [
                "_csrf": token, "name": "gate", "action": "fail", "enabled": "true", "r0.type": "sla", "r0.slaSeverity": "HIGH", "r0.days": "-1",
                "r1.type": "kev",
            ])
            #expect(bad.status == .badRequest)
            #expect(bad.text.contains(#"data-error-for="r0.days">Must be between 0 and 3650.</span>"#))
            #expect(bad.text.contains(#"value="-1""#) && bad.text.contains(#"<option value="kev" selected>"#))
            let none = try await c.json(.get, "/api/policies", key: f.keys[.owner]!)
            #expect((none.body["data"] as? [Any])?.isEmpty == true)
            let made = try await Self.page(c, .post, "/console/policies", cookie: cookie, form: [
                "_csrf": token, "name": "gate", "action": "fail", "enabled": "true", "r0.type": "sla", "r0.slaSeverity": "HIGH", "r0.days": "7",
                "r1.type": "kev",
            ])
            #expect(made.status == .seeOther && made.location == "/console/policies")
            let list = try await c.json(.get, "/api/policies", key: f.keys[.owner]!)
            let policy = try #require((list.body["data"] as? [[String: Any]])?.first)
            let id = try #require(policy["id"] as? String)
            #expect((policy["rules"] as? [[String: Any]])?.count == 2)
            // A duplicate name is the API's 409, shown on the name.
            let dup = try await Self.page(c, .post, "/console/policies", cookie: cookie, form: [
                "_csrf": token, "name": "gate", "action": "warn", "r0.type": "kev",
            ])
            #expect(dup.status == .conflict && dup.text.contains(#"data-error-for="name">A policy named gate exists.</span>"#))
            let page = try await Self.page(c, .get, "/console/policies/\(id)", cookie: cookie)
            #expect(page.status == .ok && page.text.contains("a finding at or above HIGH open more than 7 days"))
            let missing = try await Self.page(c, .get, "/console/policies/pol_nope", cookie: cookie)
            #expect(missing.status == .notFound)
            // A developer reads but may not write, with a valid token.
            let dev = try await Self.signIn(c, "dev", "correct horse battery", tryWrong: false)
            let devPage = try await Self.page(c, .get, "/console/policies", cookie: dev)
            #expect(devPage.status == .ok && devPage.text.contains(">gate</a>") && !devPage.text.contains("New policy"))
            let devToken = try #require(try await Self.page(c, .get, "/console/images", cookie: dev).csrf)
            let refused = try await Self.page(c, .post, "/console/policies/\(id)/delete", cookie: dev, form: ["_csrf": devToken])
            #expect(refused.status == .forbidden && refused.text.contains("does not allow"))
            let still = try await c.json(.get, "/api/policies/\(id)", key: f.keys[.owner]!)
            #expect(still.status == .ok)
        }
    }
}
