import Foundation
import Hummingbird
public import HummingbirdCore
import NIOCore
import Store

/// `page` ≥ 1 (default 1), `limit` 1–200 (default 50); out of range → 400.
public struct PageRequest: Sendable {
    public var page: Int
    public var limit: Int
    public var sortField: String?
    public var descending: Bool
    public var search: String?

    public var offset: Int { (page - 1) * limit }

    /// `search` as a LIKE pattern (`%…%`, with `\` escaping `%`, `_` and `\`).
    public var likePattern: String? {
        search.map {
            "%" + $0.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%")
                .replacingOccurrences(of: "_", with: "\\_") + "%"
        }
    }

    public init(_ uri: URI, sortable: Set<String>) throws {
        let q = uri.queryParameters
        var issues: [ValidationIssue] = []
        page = 1
        limit = 50
        if let p = q["page"] {
            if let v = Int(String(p)), v >= 1, v <= 1_000_000 { page = v } else { issues.append(.init("page", "Must be an integer ≥ 1.")) }
        }
        if let l = q["limit"] {
            if let v = Int(String(l)), (1...200).contains(v) { limit = v } else { issues.append(.init("limit", "Must be an integer from 1 to 200.")) }
        }
        if !issues.isEmpty { throw APIError.validation(issues) }
        sortField = nil
        descending = false
        if let s = q["sort"] {
            let parts = s.split(separator: ":", maxSplits: 1).map(String.init)
            if let f = parts.first, sortable.contains(f) {
                sortField = f
                descending = parts.count > 1 && parts[1].lowercased() == "desc"
            }
        }
        if let s = q["search"], !s.isEmpty { search = String(s) } else { search = nil }
    }
}

struct ListMeta: Encodable {
    var page: Int
    var pageSize: Int
    var total: Int
    var totalPages: Int
    var hasNext: Bool
    var hasPrev: Bool
}

struct ListLinks: Encodable {
    var `self`: String
    var next: String?
    var prev: String?

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(self.`self`, forKey: .`self`)
        try c.encode(next, forKey: .next)
        try c.encode(prev, forKey: .prev)
    }

    enum CodingKeys: String, CodingKey { case `self`, next, prev }
}

struct ListEnvelope<T: Encodable>: Encodable {
    var data: [T]
    var meta: ListMeta
    var links: ListLinks

    init(data: [T], page: PageRequest, total: Int, uri: URI) {
        self.data = data
        let totalPages = total == 0 ? 0 : (total + page.limit - 1) / page.limit
        meta = ListMeta(
            page: page.page, pageSize: page.limit, total: total, totalPages: totalPages,
            hasNext: page.page < totalPages, hasPrev: page.page > 1)
        func link(_ p: Int) -> String {
            var items = uri.queryParameters.filter { $0.key != "page" }.map { "\($0.key)=\($0.value)" }.sorted()
            items.insert("page=\(p)", at: 0)
            return "\(uri.path)?\(items.joined(separator: "&"))"
        }
        links = ListLinks(
            self: link(page.page), next: meta.hasNext ? link(page.page + 1) : nil,
            prev: meta.hasPrev ? link(page.page - 1) : nil)
    }
}

extension ListEnvelope {
    /// `links` and `meta` after the caller wrote `"data":[…]` (keys in sorted order).
    func writeLinksAndMeta(to w: inout JSONWriter) {
        w.beginObject("links")
        w.field("next", links.next)
        w.field("prev", links.prev)
        w.field("self", links.`self`)
        w.endObject()
        w.beginObject("meta")
        w.field("hasNext", meta.hasNext)
        w.field("hasPrev", meta.hasPrev)
        w.field("page", meta.page)
        w.field("pageSize", meta.pageSize)
        w.field("total", meta.total)
        w.field("totalPages", meta.totalPages)
        w.endObject()
    }
}

struct DataEnvelope<T: Encodable>: Encodable {
    var data: T
}

/// The answer of every DELETE: the id and `"deleted": true` (a boolean, as the contract types it).
struct Deleted: Encodable {
    var id: String
    var deleted = true
}

/// JSON responses with one fixed encoder.
enum Reply {
    static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) throws
        -> Response
    {
        var h = headers
        h[.contentType] = "application/json; charset=utf-8"
        let data = try JSONCoding.encoder.encode(value)
        return Response(status: status, headers: h, body: .init(byteBuffer: .init(bytes: data)))
    }

    static func bytes(_ bytes: [UInt8], status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    static func data(_ value: some Encodable, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) throws
        -> Response
    {
        try json(DataEnvelope(data: value), status: status, headers: headers)
    }
}

extension Request {
    /// Reads a JSON object body (≤ 1 MiB, `application/json`).
    func jsonObject() async throws -> ObjectReader {
        try ObjectReader.parse(try await jsonBody())
    }

    /// The bytes of a JSON body (≤ 1 MiB, `application/json`), not yet parsed.
    func jsonBody() async throws -> Data {
        if let ct = headers[.contentType], !ct.lowercased().hasPrefix("application/json") {
            throw APIError.badRequest("Content-Type must be application/json.")
        }
        // A declared length over the limit is refused before any byte is awaited.
        if let declared = headers[.contentLength].flatMap({ Int($0) }), declared > 1 << 20 {
            throw APIError.payloadTooLarge
        }
        let buffer: ByteBuffer
        do {
            buffer = try await body.collect(upTo: 1 << 20)
        } catch is NIOTooManyBytesError {
            throw APIError.payloadTooLarge
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            // The HTTP framing broke mid-body (a bad chunk size, say): the client's fault.
            throw APIError.badRequest("The request body could not be read: \(error).")
        }
        return Data(buffer.readableBytesView)
    }
}
