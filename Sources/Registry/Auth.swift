public import AsyncHTTPClient
import Foundation
public import Logging
import NIOCore
import NIOHTTP1

extension RegistryClient {
    /// Token response of the distribution token spec (and OAuth2 `access_token` flavours).
    struct TokenResponse: Decodable {
        var token: String?
        var accessToken: String?
        var expiresIn: Int?
        var refreshToken: String?

        enum CodingKeys: String, CodingKey {
            case token
            case accessToken = "access_token"
            case expiresIn = "expires_in"
            case refreshToken = "refresh_token"
        }

        var value: String? { [token, accessToken].compactMap { $0 }.first { !$0.isEmpty } }
    }

    /// Client id sent on OAuth2 token POSTs (the spec asks clients to name themselves).
    static let oauthClientID = "harborguard"

    /// Checks that a token realm may receive credentials: https, or plain http only on the
    /// registry's own host and port when the registry itself is plain http (local/test
    /// registries). A realm on another host or port over http is refused, so a hostile challenge cannot make the
    /// client send credentials in clear to a third party.
    func validateRealm(_ realm: String) throws {
        guard let origin = Origin(realm) else {
            throw RegistryError.invalidConfiguration("token realm is not an absolute http(s) URL")
        }
        if origin.scheme != "https", !(origin.host == base.host && origin.port == (base.port ?? 80) && base.scheme == "http") {
            throw RegistryError.invalidConfiguration(
                "token realm on \(origin.host):\(origin.port) must use https (plain http only on the registry's own host and port)")
        }
    }

    /// Fetches a bearer token for `key` (distribution token spec): POST `refresh_token` for
    /// identity tokens (falling back to GET when the realm does not do OAuth2), GET with Basic
    /// credentials otherwise, anonymous GET without credentials.
    func fetchToken(_ key: TokenKey) async throws -> (String, Date) {
        try validateRealm(key.realm)
        let credential = try await resolvedCredential()
        let scopes = key.scope.split(separator: " ").map(String.init)
        if case let .identityToken(_, refresh) = credential {
            var form: [(String, String)] = [("grant_type", "refresh_token"), ("refresh_token", refresh), ("client_id", Self.oauthClientID)]
            if !key.service.isEmpty { form.append(("service", key.service)) }
            if !key.scope.isEmpty { form.append(("scope", key.scope)) }
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
            let response = try await send(Call(method: .POST, url: key.realm, headers: headers, body: ByteBuffer(string: formEncode(form)), authenticate: false, timeout: configuration.requestTimeout))
            switch response.status.code {
            case 200:
                return try await tokenResult(response)
            case 400, 404, 405:
                await Self.discard(response)
                logger.debug("token realm refused the OAuth2 POST, falling back to GET")
            case 401, 403:
                await Self.discard(response)
                throw RegistryError.authFailed("the token service refused the identity token (HTTP \(response.status.code))")
            default:
                throw await statusError(response, "token request")
            }
        }
        var query: [(String, String)] = []
        if !key.service.isEmpty { query.append(("service", key.service)) }
        for s in scopes { query.append(("scope", s)) }
        var headers = HTTPHeaders()
        if let (user, password) = credential.basicPair {
            query.append(("account", user))
            headers.add(name: "Authorization", value: Self.basicHeader(user, password))
        }
        let separator = key.realm.contains("?") ? "&" : "?"
        let url = query.isEmpty ? key.realm : key.realm + separator + formEncode(query)
        let response = try await send(Call(url: url, headers: headers, authenticate: false, timeout: configuration.requestTimeout))
        switch response.status.code {
        case 200: return try await tokenResult(response)
        case 401, 403:
            await Self.discard(response)
            throw RegistryError.authFailed(credential == .anonymous
                ? "the token service refused anonymous access (HTTP \(response.status.code))"
                : "the token service refused the credentials (HTTP \(response.status.code))")
        default:
            throw await statusError(response, "token request")
        }
    }

    func tokenResult(_ response: HTTPClientResponse) async throws -> (String, Date) {
        let data = try await Self.readBody(response, limit: 1 << 20, what: "token response")
        guard let decoded = try? JSONDecoder().decode(TokenResponse.self, from: data), let token = decoded.value else {
            throw RegistryError.invalidResponse("token response has no token")
        }
        return (token, Self.expiry(now: now(), expiresIn: decoded.expiresIn))
    }

    /// Token expiry: `expires_in` (60 s when absent, as the token spec says) minus a margin so
    /// a token is never used in its last seconds.
    static func expiry(now: Date, expiresIn: Int?) -> Date {
        let lifetime = Double(max(expiresIn ?? 60, 1))
        let margin = min(30, lifetime / 5)
        return now.addingTimeInterval(lifetime - margin)
    }

    /// The credentials as the registry wants them, after any provider exchange (cached).
    func resolvedCredential() async throws -> ResolvedCredential {
        guard let credentials = configuration.credentials else { return .anonymous }
        switch credentials {
        case let .usernamePassword(u, p): return .basic(username: u, password: p)
        case let .usernamePat(u, p): return .basic(username: u, password: p)
        case let .harborRobot(n, s): return .basic(username: n, password: s)
        case let .jfrogIdentityToken(u, t): return .identityToken(username: u, token: t)
        case let .awsEcr(a, s, r, t):
            return try await credentialCache.value(for: "registry") { [self] in
                let token = try await ecrAuthorization(accessKeyId: a, secretAccessKey: s, region: r, sessionToken: t)
                return (token.credential, token.expires)
            }
        case let .googleGar(key):
            return try await credentialCache.value(for: "registry") { [self] in
                try await googleCredential(serviceAccountKey: key)
            }
        case let .azureAcr(tenant, client, secret):
            return try await credentialCache.value(for: "registry") { [self] in
                try await azureCredential(tenantId: tenant, clientId: client, clientSecret: secret)
            }
        }
    }

    /// POSTs a form and decodes a JSON answer, for the providers' OAuth endpoints.
    func postForm<T: Decodable>(_ url: String, _ form: [(String, String)], as: T.Type, what: String) async throws -> T {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        headers.add(name: "Accept", value: "application/json")
        let response = try await send(Call(method: .POST, url: url, headers: headers, body: ByteBuffer(string: formEncode(form)), authenticate: false, timeout: configuration.requestTimeout))
        switch response.status.code {
        case 200: break
        case 400, 401, 403:
            await Self.discard(response)
            throw RegistryError.authFailed("\(what) refused the credentials (HTTP \(response.status.code))")
        default:
            throw await statusError(response, what)
        }
        let data = try await Self.readBody(response, limit: 1 << 20, what: what)
        do { return try JSONDecoder().decode(T.self, from: data) } catch {
            throw RegistryError.invalidResponse("\(what) answered malformed JSON")
        }
    }

    static func requireSecureEndpoint(_ url: String, _ what: String) throws {
        guard let origin = Origin(url) else { throw RegistryError.invalidConfiguration("\(what) URL is not http(s)") }
        if origin.scheme != "https", !origin.isLoopback {
            throw RegistryError.invalidConfiguration("\(what) must use https")
        }
    }

    // MARK: - AWS ECR

    struct ECRAuthorizationResponse: Decodable {
        struct Data: Decodable {
            var authorizationToken: String
            var expiresAt: Double?
            var proxyEndpoint: String?
        }
        var authorizationData: [Data]
    }

    struct ECRAuthorization {
        let credential: ResolvedCredential
        let expires: Date
        let proxyEndpoint: String?
    }

    /// Calls ECR `GetAuthorizationToken` (SigV4-signed) and decodes its `AWS:<password>` token,
    /// valid until five minutes before `expiresAt`.
    /// One SigV4-signed call of the ECR JSON API (`AmazonEC2ContainerRegistry_V20150921.<action>`)
    /// in the credentials' region.
    func ecrAPICall(
        _ action: String, body: [UInt8], accessKeyId: String, secretAccessKey: String, region: String, sessionToken: String?
    ) async throws -> HTTPClientResponse {
        guard !region.isEmpty, region.utf8.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == UInt8(ascii: "-") }) else {
            throw RegistryError.invalidConfiguration("invalid AWS region")
        }
        let endpoint = configuration.endpoints.ecrAPI ?? "https://api.ecr.\(region).amazonaws.com"
        try Self.requireSecureEndpoint(endpoint, "ECR endpoint")
        guard let c = URLComponents(string: endpoint), let host = c.host else { throw RegistryError.invalidConfiguration("bad ECR endpoint") }
        let hostHeader = c.port.map { "\(host):\($0)" } ?? host
        let signed = SigV4.sign(
            method: "POST", url: endpoint.hasSuffix("/") ? endpoint : endpoint + "/",
            headers: [
                ("Host", hostHeader),
                ("Content-Type", "application/x-amz-json-1.1"),
                ("X-Amz-Target", "AmazonEC2ContainerRegistry_V20150921.\(action)"),
            ],
            payload: body,
            credentials: .init(accessKeyId: accessKeyId, secretAccessKey: secretAccessKey, sessionToken: sessionToken),
            region: region, service: "ecr", date: now())
        var headers = HTTPHeaders()
        for (n, v) in signed { headers.replaceOrAdd(name: n, value: v) }
        return try await send(Call(
            method: .POST, url: endpoint, headers: headers, body: ByteBuffer(bytes: body), authenticate: false,
            timeout: configuration.requestTimeout))
    }

    func ecrAuthorization(accessKeyId: String, secretAccessKey: String, region: String, sessionToken: String?) async throws -> ECRAuthorization {
        let response = try await ecrAPICall(
            "GetAuthorizationToken", body: Array("{}".utf8), accessKeyId: accessKeyId, secretAccessKey: secretAccessKey,
            region: region, sessionToken: sessionToken)
        switch response.status.code {
        case 200: break
        case 400, 401, 403:
            await Self.discard(response)
            throw RegistryError.authFailed("AWS refused the access key for ECR (HTTP \(response.status.code))")
        default:
            throw await statusError(response, "ECR GetAuthorizationToken")
        }
        let data = try await Self.readBody(response, limit: 1 << 20, what: "ECR response")
        guard let decoded = try? JSONDecoder().decode(ECRAuthorizationResponse.self, from: data),
              let first = decoded.authorizationData.first,
              let raw = Data(base64Encoded: first.authorizationToken),
              let text = String(data: raw, encoding: .utf8),
              let colon = text.firstIndex(of: ":") else {
            throw RegistryError.invalidResponse("ECR authorization data is malformed")
        }
        let current = now()
        var expires = current.addingTimeInterval(12 * 3600 - 300)
        if let at = first.expiresAt {
            let lifetime = max(0, at - current.timeIntervalSince1970)
            expires = current.addingTimeInterval(lifetime - min(300, lifetime / 2))
        }
        let credential = ResolvedCredential.basic(username: String(text[..<colon]), password: String(text[text.index(after: colon)...]))
        return ECRAuthorization(credential: credential, expires: expires, proxyEndpoint: first.proxyEndpoint)
    }

    /// The registry URL of the AWS account behind ECR credentials (the `proxyEndpoint` of
    /// `GetAuthorizationToken`), for ECR registries created without a URL.
    public static func ecrRegistryURL(credentials: RegistryCredentials, httpClient: HTTPClient, logger: Logger, endpoints: ProviderEndpoints = ProviderEndpoints()) async throws(RegistryError) -> String {
        try await ecrRegistryURL(
            credentials: credentials, http: OutgoingHTTPClient(unmanaged: httpClient, policy: OutgoingPolicy(), purpose: .registry),
            logger: logger, endpoints: endpoints)
    }

    /// `ecrRegistryURL` through an `OutgoingHTTPClient`.
    public static func ecrRegistryURL(credentials: RegistryCredentials, http: OutgoingHTTPClient, logger: Logger, endpoints: ProviderEndpoints = ProviderEndpoints()) async throws(RegistryError) -> String {
        guard case let .awsEcr(a, s, r, t) = credentials else { throw .invalidConfiguration("ECR needs AwsEcr credentials") }
        // The URL is only a placeholder: this client never talks to a registry.
        let client = try RegistryClient(configuration: Configuration(url: "https://ecr.invalid", provider: .awsEcr, credentials: credentials, endpoints: endpoints),
                                        http: http, logger: logger)
        let authorization = try await client.mapped { try await client.ecrAuthorization(accessKeyId: a, secretAccessKey: s, region: r, sessionToken: t) }
        guard let endpoint = authorization.proxyEndpoint, Origin(endpoint)?.scheme == "https" else {
            throw .invalidResponse("ECR answered no https proxyEndpoint")
        }
        return endpoint
    }

    // MARK: - Google Artifact Registry

    struct ServiceAccountKey: Decodable {
        var clientEmail: String
        var privateKey: String
        var privateKeyId: String?
        var tokenURI: String?

        enum CodingKeys: String, CodingKey {
            case clientEmail = "client_email"
            case privateKey = "private_key"
            case privateKeyId = "private_key_id"
            case tokenURI = "token_uri"
        }
    }

    /// Service-account JWT (RS256) → OAuth2 access token → Basic `oauth2accesstoken:<token>`.
    func googleCredential(serviceAccountKey: String) async throws -> (ResolvedCredential, Date) {
        guard let key = try? JSONDecoder().decode(ServiceAccountKey.self, from: Data(serviceAccountKey.utf8)) else {
            throw RegistryError.invalidConfiguration("the Google service account key is not valid JSON with client_email and private_key")
        }
        let tokenURL = configuration.endpoints.googleTokenURL
            ?? key.tokenURI.flatMap { Origin($0)?.scheme == "https" ? $0 : nil }
            ?? "https://oauth2.googleapis.com/token"
        try Self.requireSecureEndpoint(tokenURL, "Google token URL")
        let issued = Int(now().timeIntervalSince1970)
        var header: [String: any Sendable] = ["alg": "RS256", "typ": "JWT"]
        if let kid = key.privateKeyId { header["kid"] = kid }
        let claims: [String: any Sendable] = [
            "iss": key.clientEmail,
            "scope": "https://www.googleapis.com/auth/cloud-platform",
            "aud": tokenURL,
            "iat": issued,
            "exp": issued + 3600,
        ]
        let assertion: String
        do {
            assertion = try JWT.signRS256(header: header, claims: claims, privateKeyPEM: key.privateKey)
        } catch {
            throw RegistryError.invalidConfiguration("the Google service account private key cannot be used")
        }
        let token = try await postForm(tokenURL, [("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("assertion", assertion)], as: TokenResponse.self, what: "Google OAuth")
        guard let access = token.value else { throw RegistryError.invalidResponse("Google OAuth answered no access_token") }
        return (.basic(username: "oauth2accesstoken", password: access), Self.expiry(now: now(), expiresIn: token.expiresIn ?? 3600))
    }

    // MARK: - Azure Container Registry

    /// AAD client credentials → ACR `/oauth2/exchange` → refresh token, used as an identity
    /// token (`/oauth2/token` with `grant_type=refresh_token`).
    func azureCredential(tenantId: String, clientId: String, clientSecret: String) async throws -> (ResolvedCredential, Date) {
        guard !tenantId.isEmpty, tenantId.utf8.allSatisfy({ Repository.isAlnum($0 | 0x20) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".") }) else {
            throw RegistryError.invalidConfiguration("invalid Azure tenant id")
        }
        let authority = configuration.endpoints.azureAuthority
        try Self.requireSecureEndpoint(authority, "Azure authority")
        let aad = try await postForm(
            "\(authority)/\(tenantId)/oauth2/v2.0/token",
            [("grant_type", "client_credentials"), ("client_id", clientId), ("client_secret", clientSecret),
             ("scope", "https://containerregistry.azure.net/.default")],
            as: TokenResponse.self, what: "Azure AD")
        guard let aadToken = aad.value else { throw RegistryError.invalidResponse("Azure AD answered no access_token") }
        let exchange = try await postForm(
            base.root + "/oauth2/exchange",
            [("grant_type", "access_token"), ("service", base.host), ("tenant", tenantId), ("access_token", aadToken)],
            as: TokenResponse.self, what: "ACR token exchange")
        guard let refresh = exchange.refreshToken, !refresh.isEmpty else {
            throw RegistryError.invalidResponse("ACR exchange answered no refresh_token")
        }
        return (.identityToken(username: "00000000-0000-0000-0000-000000000000", token: refresh), Self.expiry(now: now(), expiresIn: aad.expiresIn ?? 3600))
    }
}
