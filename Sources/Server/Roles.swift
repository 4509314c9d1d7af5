/// Roles by level; "viewer (any)" means any authenticated principal of the organization.
public enum Role: String, Sendable, Codable, CaseIterable, Comparable {
    case owner, admin, developer, ci, auditor, viewer

    public var level: Int {
        switch self {
        case .owner: 100
        case .admin: 80
        case .developer: 60
        case .ci: 50
        case .auditor: 40
        case .viewer: 20
        }
    }

    public static func < (a: Role, b: Role) -> Bool { a.level < b.level }
}

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

    /// Registry a sensor key belongs to.
    public var sensorRegistryId: String? { kind == .sensorKey ? registryScope : nil }

    public func require(_ minimum: Role) throws {
        if kind == .sensorKey { throw APIError.forbidden }
        if role < minimum { throw APIError.forbidden }
    }
}
