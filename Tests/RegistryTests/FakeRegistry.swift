import Foundation
import HTTPTestSupport
import Testing
@testable import Registry

/// An in-process registry implementing the parts of the distribution API the client uses,
/// with switchable auth and injectable misbehaviour.
actor FakeRegistry {
    enum Auth: Sendable {
        case none
        case basic(user: String, password: String)
        /// Bearer tokens from `/token` on the same server; `credentials` nil = anonymous allowed.
        case bearer(credentials: (user: String, password: String)?, expiresIn: Int?, tokenField: String)
    }

    var auth: Auth = .none
    var manifests: [String: [String: (Data, String)]] = [:]
    var blobs: [Digest: Data] = [:]
    var repositories: [String] { manifests.keys.sorted() }
    var blobRedirect: String?
    /// Accepted refresh tokens on `POST /token` (identity tokens); nil = POST answers 404.
    var refreshTokens: Set<String>?
    var rateLimitRemaining: Int?
    let counter = Counter()
    private(set) var seenAccept: [String] = []
    private var issued = 0

    func setAuth(_ a: Auth) { auth = a }
    func setBlobRedirect(_ r: String?) { blobRedirect = r }
    func setRefreshTokens(_ t: Set<String>?) { refreshTokens = t }
    func setRateLimitRemaining(_ n: Int?) { rateLimitRemaining = n }

    func add(_ repo: String, tag: String, image: TestImage) {
        blobs[Digest.sha256(of: image.config)] = image.config
        for l in image.layers { blobs[Digest.sha256(of: l)] = l }
        putManifest(repo, image.manifest, MediaType.ociManifest, tag: tag)
    }

    func putManifest(_ repo: String, _ bytes: Data, _ type: String, tag: String?) {
        manifests[repo, default: [:]][Digest.sha256(of: bytes).description] = (bytes, type)
        if let tag { manifests[repo, default: [:]][tag] = (bytes, type) }
    }

    func tags(_ repo: String) -> [String] {
        (manifests[repo] ?? [:]).keys.filter { !$0.hasPrefix("sha256:") }.sorted()
    }

    static func basic(_ u: String, _ p: String) -> String { "Basic " + Data("\(u):\(p)".utf8).base64EncodedString() }

    func handle(_ r: FakeRequest) async -> FakeResponse {
        await counter.hit("\(r.method) \(r.path)")
        let host = r.header("host") ?? "127.0.0.1"
        if r.path == "/token" { return token(r) }
        guard r.path.hasPrefix("/v2/") else { return .status(404) }
        var extra: [(String, String)] = [("Docker-Distribution-API-Version", "registry/2.0")]
        if let n = rateLimitRemaining { extra.append(("ratelimit-remaining", "\(n);w=21600")) }
        // Auth.
        let scope = Self.scope(for: r.path)
        switch auth {
        case .none: break
        case let .basic(u, p):
            guard r.header("authorization") == Self.basic(u, p) else {
                await counter.hit("401")
                return .json(401, ["errors": [["code": "UNAUTHORIZED"]]], headers: extra + [("WWW-Authenticate", "Basic realm=\"fake\"")])
            }
        case .bearer:
            let wanted = "Bearer realm=\"http://\(host)/token\",service=\"fake\"" + (scope.isEmpty ? "" : ",scope=\"\(scope)\"")
            guard let header = r.header("authorization"), header.hasPrefix("Bearer "),
                  let granted = Data(base64Encoded: String(header.dropFirst(7)).components(separatedBy: "|").first ?? ""),
                  scope.isEmpty || String(decoding: granted, as: UTF8.self).split(separator: " ").contains(where: { Self.covers(String($0), scope) }) else {
                await counter.hit("401")
                return .json(401, ["errors": [["code": "UNAUTHORIZED"]]], headers: extra + [("WWW-Authenticate", wanted)])
            }
        }
        seenAccept.append(r.header("accept") ?? "")
        let parts = r.path.dropFirst(4).split(separator: "/").map(String.init)
        if r.path == "/v2/" { return FakeResponse(status: 200, headers: extra + [("Content-Type", "application/json")], body: Data("{}".utf8)) }
        if r.path == "/v2/_catalog" {
            return paged(repositories, key: "repositories", r: r, path: "/v2/_catalog", extra: extra)
        }
        guard parts.count >= 3 else { return .status(404) }
        let kind = parts[parts.count - 2]
        let last = parts[parts.count - 1]
        let repo = parts[..<(parts.count - 2)].joined(separator: "/")
        if kind == "tags", last == "list" {
            guard manifests[repo] != nil else { return .json(404, ["errors": [["code": "NAME_UNKNOWN"]]]) }
            return paged(tags(repo), key: "tags", r: r, path: "/v2/\(repo)/tags/list", extra: extra, name: repo)
        }
        if kind == "manifests" {
            guard let (bytes, type) = manifests[repo]?[last] else { return .json(404, ["errors": [["code": "MANIFEST_UNKNOWN"]]]) }
            let headers = extra + [("Content-Type", type), ("Docker-Content-Digest", Digest.sha256(of: bytes).description)]
            if r.method == "HEAD" { return FakeResponse(status: 200, headers: headers + [("Content-Length", "\(bytes.count)")]) }
            return FakeResponse(status: 200, headers: headers, body: bytes)
        }
        if kind == "blobs", let digest = try? Digest(last) {
            guard let data = blobs[digest] else { return .json(404, ["errors": [["code": "BLOB_UNKNOWN"]]]) }
            if let blobRedirect { return .status(307, headers: [("Location", "\(blobRedirect)/cdn/\(digest)?sig=abc")]) }
            return FakeResponse(status: 200, headers: [("Content-Type", "application/octet-stream")], body: data)
        }
        return .status(404)
    }

    static func scope(for path: String) -> String {
        if path == "/v2/" { return "" }
        if path == "/v2/_catalog" { return "registry:catalog:*" }
        let parts = path.dropFirst(4).split(separator: "/")
        guard parts.count >= 3 else { return "" }
        return "repository:\(parts[..<(parts.count - 2)].joined(separator: "/")):pull"
    }

    static func covers(_ granted: String, _ needed: String) -> Bool {
        granted == needed || granted.hasPrefix(needed + ",") || (needed.hasSuffix(":pull") && granted == needed + ",push")
    }

    func paged(_ all: [String], key: String, r: FakeRequest, path: String, extra: [(String, String)], name: String? = nil) -> FakeResponse {
        let n = r.q("n").flatMap(Int.init) ?? 1000
        let after = r.q("last")
        let rest = after.map { a in all.filter { $0 > a } } ?? all
        let page = Array(rest.prefix(n))
        var headers = extra
        if rest.count > n, let lastItem = page.last {
            headers.append(("Link", "<\(path)?last=\(lastItem)&n=\(n)>; rel=\"next\""))
        }
        var body: [String: Any] = [key: page]
        if let name { body["name"] = name }
        return .json(200, body, headers: headers)
    }

    func token(_ r: FakeRequest) -> FakeResponse {
        guard case let .bearer(credentials, expiresIn, field) = auth else { return .status(404) }
        var scopes: [String]
        if r.method == "POST" {
            guard let allowed = refreshTokens else { return .status(404) }
            let form = Self.parseForm(r.body)
            guard form["grant_type"]?.first == "refresh_token", let t = form["refresh_token"]?.first, allowed.contains(t) else {
                return .json(401, ["error": "invalid_grant"])
            }
            scopes = form["scope"] ?? []
        } else {
            if let (u, p) = credentials {
                guard r.header("authorization") == Self.basic(u, p) else { return .json(401, ["details": "bad credentials"]) }
            }
            scopes = r.query["scope"] ?? []
        }
        issued += 1
        let token = Data(scopes.joined(separator: " ").utf8).base64EncodedString() + "|\(issued)"
        var body: [String: Any] = [field: token]
        if let expiresIn { body["expires_in"] = expiresIn }
        return .json(200, body)
    }

    static func parseForm(_ body: Data) -> [String: [String]] {
        var out: [String: [String]] = [:]
        for pair in String(decoding: body, as: UTF8.self).split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1).map { String($0).removingPercentEncoding ?? "" }
            out[kv[0], default: []].append(kv.count > 1 ? kv[1] : "")
        }
        return out
    }

    nonisolated var handler: FakeHandler { { [self] r in await self.handle(r) } }
}
