import Cron
import Foundation
import Store

/// The one rule for every credential that makes a credential: the new one is never wider than the
/// one that made it. Its role is at most the maker's *effective* role (a capped PAT's cap, not its
/// user's role), its registry scope lies inside the maker's, and it expires no later than the maker.
/// A session stands for its user signing in with a password, so it bounds role only.
struct CredentialBounds {
    var role: Role
    var registryId: String?
    var expiresAt: Date?

    enum Kind { case apiKey, pat }

    /// The bounded credential for a request, or a validation error naming the field that is too wide.
    /// A field left out takes the maker's bound: its scope, its expiry, and for a PAT its cap.
    static func apply(
        kind: Kind, role requested: Role?, registryId: String?, expiresAt: Date?, maker: Principal
    ) throws -> CredentialBounds {
        var issues: [ValidationIssue] = []
        if let requested, requested > maker.role {
            issues.append(ValidationIssue("role", "Cannot be above your own role (\(maker.role.rawValue))."))
        }
        let role: Role
        switch kind {
        case .apiKey:
            role = requested ?? maker.role
        case .pat:
            // A PAT without a role follows its user's current role (stored as an `owner` cap), unless
            // its maker is itself capped: then it carries the maker's effective role as its cap.
            role = requested ?? (maker.isCappedPAT ? maker.role : .owner)
        }
        var scope = registryId
        if let makerScope = maker.registryScope {
            if let registryId, registryId != makerScope {
                issues.append(ValidationIssue("registryId", "Must be your own scope (\(makerScope))."))
            }
            scope = makerScope
        }
        var expiry = expiresAt
        if let makerExpiry = maker.expiresAt, maker.kind != .session {
            if let expiresAt, expiresAt > makerExpiry {
                issues.append(ValidationIssue(
                    "expiresAt",
                    "Cannot be later than the credential making it, which expires \(Timestamp.format(makerExpiry))."))
            }
            expiry = min(expiresAt ?? makerExpiry, makerExpiry)
        }
        if !issues.isEmpty { throw APIError.validation(issues) }
        return CredentialBounds(role: role, registryId: scope, expiresAt: expiry)
    }
}
