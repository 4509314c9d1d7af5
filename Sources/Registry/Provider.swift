import Foundation

/// The registry providers the product knows, with the API's fixed spelling.
public enum RegistryProvider: String, Sendable, Codable, CaseIterable, Hashable {
    case dockerHub = "DOCKER_HUB"
    case ghcr = "GHCR"
    case awsEcr = "AWS_ECR"
    case azureAcr = "AZURE_ACR"
    case googleGar = "GOOGLE_GAR"
    case gitlab = "GITLAB"
    case harbor = "HARBOR"
    case jfrog = "JFROG"
    case quay = "QUAY"
    case nexus = "NEXUS"
    case dockerRegistry = "DOCKER_REGISTRY"
    case custom = "CUSTOM"

    /// The URL used when a registry of this provider is created without one; nil where
    /// the API requires a URL (or, for ECR, derives it from the token's proxy endpoint).
    public var defaultURL: String? {
        switch self {
        case .dockerHub: "https://registry-1.docker.io"
        case .ghcr: "https://ghcr.io"
        case .quay: "https://quay.io"
        case .awsEcr, .azureAcr, .googleGar, .gitlab, .harbor, .jfrog, .nexus, .dockerRegistry, .custom: nil
        }
    }

    /// Providers whose URL must be given on create.
    public var requiresURL: Bool {
        switch self {
        case .dockerRegistry, .harbor, .jfrog, .nexus, .gitlab, .custom, .azureAcr, .googleGar: true
        case .dockerHub, .ghcr, .quay, .awsEcr: false
        }
    }

    /// The credential kinds this provider accepts; `allowsAnonymous` says whether none is fine.
    public var acceptedCredentialKinds: [RegistryCredentials.Kind] {
        switch self {
        case .dockerHub: [.usernamePassword, .usernamePat]
        case .ghcr: [.usernamePat]
        case .awsEcr: [.awsEcr]
        case .azureAcr: [.azureAcr, .usernamePassword]
        case .googleGar: [.googleGar]
        case .gitlab: [.usernamePat, .usernamePassword]
        case .harbor: [.harborRobot, .usernamePassword]
        case .jfrog: [.jfrogIdentityToken, .usernamePassword]
        case .quay: [.usernamePassword]
        case .nexus, .dockerRegistry, .custom: [.usernamePassword]
        }
    }

    /// Whether a registry of this provider may be added without credentials.
    public var allowsAnonymous: Bool {
        switch self {
        case .dockerHub, .nexus, .dockerRegistry, .custom, .quay, .ghcr, .gitlab, .harbor, .jfrog: true
        case .awsEcr, .azureAcr, .googleGar: false
        }
    }
}

/// Provider-specific credential payloads, with the API's field names.
public enum RegistryCredentials: Sendable, Hashable, Codable {
    case usernamePassword(username: String, password: String)
    case usernamePat(username: String, pat: String)
    case awsEcr(accessKeyId: String, secretAccessKey: String, region: String, sessionToken: String?)
    case googleGar(serviceAccountKey: String)
    case azureAcr(tenantId: String, clientId: String, clientSecret: String)
    case harborRobot(robotName: String, robotSecret: String)
    case jfrogIdentityToken(username: String, identityToken: String)

    /// The credential payload shapes, with the API's type names.
    public enum Kind: String, Sendable, CaseIterable {
        case usernamePassword = "UsernamePassword"
        case usernamePat = "UsernamePat"
        case awsEcr = "AwsEcr"
        case googleGar = "GoogleGar"
        case azureAcr = "AzureAcr"
        case harborRobot = "HarborRobot"
        case jfrogIdentityToken = "JfrogIdentityToken"

        /// Required fields, then optional ones, as the API spells them.
        public var requiredFields: [String] {
            switch self {
            case .usernamePassword: ["username", "password"]
            case .usernamePat: ["username", "pat"]
            case .awsEcr: ["accessKeyId", "secretAccessKey", "region"]
            case .googleGar: ["serviceAccountKey"]
            case .azureAcr: ["tenantId", "clientId", "clientSecret"]
            case .harborRobot: ["robotName", "robotSecret"]
            case .jfrogIdentityToken: ["username", "identityToken"]
            }
        }

        /// Fields that may be given in addition to `requiredFields`.
        public var optionalFields: [String] {
            self == .awsEcr ? ["sessionToken"] : []
        }
    }

    /// The shape of this payload.
    public var kind: Kind {
        switch self {
        case .usernamePassword: .usernamePassword
        case .usernamePat: .usernamePat
        case .awsEcr: .awsEcr
        case .googleGar: .googleGar
        case .azureAcr: .azureAcr
        case .harborRobot: .harborRobot
        case .jfrogIdentityToken: .jfrogIdentityToken
        }
    }

    /// Builds credentials of `kind` from a flat string dictionary (the API's JSON object).
    public init?(kind: Kind, fields: [String: String]) {
        func f(_ k: String) -> String? { fields[k] }
        switch kind {
        case .usernamePassword:
            guard let u = f("username"), let p = f("password") else { return nil }
            self = .usernamePassword(username: u, password: p)
        case .usernamePat:
            guard let u = f("username"), let p = f("pat") else { return nil }
            self = .usernamePat(username: u, pat: p)
        case .awsEcr:
            guard let a = f("accessKeyId"), let s = f("secretAccessKey"), let r = f("region") else { return nil }
            self = .awsEcr(accessKeyId: a, secretAccessKey: s, region: r, sessionToken: f("sessionToken"))
        case .googleGar:
            guard let k = f("serviceAccountKey") else { return nil }
            self = .googleGar(serviceAccountKey: k)
        case .azureAcr:
            guard let t = f("tenantId"), let c = f("clientId"), let s = f("clientSecret") else { return nil }
            self = .azureAcr(tenantId: t, clientId: c, clientSecret: s)
        case .harborRobot:
            guard let n = f("robotName"), let s = f("robotSecret") else { return nil }
            self = .harborRobot(robotName: n, robotSecret: s)
        case .jfrogIdentityToken:
            guard let u = f("username"), let t = f("identityToken") else { return nil }
            self = .jfrogIdentityToken(username: u, identityToken: t)
        }
    }

    /// The flat field dictionary (the inverse of `init(kind:fields:)`).
    public var fields: [String: String] {
        switch self {
        case let .usernamePassword(u, p): ["username": u, "password": p]
        case let .usernamePat(u, p): ["username": u, "pat": p]
        case let .awsEcr(a, s, r, t):
            t.map { ["accessKeyId": a, "secretAccessKey": s, "region": r, "sessionToken": $0] }
                ?? ["accessKeyId": a, "secretAccessKey": s, "region": r]
        case let .googleGar(k): ["serviceAccountKey": k]
        case let .azureAcr(t, c, s): ["tenantId": t, "clientId": c, "clientSecret": s]
        case let .harborRobot(n, s): ["robotName": n, "robotSecret": s]
        case let .jfrogIdentityToken(u, t): ["username": u, "identityToken": t]
        }
    }

    /// Identifies which credential kinds a field set could be; the API picks the one its
    /// provider accepts. Returns nil when the keys fit no kind exactly.
    public static func kinds(matching keys: Set<String>) -> [Kind] {
        Kind.allCases.filter { kind in
            let req = Set(kind.requiredFields)
            return req.isSubset(of: keys) && keys.isSubset(of: req.union(kind.optionalFields))
        }
    }
}
