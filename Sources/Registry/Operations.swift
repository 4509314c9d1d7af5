import AsyncHTTPClient
public import Foundation
import NIOCore
import NIOHTTP1

/// What to fetch a manifest by: a tag or a digest.
public enum ManifestReference: Sendable, Hashable, CustomStringConvertible {
    /// A tag (mutable).
    case tag(Tag)
    /// A digest (immutable; fetched content is verified against it).
    case digest(Digest)

    /// Parses a digest (`sha256:…`) or else a tag.
    public init(_ string: String) throws(RegistryError) {
        self = string.contains(":") ? .digest(try Digest(string)) : .tag(try Tag(string))
    }

    public var description: String {
        switch self {
        case let .tag(t): t.name
        case let .digest(d): d.description
        }
    }
}

/// A reference resolved to one platform's image manifest.
public struct ResolvedImage: Sendable {
    /// The digest the reference points at (the index's when it is multi-platform).
    public let digest: Digest
    /// The digest of the selected platform's image manifest (equal to `digest` for single-platform images).
    public let manifestDigest: Digest
    /// The selected image manifest.
    public let manifest: ImageManifest
    /// The selected platform (from the index entry), nil for single-platform images.
    public let platform: Platform?
    /// The index, when the reference points at one.
    public let index: ImageIndex?
    /// The selected image manifest as the registry served it (its bytes hash to `manifestDigest`).
    public let served: FetchedManifest
}

extension RegistryClient {
    /// The manifest limit: 4 MiB, as the distribution spec recommends registries accept.
    public static let manifestSizeLimit = 4 << 20
    static let listBodyLimit = 16 << 20

    // MARK: - Listing

    /// Every repository (Docker Hub: the Hub API's namespaces; others: `/v2/_catalog`), paging
    /// through `Link` headers; stops after `limit` names when given.
    public func listRepositories(limit: Int? = nil) async throws(RegistryError) -> [Repository] {
        try await mapped {
            if configuration.provider == .dockerHub { return try await hubRepositories(limit: limit) }
            if configuration.provider == .ghcr { return try await ghcrRepositories(limit: limit) }
            if configuration.provider == .quay { return try await quayRepositories(limit: limit) }
            if configuration.provider == .awsEcr { return try await ecrRepositories(limit: limit) }
            struct Catalog: Decodable { var repositories: [String]? }
            let n = min(configuration.pageSize, limit ?? Int.max)
            let names = try await paged(firstPath: "/v2/_catalog?n=\(n)", scope: Self.catalogScope, what: "catalog", limit: limit) { data in
                try JSONDecoder().decode(Catalog.self, from: data).repositories ?? []
            }
            return names.compactMap { try? Repository($0) }
        }
    }

    /// Every tag of `repository`, paging through `Link` headers (`n`/`last`).
    public func listTags(_ repository: Repository, limit: Int? = nil) async throws(RegistryError) -> [Tag] {
        try await mapped {
            struct Tags: Decodable { var tags: [String]? }
            let n = min(configuration.pageSize, limit ?? Int.max)
            let names = try await paged(firstPath: "/v2/\(repository.name)/tags/list?n=\(n)", scope: Self.pullScope(repository), what: "tags of \(repository)", limit: limit) { data in
                try JSONDecoder().decode(Tags.self, from: data).tags ?? []
            }
            return names.compactMap { try? Tag($0) }
        }
    }

    /// GETs pages until there is no `Link: <…>; rel="next"`, at most `maxPages`.
    func paged(firstPath: String, scope: String, what: String, limit: Int?, decode: (Data) throws -> [String]) async throws -> [String] {
        var url: String? = base.root + firstPath
        var seen: Set<String> = []
        var items: [String] = []
        var pages = 0
        while let current = url {
            pages += 1
            guard pages <= configuration.maxPages else {
                throw RegistryError.invalidResponse("\(what): more than \(configuration.maxPages) pages")
            }
            guard seen.insert(current).inserted else { throw RegistryError.invalidResponse("\(what): paging loops") }
            var headers = HTTPHeaders()
            headers.add(name: "Accept", value: "application/json")
            let response = try await send(Call(url: current, headers: headers, scope: scope, timeout: configuration.requestTimeout))
            guard response.status.code == 200 else { throw await statusError(response, what) }
            let data = try await Self.readBody(response, limit: Self.listBodyLimit, what: what)
            do { items += try decode(data) } catch { throw RegistryError.invalidResponse("\(what): malformed JSON") }
            if let limit, items.count >= limit { return Array(items.prefix(limit)) }
            url = nil
            if let next = Self.nextLink(response.headers["Link"]) {
                guard let resolved = URL(string: next, relativeTo: URL(string: current))?.absoluteURL.absoluteString,
                      Origin(resolved) == Origin(base.origin) else {
                    throw RegistryError.invalidResponse("\(what): next page link leaves the registry")
                }
                url = resolved
            }
        }
        return items
    }

    /// The target of the `rel="next"` link in `Link` header values (RFC 8288).
    static func nextLink(_ values: [String]) -> String? {
        for value in values {
            var rest = Substring(value)
            while let open = rest.firstIndex(of: "<"), let close = rest[open...].firstIndex(of: ">") {
                let target = rest[rest.index(after: open)..<close]
                let params = rest[rest.index(after: close)...]
                let end = params.firstIndex(of: "<") ?? params.endIndex
                let attributes = params[..<end].lowercased().replacingOccurrences(of: " ", with: "")
                if attributes.contains("rel=\"next\"") || attributes.contains("rel=next") {
                    return String(target)
                }
                rest = params[end...]
            }
        }
        return nil
    }

    // MARK: - Manifests

    /// Resolves a tag (or digest) to its manifest digest with `HEAD` (Docker Hub does not count
    /// HEADs against the pull limit); falls back to GET when the registry sends no digest.
    public func resolveDigest(_ repository: Repository, reference: ManifestReference) async throws(RegistryError) -> Digest {
        try await mapped {
            let response: HTTPClientResponse
            do {
                response = try await sendManifestRequest(.HEAD, repository, reference)
            } catch let RegistryError.httpStatus(code, _) where code == 405 || code == 501 {
                // A registry (or proxy) without HEAD support: GET it is.
                return try await fetchManifest(repository, reference: reference).digest
            }
            await Self.discard(response)
            if let header = response.headers.first(name: "Docker-Content-Digest"), let digest = try? Digest(header) {
                if case let .digest(wanted) = reference, wanted != digest {
                    throw RegistryError.digestMismatch(expected: wanted.description, actual: digest.description)
                }
                return digest
            }
            return try await fetchManifest(repository, reference: reference).digest
        }
    }

    /// Fetches a manifest or index (Accept: OCI + Docker v2 types), capped at 4 MiB; verifies
    /// the bytes against the digest when fetched by digest, and against `Docker-Content-Digest`.
    public func fetchManifest(_ repository: Repository, reference: ManifestReference) async throws(RegistryError) -> FetchedManifest {
        try await mapped {
            let response = try await sendManifestRequest(.GET, repository, reference)
            let bytes = try await Self.readBody(response, limit: Self.manifestSizeLimit, what: "manifest")
            // The registry hashes the exact bytes it stores: verify those, never a re-encoding.
            func verify(_ expected: Digest) throws {
                let actual = expected.recomputed(over: bytes)
                guard actual == expected else { throw RegistryError.digestMismatch(expected: expected.description, actual: actual.description) }
            }
            var wanted: Digest?
            if case let .digest(d) = reference { wanted = d }
            if let wanted { try verify(wanted) }
            let announced = response.headers.first(name: "Docker-Content-Digest").flatMap { try? Digest($0) }
            if let announced, announced != wanted { try verify(announced) }
            let digest = wanted ?? announced ?? Digest.sha256(of: bytes)
            let (manifest, mediaType) = try Manifest.decode(bytes, contentType: response.headers.first(name: "Content-Type"))
            return FetchedManifest(manifest: manifest, mediaType: mediaType, digest: digest, bytes: bytes)
        }
    }

    /// GET or HEAD a manifest with the full `Accept` list; anything but 200 becomes an error.
    func sendManifestRequest(_ method: HTTPMethod, _ repository: Repository, _ reference: ManifestReference) async throws -> HTTPClientResponse {
        var headers = HTTPHeaders()
        headers.add(name: "Accept", value: MediaType.manifestAccept)
        let response = try await send(call(method, "/v2/\(repository.name)/manifests/\(reference)", scope: Self.pullScope(repository), headers: headers))
        guard response.status.code == 200 else { throw await statusError(response, "manifest \(repository):\(reference)") }
        return response
    }

    /// Fetches the manifest `image` names and, for an index, the entry for `platform`
    /// (default linux/amd64), verifying every digest.
    public func resolveImage(_ image: ImageReference, platform: Platform = .linuxAmd64) async throws(RegistryError) -> ResolvedImage {
        let top = try await fetchManifest(image.repository, reference: image.manifestReference)
        switch top.manifest {
        case let .image(m):
            return ResolvedImage(digest: top.digest, manifestDigest: top.digest, manifest: m, platform: nil, index: nil, served: top)
        case let .index(index):
            guard let entry = index.manifest(for: platform) else {
                let available = index.platforms.map(\.description).joined(separator: ", ")
                throw .platformNotFound("\(platform) (available: \(available.isEmpty ? "none" : available))")
            }
            return try await resolveEntry(entry, of: index, top: top, in: image.repository)
        }
    }

    /// Fetches (and verifies) the image manifest an index entry points at.
    func resolveEntry(_ entry: Descriptor, of index: ImageIndex, top: FetchedManifest, in repository: Repository) async throws(RegistryError) -> ResolvedImage {
        let child = try await fetchManifest(repository, reference: .digest(entry.digest))
        guard case let .image(m) = child.manifest else {
            throw .unsupportedMediaType("nested index for \(entry.platform?.description ?? "an index entry")")
        }
        return ResolvedImage(
            digest: top.digest, manifestDigest: child.digest, manifest: m, platform: entry.platform, index: index, served: child)
    }

    /// Every platform's image of `image` (one entry for a single-platform image), fetching the
    /// index once; attestation entries (`unknown/unknown`) are skipped.
    public func resolveAllPlatforms(_ image: ImageReference) async throws(RegistryError) -> [ResolvedImage] {
        let top = try await fetchManifest(image.repository, reference: image.manifestReference)
        switch top.manifest {
        case let .image(m):
            return [ResolvedImage(digest: top.digest, manifestDigest: top.digest, manifest: m, platform: nil, index: nil, served: top)]
        case let .index(index):
            var images: [ResolvedImage] = []
            for entry in index.manifests {
                guard let platform = entry.platform, index.platforms.contains(platform) else { continue }
                images.append(try await resolveEntry(entry, of: index, top: top, in: image.repository))
            }
            return images
        }
    }

    // MARK: - Blobs

    /// Starts a blob download and returns its body as a stream of buffers, verified on the fly:
    /// the stream throws at its end when the bytes do not hash to `digest` or their count
    /// differs from `size` / `Content-Length`. Redirects to other origins (S3, CDNs) are
    /// followed without `Authorization`. Memory stays bounded by the chunk size.
    public func fetchBlob(_ repository: Repository, digest: Digest, size: Int64? = nil) async throws(RegistryError) -> BlobStream {
        try await mapped {
            let response = try await send(call(.GET, "/v2/\(repository.name)/blobs/\(digest)", scope: Self.pullScope(repository), timeout: configuration.blobTimeout))
            guard response.status.code == 200 else { throw await statusError(response, "blob \(digest)") }
            let length = response.headers.first(name: "Content-Length").flatMap { Int64($0) }
            if let length, let size, length != size {
                // Refuse before reading a byte: a 10 GB body for a 1 KB layer is never downloaded.
                throw RegistryError.sizeMismatch(expected: size, actual: length)
            }
            return BlobStream(body: response.body, digest: digest, expectedSize: size ?? length)
        }
    }

    /// Downloads a small blob (e.g. an image config) into memory, verified, refusing more than `limit` bytes.
    public func fetchBlobData(_ repository: Repository, digest: Digest, size: Int64? = nil, limit: Int = 16 << 20) async throws(RegistryError) -> Data {
        if let size, size > Int64(limit) { throw .tooLarge("blob of \(size) bytes over the \(limit) byte limit") }
        let stream = try await fetchBlob(repository, digest: digest, size: size)
        return try await mapped {
            var data = Data()
            for try await chunk in stream {
                guard data.count + chunk.readableBytes <= limit else { throw RegistryError.tooLarge("blob over \(limit) bytes") }
                data.append(contentsOf: chunk.readableBytesView)
            }
            return data
        }
    }
}
