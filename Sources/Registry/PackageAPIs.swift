import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

// GHCR and Quay do not serve `/v2/_catalog` to ordinary accounts; their repositories are
// listed through the providers' own APIs. Tags, manifests and blobs still go through the
// registry with its token auth like any bearer registry.
//
// - GHCR: the GitHub packages API (`GET /user/packages?package_type=container`, or
//   `/orgs/<org>/packages` / `/users/<user>/packages` for configured namespaces) with the
//   PAT as `Authorization: Bearer`; pages through `Link: rel="next"`.
// - Quay: `GET <registry>/api/v1/repository?namespace=<ns>` (public repositories need no
//   token; private ones need an OAuth application token given as the password — robot
//   accounts can pull but not list); pages through the `next_page` token.
extension RegistryClient {
    struct GitHubPackage: Decodable {
        struct Owner: Decodable { var login: String }
        var name: String
        var owner: Owner?
    }

    func ghcrRepositories(limit: Int?) async throws -> [Repository] {
        let api = configuration.endpoints.githubAPI
        try Self.requireSecureEndpoint(api, "GitHub API")
        guard case let .usernamePat(username, pat)? = configuration.credentials else {
            throw RegistryError.invalidConfiguration(
                "GHCR lists repositories through the GitHub packages API: give a username and a PAT with read:packages")
        }
        var headers = HTTPHeaders()
        headers.add(name: "Accept", value: "application/vnd.github+json")
        headers.add(name: "X-GitHub-Api-Version", value: "2022-11-28")
        headers.add(name: "Authorization", value: "Bearer \(pat)")
        var starts: [(String, String)] = []  // (first URL, namespace for messages)
        let namespaces = configuration.dockerHubNamespaces ?? []
        if namespaces.isEmpty {
            starts.append(("\(api)/user/packages?package_type=container&per_page=100", username))
        } else {
            for ns in namespaces {
                guard Repository.isValidComponent(Substring(ns.lowercased())) else {
                    throw RegistryError.invalidConfiguration("invalid GitHub namespace")
                }
                starts.append(("\(api)/orgs/\(ns)/packages?package_type=container&per_page=100", ns))
            }
        }
        var result: [Repository] = []
        for (first, ns) in starts {
            var url: String? = first
            var userFallback = !namespaces.isEmpty
            var pages = 0
            var seen: Set<String> = []
            while let current = url {
                pages += 1
                guard pages <= configuration.maxPages, seen.insert(current).inserted else {
                    throw RegistryError.invalidResponse("GitHub packages listing: too many pages or a paging loop")
                }
                let response = try await send(Call(url: current, headers: headers, authenticate: false, timeout: configuration.requestTimeout))
                if response.status.code == 404, userFallback {
                    // Not an organization: the namespace is a user.
                    await Self.discard(response)
                    userFallback = false
                    url = "\(api)/users/\(ns)/packages?package_type=container&per_page=100"
                    continue
                }
                if response.status.code == 401 || response.status.code == 403 {
                    await Self.discard(response)
                    throw RegistryError.authFailed("GitHub refused the PAT for package listing (it needs read:packages)")
                }
                guard response.status.code == 200 else { throw await statusError(response, "GitHub packages of \(ns)") }
                let data = try await Self.readBody(response, limit: Self.listBodyLimit, what: "GitHub packages listing")
                guard let page = try? JSONDecoder().decode([GitHubPackage].self, from: data) else {
                    throw RegistryError.invalidResponse("GitHub packages listing: malformed JSON")
                }
                for package in page {
                    let owner = (package.owner?.login ?? ns).lowercased()
                    if let repository = try? Repository("\(owner)/\(package.name.lowercased())") { result.append(repository) }
                    if let limit, result.count >= limit { return result }
                }
                url = nil
                if let next = Self.nextLink(response.headers["Link"]) {
                    guard Origin(next) == Origin(api) else { throw RegistryError.invalidResponse("GitHub next page leaves the API") }
                    url = next
                }
            }
        }
        return result
    }

    struct QuayPage: Decodable {
        struct Item: Decodable {
            var namespace: String
            var name: String
        }
        var repositories: [Item]?
        var next_page: String?
    }

    func quayRepositories(limit: Int?) async throws -> [Repository] {
        var namespaces = configuration.dockerHubNamespaces ?? []
        var token: String?
        switch configuration.credentials {
        case let .usernamePassword(username, password)?:
            token = password
            // A robot account `org+name` belongs to `org`.
            if namespaces.isEmpty { namespaces = [String(username.split(separator: "+").first ?? Substring(username))] }
        default: break
        }
        guard !namespaces.isEmpty else {
            throw RegistryError.invalidConfiguration("Quay lists repositories per namespace: give credentials or namespaces")
        }
        var headers = HTTPHeaders()
        headers.add(name: "Accept", value: "application/json")
        if let token { headers.add(name: "Authorization", value: "Bearer \(token)") }
        var result: [Repository] = []
        for ns in namespaces {
            guard Repository.isValidComponent(Substring(ns)) else { throw RegistryError.invalidConfiguration("invalid Quay namespace") }
            var nextPage: String?
            var pages = 0
            var seen: Set<String> = []
            repeat {
                pages += 1
                var url = "\(base.root)/api/v1/repository?namespace=\(ns)"
                if let nextPage {
                    guard seen.insert(nextPage).inserted, pages <= configuration.maxPages else {
                        throw RegistryError.invalidResponse("Quay listing: too many pages or a paging loop")
                    }
                    url += "&next_page=\(nextPage.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")"
                }
                let response = try await send(Call(url: url, headers: headers, authenticate: false, timeout: configuration.requestTimeout))
                if response.status.code == 401 || response.status.code == 403 {
                    await Self.discard(response)
                    throw RegistryError.authFailed(
                        "Quay refused to list \(ns): listing private repositories needs an OAuth application token as the password")
                }
                guard response.status.code == 200 else { throw await statusError(response, "Quay repositories of \(ns)") }
                let data = try await Self.readBody(response, limit: Self.listBodyLimit, what: "Quay listing")
                guard let page = try? JSONDecoder().decode(QuayPage.self, from: data) else {
                    throw RegistryError.invalidResponse("Quay listing: malformed JSON")
                }
                for item in page.repositories ?? [] {
                    if let repository = try? Repository("\(item.namespace)/\(item.name)") { result.append(repository) }
                    if let limit, result.count >= limit { return result }
                }
                nextPage = page.next_page.flatMap { $0.isEmpty ? nil : $0 }
            } while nextPage != nil
        }
        return result
    }
}

// AWS ECR has no `_catalog`: repositories are listed with the SigV4-signed
// `DescribeRepositories` API of the registry's region, paging through `nextToken`.
extension RegistryClient {
    struct ECRRepositories: Decodable {
        struct Item: Decodable { var repositoryName: String }
        var repositories: [Item]?
        var nextToken: String?
    }

    func ecrRepositories(limit: Int?) async throws -> [Repository] {
        guard case let .awsEcr(accessKeyId, secretAccessKey, region, sessionToken)? = configuration.credentials else {
            throw RegistryError.invalidConfiguration("ECR lists repositories with AwsEcr credentials")
        }
        var result: [Repository] = []
        var nextToken: String?
        var seen: Set<String> = []
        var pages = 0
        repeat {
            pages += 1
            guard pages <= configuration.maxPages else { throw RegistryError.invalidResponse("ECR listing: too many pages") }
            var request: [String: Any] = ["maxResults": 1000]
            if let nextToken { request["nextToken"] = nextToken }
            let body = Array(try JSONSerialization.data(withJSONObject: request, options: [.sortedKeys]))
            let response = try await ecrAPICall(
                "DescribeRepositories", body: body, accessKeyId: accessKeyId, secretAccessKey: secretAccessKey, region: region,
                sessionToken: sessionToken)
            switch response.status.code {
            case 200: break
            case 400, 401, 403:
                await Self.discard(response)
                throw RegistryError.authFailed("AWS refused DescribeRepositories (HTTP \(response.status.code)): the key needs ecr:DescribeRepositories")
            default:
                throw await statusError(response, "ECR DescribeRepositories")
            }
            let data = try await Self.readBody(response, limit: Self.listBodyLimit, what: "ECR listing")
            guard let page = try? JSONDecoder().decode(ECRRepositories.self, from: data) else {
                throw RegistryError.invalidResponse("ECR listing: malformed JSON")
            }
            for item in page.repositories ?? [] {
                if let repository = try? Repository(item.repositoryName) { result.append(repository) }
                if let limit, result.count >= limit { return result }
            }
            nextToken = page.nextToken.flatMap { $0.isEmpty ? nil : $0 }
            if let token = nextToken, !seen.insert(token).inserted { throw RegistryError.invalidResponse("ECR listing: paging loops") }
        } while nextToken != nil
        return result
    }
}
