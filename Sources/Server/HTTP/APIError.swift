import Foundation
public import HTTPTypes
public import Hummingbird
import NIOCore
import Cron
public import Store

/// One field-level problem in a request.
public struct ValidationIssue: Sendable, Codable, Hashable {
    public var path: String
    public var message: String

    public init(_ path: String, _ message: String) {
        self.path = path
        self.message = message
    }
}

/// The API's error envelope: `{"error": {"code", "message", "issues"}}`. Only this
/// module maps errors to HTTP; messages never carry secrets or internals.
public struct APIError: Error, HTTPResponseError, CustomStringConvertible {
    public var status: HTTPResponse.Status
    public var code: String
    public var message: String
    public var issues: [ValidationIssue]
    public var headers: HTTPFields

    public init(
        _ status: HTTPResponse.Status, code: String, message: String, issues: [ValidationIssue] = [],
        headers: HTTPFields = [:]
    ) {
        self.status = status
        self.code = code
        self.message = message
        self.issues = issues
        self.headers = headers
    }

    public var description: String { "\(code): \(message)" }

    public static func badRequest(_ message: String) -> APIError {
        APIError(.badRequest, code: "BAD_REQUEST", message: message)
    }
    public static func validation(_ issues: [ValidationIssue]) -> APIError {
        APIError(.badRequest, code: "VALIDATION_ERROR", message: "The request is invalid.", issues: issues)
    }
    public static func validation(_ path: String, _ message: String) -> APIError {
        validation([ValidationIssue(path, message)])
    }
    public static let unauthorized = APIError(
        .unauthorized, code: "UNAUTHORIZED", message: "Missing, invalid, expired or revoked credentials.")
    public static let forbidden = APIError(
        .forbidden, code: "FORBIDDEN", message: "Your role does not allow this action.")
    public static func notFound(_ what: String = "Resource") -> APIError {
        APIError(.notFound, code: "NOT_FOUND", message: "\(what) not found.")
    }
    public static func conflict(_ message: String) -> APIError {
        APIError(.conflict, code: "CONFLICT", message: message)
    }
    public static let methodNotAllowed = APIError(
        .methodNotAllowed, code: "METHOD_NOT_ALLOWED", message: "This method is not allowed on this path.")
    public static let payloadTooLarge = APIError(
        .contentTooLarge, code: "PAYLOAD_TOO_LARGE", message: "The request body is larger than 1 MiB.")
    public static let internalError = APIError(
        .internalServerError, code: "INTERNAL_ERROR", message: "An internal error occurred.")
    /// The outgoing-request policy refused a URL's host (422); the message names no address.
    public static func targetNotAllowed(_ message: String) -> APIError {
        var m = message
        if m.hasPrefix("target not allowed") { m = "Target not allowed" + m.dropFirst("target not allowed".count) }
        if !m.hasSuffix(".") { m += "." }
        return APIError(.unprocessableContent, code: "TARGET_NOT_ALLOWED", message: m)
    }
    public static func unavailable(_ message: String) -> APIError {
        APIError(.serviceUnavailable, code: "SERVICE_UNAVAILABLE", message: message)
    }
    public static func rateLimited(retryAfter: Int, limit: Int, reset: Int) -> APIError {
        var h = HTTPFields()
        h[.retryAfter] = "\(retryAfter)"
        h[HTTPField.Name("X-RateLimit-Limit")!] = "\(limit)"
        h[HTTPField.Name("X-RateLimit-Remaining")!] = "0"
        h[HTTPField.Name("X-RateLimit-Reset")!] = "\(reset)"
        return APIError(
            .tooManyRequests, code: "RATE_LIMITED", message: "Too many requests; retry after \(retryAfter) s.",
            headers: h)
    }

    struct Envelope: Encodable {
        struct Body: Encodable {
            var code: String
            var message: String
            var issues: [ValidationIssue]
        }
        var error: Body
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers = self.headers
        headers[.contentType] = "application/json; charset=utf-8"
        let data = (try? JSONCoding.encoder.encode(Envelope(error: .init(code: code, message: message, issues: issues))))
            ?? Data(#"{"error":{"code":"INTERNAL_ERROR","message":"An internal error occurred.","issues":[]}}"#.utf8)
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

extension StorageFault {
    /// The API's answer: 503 with the message (the failed statement's transaction was
    /// rolled back, so nothing was changed).
    public var apiError: APIError {
        .unavailable("The request was not carried out, nothing was changed: " + message + ".")
    }
}
