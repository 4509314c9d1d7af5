import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

// Docker Hub refuses `/v2/_catalog`; repositories are listed with the Hub API
// (`GET /v2/repositories/<namespace>/?page_size=N`, `next` holds the absolute next-page URL).
// Private repositories need a Hub JWT from `POST /v2/users/login`. Tags, manifests and blobs
// go through registry-1.docker.io with tokens from auth.docker.io like any bearer registry.
extension RegistryClient {
    struct HubPage: Decodable {
        struct Item: Decodable {
            var name: String
            var namespace: String?
        }
        var next: String?
        var results: [Item]?
    }

    struct HubLogin: Decodable { var token: String? }

    func hubRepositories(limit: Int?) async throws -> [Repository] {
        let api = configuration.endpoints.dockerHubAPI
        try Self.requireSecureEndpoint(api, "Docker Hub API")
        let credential = try await resolvedCredential()
        var namespaces = configuration.dockerHubNamespaces ?? []
        if namespaces.isEmpty, let (user, _) = credential.basicPair { namespaces = [user.lowercased()] }
        guard !namespaces.isEmpty else {
            throw RegistryError.invalidConfiguration("Docker Hub lists repositories per namespace: give credentials or namespaces")
        }
        var headers = HTTPHeaders()
        headers.add(name: "Accept", value: "application/json")
        if let (user, password) = credential.basicPair {
            let jwt = try await hubLogin(api: api, username: user, password: password)
            headers.add(name: "Authorization", value: "Bearer \(jwt)")
        }
        let apiOrigin = Origin(api)
        var result: [Repository] = []
        for namespace in namespaces {
            guard Repository.isValidComponent(Substring(namespace)) else {
                throw RegistryError.invalidConfiguration("invalid Docker Hub namespace")
            }
            var url: String? = "\(api)/v2/repositories/\(namespace)/?page_size=\(min(configuration.pageSize, 100))"
            var pages = 0
            var seen: Set<String> = []
            while let current = url {
                pages += 1
                guard pages <= configuration.maxPages, seen.insert(current).inserted else {
                    throw RegistryError.invalidResponse("Docker Hub listing: too many pages or a paging loop")
                }
                let response = try await send(Call(url: current, headers: headers, authenticate: false, timeout: configuration.requestTimeout))
                guard response.status.code == 200 else { throw await statusError(response, "Docker Hub repositories of \(namespace)") }
                let data = try await Self.readBody(response, limit: Self.listBodyLimit, what: "Docker Hub listing")
                guard let page = try? JSONDecoder().decode(HubPage.self, from: data) else {
                    throw RegistryError.invalidResponse("Docker Hub listing: malformed JSON")
                }
                for item in page.results ?? [] {
                    if let repository = try? Repository("\(item.namespace ?? namespace)/\(item.name)") { result.append(repository) }
                    if let limit, result.count >= limit { return result }
                }
                url = nil
                if let next = page.next, !next.isEmpty {
                    guard Origin(next) == apiOrigin else { throw RegistryError.invalidResponse("Docker Hub next page leaves the Hub API") }
                    url = next
                }
            }
        }
        return result
    }

    func hubLogin(api: String, username: String, password: String) async throws -> String {
        let key = TokenKey(realm: "\(api)/v2/users/login", service: "hub.docker.com", scope: username)
        return try await tokens.value(for: key) { [self] in
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: "application/json")
            let body = try JSONSerialization.data(withJSONObject: ["username": username, "password": password])
            let response = try await send(Call(method: .POST, url: "\(api)/v2/users/login", headers: headers, body: ByteBuffer(bytes: body), authenticate: false, timeout: configuration.requestTimeout))
            guard response.status.code == 200 else {
                if response.status.code == 401 || response.status.code == 403 {
                    await Self.discard(response)
                    throw RegistryError.authFailed("Docker Hub refused the credentials")
                }
                throw await statusError(response, "Docker Hub login")
            }
            let data = try await Self.readBody(response, limit: 1 << 20, what: "Docker Hub login")
            guard let token = try? JSONDecoder().decode(HubLogin.self, from: data).token, !token.isEmpty else {
                throw RegistryError.invalidResponse("Docker Hub login answered no token")
            }
            // Hub JWTs live longer; five minutes covers one listing without tracking their expiry.
            return (token, now().addingTimeInterval(300))
        }
    }
}
