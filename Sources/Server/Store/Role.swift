import Foundation

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
