import Crypto
import Foundation
import HTTPTestSupport
import Testing
import _CryptoExtras
@testable import Registry

/// Each provider's documented auth/listing behaviour, played by an in-process fake.
@Suite struct ProviderTests {
    @Test func awsEcrSignsGetAuthorizationTokenAndCachesIt() async throws {
        let fake = FakeRegistry()
        await fake.add("team/app", tag: "v1", image: TestImage(seed: "ecr"))
        await fake.setAuth(.basic(user: "AWS", password: "ecr-password"))
        let ecrCalls = Counter()
        let ecr: FakeHandler = { r in
            if r.header("x-amz-target") == "AmazonEC2ContainerRegistry_V20150921.DescribeRepositories" {
                // Listing: signed the same way, paged through nextToken.
                await ecrCalls.hit("describe")
                guard let auth = r.header("authorization"), auth.hasPrefix("AWS4-HMAC-SHA256 Credential=AKIDTEST/"),
                      auth.contains("/eu-west-1/ecr/aws4_request"),
                      let body = try? JSONSerialization.jsonObject(with: r.body) as? [String: Any], body["maxResults"] as? Int == 1000
                else { return .json(400, ["__type": "AccessDeniedException"]) }
                if body["nextToken"] == nil {
                    return .json(200, ["repositories": [["repositoryName": "team/app"], ["repositoryName": "team/api"]], "nextToken": "page-2"])
                }
                guard body["nextToken"] as? String == "page-2" else { return .json(400, ["__type": "InvalidParameterException"]) }
                return .json(200, ["repositories": [["repositoryName": "tools/cli"]]])
            }
            await ecrCalls.hit("call")
            guard r.method == "POST",
                  r.header("x-amz-target") == "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken",
                  r.header("content-type") == "application/x-amz-json-1.1",
                  r.header("x-amz-security-token") == "session-token",
                  let auth = r.header("authorization"),
                  auth.hasPrefix("AWS4-HMAC-SHA256 Credential=AKIDTEST/"),
                  auth.contains("/eu-west-1/ecr/aws4_request"),
                  auth.contains("SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target"),
                  String(decoding: r.body, as: UTF8.self) == "{}" else {
                return .json(403, ["__type": "UnrecognizedClientException"])
            }
            let token = Data("AWS:ecr-password".utf8).base64EncodedString()
            return .json(200, ["authorizationData": [["authorizationToken": token, "expiresAt": Date().timeIntervalSince1970 + 43200,
                                                      "proxyEndpoint": "https://123.dkr.ecr.eu-west-1.amazonaws.com"]]])
        }
        try await withFakeServer(ecr) { ecrURL in
            try await withFakeServer(fake.handler) { url in
                try await withHTTPClient { http in
                    let creds = RegistryCredentials.awsEcr(accessKeyId: "AKIDTEST", secretAccessKey: "secret", region: "eu-west-1", sessionToken: "session-token")
                    let client = try makeClient(http, url, provider: .awsEcr, credentials: creds, endpoints: ProviderEndpoints(ecrAPI: ecrURL))
                    let result = await client.testConnection(timeout: .seconds(10))
                    #expect(result.status == .ok)
                    #expect(result.authScheme == .basic)
                    #expect(try await client.listTags(Repository("team/app")).map(\.name) == ["v1"])
                    #expect(try await client.listTags(Repository("team/app")).count == 1)
                    #expect(await ecrCalls.count("call") == 1)
                    // Repositories come from DescribeRepositories (ECR has no _catalog).
                    #expect(result.repositories == ["team/app", "team/api", "tools/cli"])
                    #expect(try await client.listRepositories().map(\.name) == ["team/app", "team/api", "tools/cli"])
                    #expect(await ecrCalls.count("describe") == 4)

                    let proxy = try await RegistryClient.ecrRegistryURL(credentials: creds, httpClient: http, logger: testLogger, endpoints: ProviderEndpoints(ecrAPI: ecrURL))
                    #expect(proxy == "https://123.dkr.ecr.eu-west-1.amazonaws.com")

                    let wrong = try makeClient(http, url, provider: .awsEcr, credentials: .awsEcr(accessKeyId: "AKIDTEST", secretAccessKey: "s", region: "eu-west-1", sessionToken: nil),
                                               endpoints: ProviderEndpoints(ecrAPI: ecrURL))
                    let failed = await wrong.testConnection(timeout: .seconds(10))
                    #expect(failed.status == .authFailed)
                    #expect(!failed.message.contains("AKIDTEST"))
                    let badRegion = try makeClient(http, url, provider: .awsEcr, credentials: .awsEcr(accessKeyId: "a", secretAccessKey: "s", region: "eu/../x", sessionToken: nil))
                    await #expect(throws: RegistryError.invalidConfiguration("invalid AWS region")) { try await badRegion.listTags(Repository("team/app")) }
                }
            }
        }
    }

    @Test func googleGarServiceAccountJWT() async throws {
        let key = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        let fake = FakeRegistry()
        await fake.add("proj/repo/img", tag: "1", image: TestImage(seed: "gar"))
        await fake.setAuth(.bearer(credentials: (user: "oauth2accesstoken", password: "ya29.test"), expiresIn: 3600, tokenField: "token"))
        let oauth: FakeHandler = { r in
            let form = FakeRegistry.parseForm(r.body)
            guard form["grant_type"]?.first == "urn:ietf:params:oauth:grant-type:jwt-bearer", let jwt = form["assertion"]?.first else {
                return .json(400, ["error": "invalid_request"])
            }
            let parts = jwt.split(separator: ".")
            guard parts.count == 3, let sig = JWT.decodeBase64URL(parts[2]), let claimsData = JWT.decodeBase64URL(parts[1]),
                  key.publicKey.isValidSignature(_RSA.Signing.RSASignature(rawRepresentation: sig), for: Data("\(parts[0]).\(parts[1])".utf8), padding: .insecurePKCS1v1_5),
                  let claims = try? JSONSerialization.jsonObject(with: claimsData) as? [String: Any],
                  claims["iss"] as? String == "sa@proj.iam.gserviceaccount.com",
                  (claims["scope"] as? String)?.contains("cloud-platform") == true,
                  claims["exp"] is Int, claims["iat"] is Int else {
                return .json(400, ["error": "invalid_grant"])
            }
            return .json(200, ["access_token": "ya29.test", "expires_in": 3599, "token_type": "Bearer"])
        }
        try await withFakeServer(oauth) { oauthURL in
            try await withFakeServer(fake.handler) { url in
                try await withHTTPClient { http in
                    let saKey = try String(decoding: JSONSerialization.data(withJSONObject: [
                        "type": "service_account", "client_email": "sa@proj.iam.gserviceaccount.com",
                        "private_key": key.pemRepresentation, "private_key_id": "kid1", "token_uri": "https://oauth2.googleapis.com/token",
                    ]), as: UTF8.self)
                    let client = try makeClient(http, url, provider: .googleGar, credentials: .googleGar(serviceAccountKey: saKey),
                                                endpoints: ProviderEndpoints(googleTokenURL: oauthURL + "/token"))
                    #expect(try await client.listTags(Repository("proj/repo/img")).map(\.name) == ["1"])
                    #expect(await client.testConnection(timeout: .seconds(10)).status == .ok)
                    let broken = try makeClient(http, url, provider: .googleGar, credentials: .googleGar(serviceAccountKey: "{\"client_email\":\"x\"}"),
                                                endpoints: ProviderEndpoints(googleTokenURL: oauthURL + "/token"))
                    #expect(await broken.testConnection(timeout: .seconds(10)).status == .authFailed)
                }
            }
        }
    }

    @Test func azureAcrExchangesAADTokenForRefreshToken() async throws {
        let fake = FakeRegistry()
        await fake.add("svc", tag: "prod", image: TestImage(seed: "acr"))
        await fake.setAuth(.bearer(credentials: nil, expiresIn: 3600, tokenField: "access_token"))
        await fake.setRefreshTokens(["acr-refresh"])
        let aad: FakeHandler = { r in
            let form = FakeRegistry.parseForm(r.body)
            guard r.path == "/tenant-1/oauth2/v2.0/token", form["grant_type"]?.first == "client_credentials",
                  form["client_id"]?.first == "app-id", form["client_secret"]?.first == "app-secret" else {
                return .json(401, ["error": "invalid_client"])
            }
            return .json(200, ["access_token": "aad-token", "expires_in": 3600, "token_type": "Bearer"])
        }
        let registry: FakeHandler = { r in
            if r.path == "/oauth2/exchange" {
                let form = FakeRegistry.parseForm(r.body)
                guard form["grant_type"]?.first == "access_token", form["access_token"]?.first == "aad-token",
                      form["tenant"]?.first == "tenant-1", form["service"]?.first == "127.0.0.1" else { return .json(401, ["error": "x"]) }
                return .json(200, ["refresh_token": "acr-refresh"])
            }
            return await fake.handle(r)
        }
        try await withFakeServer(aad) { aadURL in
            try await withFakeServer(registry) { url in
                try await withHTTPClient { http in
                    let client = try makeClient(http, url, provider: .azureAcr, credentials: .azureAcr(tenantId: "tenant-1", clientId: "app-id", clientSecret: "app-secret"),
                                                endpoints: ProviderEndpoints(azureAuthority: aadURL))
                    #expect(try await client.listTags(Repository("svc")).map(\.name) == ["prod"])
                    #expect(await fake.counter.count("POST /token") == 1)
                    let wrong = try makeClient(http, url, provider: .azureAcr, credentials: .azureAcr(tenantId: "tenant-1", clientId: "app-id", clientSecret: "nope"),
                                               endpoints: ProviderEndpoints(azureAuthority: aadURL))
                    #expect(await wrong.testConnection(timeout: .seconds(10)).status == .authFailed)
                }
            }
        }
    }

    @Test func ghcrListsThroughTheGitHubPackagesAPI() async throws {
        let fake = FakeRegistry()
        await fake.add("acme/web", tag: "1.0", image: TestImage(seed: "ghcr"))
        let github: FakeHandler = { r in
            guard r.header("authorization") == "Bearer ghp_test" else { return .json(401, ["message": "Bad credentials"]) }
            guard r.header("accept") == "application/vnd.github+json", r.q("package_type") == "container" else { return .status(400) }
            let host = r.header("host") ?? ""
            if r.path == "/user/packages", r.q("page") == nil {
                return .json(200, [["name": "web", "owner": ["login": "Acme"]], ["name": "tools/cli", "owner": ["login": "acme"]]],
                             headers: [("Link", "<http://\(host)/user/packages?package_type=container&per_page=100&page=2>; rel=\"next\", <http://\(host)/user/packages?page=2>; rel=\"last\"")])
            }
            if r.path == "/user/packages", r.q("page") == "2" { return .json(200, [["name": "api", "owner": ["login": "acme"]]]) }
            if r.path == "/orgs/someuser/packages" { return .json(404, ["message": "Not Found"]) }
            if r.path == "/users/someuser/packages" { return .json(200, [["name": "solo", "owner": ["login": "someuser"]]]) }
            return .status(404)
        }
        let registry: FakeHandler = { r in
            if r.path == "/v2/_catalog" { return .json(401, ["errors": [["code": "UNAUTHORIZED"]]]) }
            return await fake.handle(r)
        }
        try await withFakeServer(github) { api in
            try await withFakeServer(registry) { url in
                try await withHTTPClient { http in
                    let creds = RegistryCredentials.usernamePat(username: "acme", pat: "ghp_test")
                    let client = try makeClient(http, url, provider: .ghcr, credentials: creds, endpoints: ProviderEndpoints(githubAPI: api))
                    let names = try await client.listRepositories().map(\.name)
                    #expect(names == ["acme/web", "acme/tools/cli", "acme/api"])
                    // A namespace that is not an organization is listed as a user.
                    let user = try makeClient(http, url, provider: .ghcr, credentials: creds, endpoints: ProviderEndpoints(githubAPI: api)) {
                        $0.dockerHubNamespaces = ["someuser"]
                    }
                    let userNames = try await user.listRepositories().map(\.name)
                    #expect(userNames == ["someuser/solo"])
                    let wrong = try makeClient(
                        http, url, provider: .ghcr, credentials: .usernamePat(username: "acme", pat: "ghp_wrong"),
                        endpoints: ProviderEndpoints(githubAPI: api))
                    await #expect(throws: RegistryError.authFailed("GitHub refused the PAT for package listing (it needs read:packages)")) {
                        try await wrong.listRepositories()
                    }
                    let anonymous = try makeClient(http, url, provider: .ghcr, endpoints: ProviderEndpoints(githubAPI: api))
                    await #expect(throws: RegistryError.self) { try await anonymous.listRepositories() }
                }
            }
        }
    }

    @Test func quayListsThroughItsAPIWithNextPageTokens() async throws {
        let fake = FakeRegistry()
        await fake.add("acme/web", tag: "1.0", image: TestImage(seed: "quay"))
        let handler: FakeHandler = { r in
            if r.path == "/api/v1/repository" {
                if let auth = r.header("authorization"), auth != "Bearer oauth-token" { return .json(401, ["error": "invalid token"]) }
                guard r.q("namespace") == "acme" else { return .json(200, ["repositories": [] as [Any]]) }
                if r.q("next_page") == nil {
                    return .json(200, ["repositories": [["namespace": "acme", "name": "web"], ["namespace": "acme", "name": "api"]],
                                       "next_page": "tok2"])
                }
                if r.q("next_page") == "tok2" { return .json(200, ["repositories": [["namespace": "acme", "name": "worker"]]]) }
                return .status(400)
            }
            if r.path == "/v2/_catalog" { return .json(401, ["errors": [["code": "UNAUTHORIZED"]]]) }
            return await fake.handle(r)
        }
        try await withFakeServer(handler) { url in
            try await withHTTPClient { http in
                // A robot account lists its organization's namespace.
                let robot = try makeClient(http, url, provider: .quay, credentials: .usernamePassword(username: "acme+ci", password: "oauth-token"))
                let names = try await robot.listRepositories().map(\.name)
                #expect(names == ["acme/web", "acme/api", "acme/worker"])
                let anonymous = try makeClient(http, url, provider: .quay) { $0.dockerHubNamespaces = ["acme"] }
                let publicNames = try await anonymous.listRepositories().map(\.name)
                #expect(publicNames.count == 3)
                let refused = try makeClient(http, url, provider: .quay, credentials: .usernamePassword(username: "acme+ci", password: "robot-secret"))
                await #expect(throws: RegistryError.self) { try await refused.listRepositories() }
                let none = try makeClient(http, url, provider: .quay)
                await #expect(throws: RegistryError.self) { try await none.listRepositories() }
            }
        }
    }

    @Test func dockerHubListsThroughHubAPIAndReadsRateLimit() async throws {
        let fake = FakeRegistry()
        await fake.add("acme/web", tag: "1.0", image: TestImage(seed: "hub"))
        await fake.setAuth(.bearer(credentials: (user: "acme", password: "dckr_pat_x"), expiresIn: 300, tokenField: "token"))
        await fake.setRateLimitRemaining(99)
        let hub: FakeHandler = { r in
            if r.path == "/v2/users/login" {
                let body = try? JSONSerialization.jsonObject(with: r.body) as? [String: String]
                guard body?["username"] == "acme", body?["password"] == "dckr_pat_x" else { return .json(401, ["detail": "Incorrect authentication credentials"]) }
                return .json(200, ["token": "hub-jwt"])
            }
            guard r.header("authorization") == "Bearer hub-jwt" else { return .json(401, ["detail": "auth"]) }
            let host = r.header("host") ?? ""
            if r.path == "/v2/repositories/acme/", r.q("page") == nil {
                return .json(200, ["count": 3, "next": "http://\(host)/v2/repositories/acme/?page=2&page_size=2",
                                   "results": [["name": "web", "namespace": "acme"], ["name": "api", "namespace": "acme"]]])
            }
            if r.path == "/v2/repositories/acme/", r.q("page") == "2" {
                return .json(200, ["count": 3, "next": NSNull(), "results": [["name": "worker", "namespace": "acme"]]])
            }
            return .status(404)
        }
        let registry: FakeHandler = { r in
            if r.path == "/v2/_catalog" { return .json(401, ["errors": [["code": "UNAUTHORIZED"]]]) }
            return await fake.handle(r)
        }
        try await withFakeServer(hub) { hubURL in
            try await withFakeServer(registry) { url in
                try await withHTTPClient { http in
                    let client = try makeClient(http, url, provider: .dockerHub, credentials: .usernamePat(username: "acme", pat: "dckr_pat_x"),
                                                endpoints: ProviderEndpoints(dockerHubAPI: hubURL))
                    #expect(try await client.listRepositories().map(\.name) == ["acme/web", "acme/api", "acme/worker"])
                    let result = await client.testConnection(timeout: .seconds(10))
                    #expect(result.status == .ok)
                    #expect(result.authScheme == .bearer)
                    #expect(result.repositories == ["acme/web", "acme/api", "acme/worker"])
                    _ = try await client.resolveDigest(Repository("acme/web"), reference: .tag(Tag("1.0")))
                    #expect(await client.rateLimitRemaining() == 99)
                    // Anonymous Hub listing has no namespace to list.
                    let anonymous = try makeClient(http, url, provider: .dockerHub, endpoints: ProviderEndpoints(dockerHubAPI: hubURL))
                    await #expect(throws: RegistryError.self) { try await anonymous.listRepositories() }
                    let named = try makeClient(http, url, provider: .dockerHub, credentials: .usernamePat(username: "someone", pat: "dckr_pat_x"),
                                               endpoints: ProviderEndpoints(dockerHubAPI: hubURL)) { $0.dockerHubNamespaces = ["acme"] }
                    await #expect(throws: RegistryError.self) { try await named.listRepositories() }
                }
            }
        }
        // Hub references normalise to registry-1.docker.io with library/.
        #expect(try ImageReference("alpine").description == "registry-1.docker.io/library/alpine:latest")
    }

    @Test(arguments: [
        (RegistryProvider.ghcr, RegistryCredentials.usernamePat(username: "octocat", pat: "ghp_abc"), "octocat", "ghp_abc"),
        (.harbor, .harborRobot(robotName: "robot$proj+ci", robotSecret: "robot-secret"), "robot$proj+ci", "robot-secret"),
        (.quay, .usernamePassword(username: "org+puller", password: "QUAYTOKEN"), "org+puller", "QUAYTOKEN"),
        (.gitlab, .usernamePassword(username: "gitlab+deploy-token-1", password: "gldt-x"), "gitlab+deploy-token-1", "gldt-x"),
        (.jfrog, .usernamePassword(username: "jf", password: "pw"), "jf", "pw"),
    ])
    func bearerProvidersSendCredentialsAsBasicToTheRealm(provider: RegistryProvider, credentials: RegistryCredentials, user: String, password: String) async throws {
        let fake = FakeRegistry()
        await fake.add("org/image", tag: "main", image: TestImage(seed: provider.rawValue))
        await fake.setAuth(.bearer(credentials: (user: user, password: password), expiresIn: 300, tokenField: "token"))
        try await withFakeServer(fake.handler) { url in
            try await withHTTPClient { http in
                let client = try makeClient(http, url, provider: provider, credentials: credentials)
                let result = await client.testConnection(timeout: .seconds(10))
                #expect(result.status == .ok)
                // GHCR and Quay list through their own APIs (tested above), not `_catalog`.
                if provider != .ghcr && provider != .quay { #expect(result.repositories == ["org/image"]) }
                #expect(try await client.listTags(Repository("org/image")).map(\.name) == ["main"])
            }
        }
    }

    @Test func nexusStyleBasicCatalog() async throws {
        let fake = FakeRegistry()
        await fake.add("docker-hosted/app", tag: "1", image: TestImage(seed: "nexus"))
        await fake.setAuth(.basic(user: "admin", password: "admin123"))
        try await withFakeServer(fake.handler) { url in
            try await withHTTPClient { http in
                let client = try makeClient(http, url, provider: .nexus, credentials: .usernamePassword(username: "admin", password: "admin123"))
                #expect(try await client.listRepositories().map(\.name) == ["docker-hosted/app"])
            }
        }
    }
}
