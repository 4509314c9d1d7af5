import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

// Push support (distribution spec "push" section). Internal: the product only pulls; tests
// use it to fill real and fake registries.
extension RegistryClient {
    /// Monolithic upload: `POST /blobs/uploads/` then `PUT <location>?digest=` with the bytes.
    func pushBlob(_ repository: Repository, _ data: Data) async throws(RegistryError) -> Digest {
        try await mapped {
            let digest = Digest.sha256(of: data)
            let location = try await startUpload(repository)
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: "application/octet-stream")
            headers.add(name: "Content-Length", value: "\(data.count)")
            let response = try await send(Call(method: .PUT, url: Self.appendQuery(location, "digest", digest.description), headers: headers,
                                               body: ByteBuffer(bytes: data), scope: Self.pushScope(repository), timeout: configuration.requestTimeout))
            guard response.status.code == 201 else { throw await statusError(response, "blob upload") }
            await Self.discard(response)
            return digest
        }
    }

    /// Chunked upload: `POST`, one `PATCH` per chunk with `Content-Range`, then `PUT ?digest=`.
    func pushBlobChunked(_ repository: Repository, _ data: Data, chunkSize: Int) async throws(RegistryError) -> Digest {
        try await mapped {
            let digest = Digest.sha256(of: data)
            var location = try await startUpload(repository)
            var offset = 0
            while offset < data.count {
                let end = min(offset + max(chunkSize, 1), data.count)
                var headers = HTTPHeaders()
                headers.add(name: "Content-Type", value: "application/octet-stream")
                headers.add(name: "Content-Range", value: "\(offset)-\(end - 1)")
                headers.add(name: "Content-Length", value: "\(end - offset)")
                let response = try await send(Call(method: .PATCH, url: location, headers: headers, body: ByteBuffer(bytes: data[offset..<end]),
                                                   scope: Self.pushScope(repository), timeout: configuration.requestTimeout))
                guard response.status.code == 202, let next = response.headers.first(name: "Location") else {
                    throw await statusError(response, "blob chunk upload")
                }
                await Self.discard(response)
                location = try resolve(next)
                offset = end
            }
            var headers = HTTPHeaders()
            headers.add(name: "Content-Length", value: "0")
            let response = try await send(Call(method: .PUT, url: Self.appendQuery(location, "digest", digest.description), headers: headers,
                                               scope: Self.pushScope(repository), timeout: configuration.requestTimeout))
            guard response.status.code == 201 else { throw await statusError(response, "blob upload completion") }
            await Self.discard(response)
            return digest
        }
    }

    /// `PUT /v2/<repo>/manifests/<reference>` with the exact bytes; returns their digest.
    func putManifest(_ repository: Repository, reference: String, _ bytes: Data, mediaType: String) async throws(RegistryError) -> Digest {
        try await mapped {
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: mediaType)
            let response = try await send(call(.PUT, "/v2/\(repository.name)/manifests/\(reference)", scope: Self.pushScope(repository),
                                               headers: headers, body: ByteBuffer(bytes: bytes)))
            guard response.status.code == 201 else { throw await statusError(response, "manifest upload") }
            await Self.discard(response)
            return Digest.sha256(of: bytes)
        }
    }

    func startUpload(_ repository: Repository) async throws -> String {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Length", value: "0")
        let response = try await send(call(.POST, "/v2/\(repository.name)/blobs/uploads/", scope: Self.pushScope(repository), headers: headers))
        guard response.status.code == 202, let location = response.headers.first(name: "Location") else {
            throw await statusError(response, "upload start")
        }
        await Self.discard(response)
        return try resolve(location)
    }

    func resolve(_ location: String) throws -> String {
        guard let url = URL(string: location, relativeTo: URL(string: base.root + "/"))?.absoluteURL.absoluteString,
              Origin(url) == Origin(base.origin) else {
            throw RegistryError.invalidResponse("upload location leaves the registry")
        }
        return url
    }

    static func appendQuery(_ url: String, _ name: String, _ value: String) -> String {
        url + (url.contains("?") ? "&" : "?") + "\(percentEncode(name))=\(percentEncode(value))"
    }
}
