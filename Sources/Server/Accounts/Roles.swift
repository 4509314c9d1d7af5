public import Foundation
import Hummingbird
public import Store

/// Who is calling, resolved from an API key, a PAT or a session cookie.
public struct Principal: Sendable {
    public enum Kind: String, Sendable {
        case apiKey = "api_key"
        case sensorKey = "sensor_key"
        case pat
        case session
    }

    public var kind: Kind
    /// The key's, PAT's or user's id.
    public var id: String
    public var orgId: String
    public var role: Role
    /// Display name for the audit log (`user:alice`, `key:ci-pipeline`).
    public var actor: String
    /// The user behind a PAT or session.
    public var userId: String?
    /// An API key limited to one registry.
    public var registryScope: String?
    /// The role written on the credential itself: an API key's role, a PAT's cap (`owner` for an
    /// uncapped PAT, which follows its user's role); nil for a session.
    public var credentialRole: Role? = nil
    /// When the credential stops working (API keys and PATs); nil for a session or a key without expiry.
    public var expiresAt: Date? = nil

    /// Registry a sensor key belongs to.
    public var sensorRegistryId: String? { kind == .sensorKey ? registryScope : nil }

    /// A PAT created with a role below its user's: it never acts above that cap.
    public var isCappedPAT: Bool { kind == .pat && (credentialRole ?? .owner) != .owner }

    /// Whether a registry's data is within this credential's reach.
    public func reaches(registry id: String) -> Bool { registryScope == nil || registryScope == id }

    /// The one authorization step, for a caller already resolved: the role (`minimum`, or one of
    /// `alsoAllowed`) and the reach. An organization-wide operation refuses a registry-scoped
    /// credential with 403 naming its scope and `operation` (e.g. `GET /api/jobs`); a sensor key
    /// acts only on the sensor endpoints. Services call this with the principal the route or the
    /// console resolved; `AppServices.authorize(_:_:)` is this after authentication.
    public func authorize(
        _ minimum: Role, alsoAllowed: Set<Role> = [], reach: Reach = .organization, operation: @autoclosure () -> String
    ) throws {
        if kind == .sensorKey { throw APIError.forbidden }
        if role < minimum && !alsoAllowed.contains(role) { throw APIError.forbidden }
        if reach == .organization, let scope = registryScope { throw APIError.outOfScope(scope, operation: operation()) }
    }

    /// The registry ids a list query is limited to: the credential's own registry (a scoped
    /// key) and the one the caller asked for; both must hold, so a scoped key asking for another
    /// registry gets nothing. Empty: the whole organization.
    func registryFilter(asked: String?) -> [String] {
        var ids: [String] = []
        if let registryScope { ids.append(registryScope) }
        if let asked { ids.append(asked) }
        return ids
    }
}

extension APIError {
    /// A registry-scoped credential asking for something beyond its registry.
    static func outOfScope(_ scope: String, _ request: Request) -> APIError {
        outOfScope(scope, operation: "\(request.method.rawValue) \(request.uri.path)")
    }

    static func outOfScope(_ scope: String, operation: String) -> APIError {
        APIError(.forbidden, code: "FORBIDDEN", message: "This key is limited to registry \(scope); \(operation) reaches beyond it.")
    }
}

/// What an operation touches, declared by each handler in its call to `AppServices.authorize`.
public enum Reach: Sendable {
    /// Organization-wide: keys, members, channels, the audit log, the database, registry creation.
    /// A registry-scoped credential is refused with 403 naming its scope.
    case organization
    /// One registry's own data (the handler checks the id with `Principal.reaches(registry:)` and
    /// answers 404 outside it), or a list the handler filters to the credential's registry.
    case registry
}
