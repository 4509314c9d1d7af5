public import Cron
public import Registry
public import Foundation
public import GRDB

/// A row of one of the app database's tables as a `Codable` value. Columns are the
/// properties' names in snake case; dates are real `Date`s, stored as they always were:
/// RFC 3339 UTC text with whole seconds (`Timestamp`, e.g. `2026-11-29T08:27:55Z`), fixed
/// width so they sort and compare as text in SQL and rows written before records existed
/// read back unchanged.
///
/// The same types read and write rows through the engine-neutral SQL layer (`SQLRecord`),
/// with the same columns and the same stored forms: `RecordCodingParityTests` holds both
/// codecs to each other.
public protocol StoredRecord: Codable, Sendable, FetchableRecord, PersistableRecord, SQLRecord {}

extension StoredRecord {
    public static var tableName: String { databaseTableName }
    public static var databaseColumnDecodingStrategy: DatabaseColumnDecodingStrategy { .convertFromSnakeCase }
    public static var databaseColumnEncodingStrategy: DatabaseColumnEncodingStrategy { .convertToSnakeCase }
    public static func databaseDateEncodingStrategy(for column: String) -> DatabaseDateEncodingStrategy {
        .custom { Timestamp.format($0) }
    }
    public static func databaseDateDecodingStrategy(for column: String) -> DatabaseDateDecodingStrategy {
        .custom { value in String.fromDatabaseValue(value).flatMap(Timestamp.parse) }
    }
}

/// `api_keys`: organization API keys (`api`), registry sensor keys (`sensor`) and personal
/// access tokens (`pat`). Only the token's hash and display prefix are stored.
package struct APIKeyRecord: StoredRecord, Hashable {
    package static let databaseTableName = "api_keys"

    package enum Kind: String, Codable, Sendable { case api, sensor, pat }

    package var id: String
    package var orgId: String
    package var kind: Kind
    package var userId: String?
    package var name: String
    package var tokenHash: Data
    package var tokenPrefix: String
    package var role: String
    package var registryId: String?
    package var createdBy: String?
    package var createdAt: Date
    package var expiresAt: Date?
    package var lastUsedAt: Date?
    package var revokedAt: Date?

    /// A new key for `token` (its hash and display prefix; the token itself is never stored).
    package init(
        id: String, orgId: String, kind: Kind, userId: String? = nil, name: String, token: String, role: Role,
        registryId: String? = nil, createdBy: String?, createdAt: Date, expiresAt: Date? = nil
    ) {
        self.id = id
        self.orgId = orgId
        self.kind = kind
        self.userId = userId
        self.name = name
        self.tokenHash = Tokens.hash(token)
        self.tokenPrefix = Tokens.displayPrefix(token)
        self.role = role.rawValue
        self.registryId = registryId
        self.createdBy = createdBy
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.lastUsedAt = nil
        self.revokedAt = nil
    }
}

/// `users`: the organization's members (sign-in by username and bcrypt password).
package struct UserRecord: StoredRecord, Hashable {
    package static let databaseTableName = "users"

    package var id: String
    package var orgId: String
    package var username: String
    package var name: String?
    package var passwordHash: String
    package var role: String
    package var createdAt: Date
    package var updatedAt: Date

    package init(id: String, orgId: String, username: String, name: String?, passwordHash: String, role: Role, now: Date) {
        self.id = id
        self.orgId = orgId
        self.username = username
        self.name = name
        self.passwordHash = passwordHash
        self.role = role.rawValue
        self.createdAt = now
        self.updatedAt = now
    }
}

/// `sessions`: console sign-ins, by the hash of the session cookie's token.
package struct SessionRecord: StoredRecord, Hashable {
    package static let databaseTableName = "sessions"
    package static let primaryKeyColumns = ["token_hash"]

    package var tokenHash: Data
    package var userId: String
    package var createdAt: Date
    package var expiresAt: Date

    package init(tokenHash: Data, userId: String, createdAt: Date, expiresAt: Date) {
        self.tokenHash = tokenHash
        self.userId = userId
        self.createdAt = createdAt
        self.expiresAt = expiresAt
    }
}

/// `audit_log`: append-only (triggers refuse UPDATE and DELETE); `seq` orders it.
package struct AuditRecord: StoredRecord, Hashable {
    package static let databaseTableName = "audit_log"
    package static let primaryKeyColumns = ["seq"]

    /// Assigned by the database on insert.
    package var seq: Int64?
    package var orgId: String
    package var actor: String
    package var action: String
    package var target: String?
    package var ip: String?
    package var createdAt: Date

    package init(orgId: String, actor: String, action: String, target: String?, ip: String?, createdAt: Date) {
        self.seq = nil
        self.orgId = orgId
        self.actor = actor
        self.action = action
        self.target = target
        self.ip = ip
        self.createdAt = createdAt
    }
}

/// `notification_channels`: an organization's outgoing webhooks. `events` is the JSON array
/// of subscribed event names as stored; the signing secret lives in `secrets`.
package struct NotificationChannelRecord: StoredRecord, Hashable {
    package static let databaseTableName = "notification_channels"

    package var id: String
    package var orgId: String
    package var name: String
    package var type: String
    package var url: String
    package var events: String
    package var enabled: Bool
    package var hasSecret: Bool
    package var createdAt: Date
    package var updatedAt: Date
    /// `immediate`, `hourly` or `daily` (webhooks: always `immediate`, one delivery per event).
    package var delivery: String
    /// Events carrying a finding severity below this one are skipped; nil: none are.
    package var minSeverity: String?
    /// Events carrying a finding priority below this one (`P1` highest … `P5`) are skipped;
    /// nil: none are.
    package var minPriority: String?
    /// The type's non-secret settings as JSON (e-mail: host, port, security, from, to, …).
    package var settings: String?

    package init(
        id: String, orgId: String, name: String, type: String = "webhook", url: String, events: String, enabled: Bool,
        hasSecret: Bool, now: Date, delivery: String = "immediate", minSeverity: String? = nil, minPriority: String? = nil,
        settings: String? = nil
    ) {
        self.delivery = delivery
        self.minSeverity = minSeverity
        self.minPriority = minPriority
        self.settings = settings
        self.id = id
        self.orgId = orgId
        self.name = name
        self.type = type
        self.url = url
        self.events = events
        self.enabled = enabled
        self.hasSecret = hasSecret
        self.createdAt = now
        self.updatedAt = now
    }

    /// The subscribed event names.
    package var eventNames: [String] {
        (try? JSONDecoder().decode([String].self, from: Data(events.utf8))) ?? []
    }
}

/// `notification_pending`: an event waiting for its slack/teams/email channel's next message.
package struct NotificationPendingRecord: StoredRecord, Hashable {
    package static let databaseTableName = "notification_pending"

    package var id: String
    package var channelId: String
    package var event: String
    package var severity: String
    /// The event as the webhook body has it (JSON object of strings).
    package var body: Data
    package var createdAt: Date

    package init(id: String, channelId: String, event: String, severity: String, body: Data, createdAt: Date) {
        self.id = id
        self.channelId = channelId
        self.event = event
        self.severity = severity
        self.body = body
        self.createdAt = createdAt
    }
}

/// `notification_deliveries`: one event for one channel, with its attempts so far.
package struct NotificationDeliveryRecord: StoredRecord, Hashable {
    package static let databaseTableName = "notification_deliveries"

    package var id: String
    package var channelId: String
    package var event: String
    package var body: Data
    package var status: String
    package var attempts: Int
    package var responseCode: Int?
    package var error: String?
    package var createdAt: Date
    package var updatedAt: Date
    package var nextAttemptAt: Date?

    /// A delivery waiting for its first attempt now.
    package init(id: String, channelId: String, event: String, body: Data, now: Date) {
        self.id = id
        self.channelId = channelId
        self.event = event
        self.body = body
        self.status = "pending"
        self.attempts = 0
        self.responseCode = nil
        self.error = nil
        self.createdAt = now
        self.updatedAt = now
        self.nextAttemptAt = now
    }
}

/// `registries`: a registry as stored (credentials live in `secrets`, never here; the
/// webhook token only as its hash).
public struct RegistryRecord: StoredRecord, Hashable {
    public static let databaseTableName = "registries"

    public var id: String
    public var orgId: String
    public var name: String
    public var provider: RegistryProvider
    /// Empty for a provider whose endpoint is derived (AWS ECR without a URL).
    public var url: String
    public var scanMethod: ScanMethod
    public var schedule: Schedule
    /// Scanner names, stored as a JSON array.
    public var scanners: [String]
    public var tagInclude: String?
    public var tagExclude: String?
    public var insecure: Bool
    public var hasCredentials: Bool
    public var imageCount: Int
    public var healthStatus: HealthStatus
    public var healthScore: Int
    public var healthLastError: String?
    public var lastSyncAt: Date?
    public var lastSyncOkAt: Date?
    public var webhookTokenHash: Data?
    public var createdAt: Date
    public var updatedAt: Date

    package init(
        id: String, orgId: String, name: String, provider: RegistryProvider, url: String, scanMethod: ScanMethod,
        schedule: Schedule, scanners: [String], tagInclude: String?, tagExclude: String?, insecure: Bool,
        hasCredentials: Bool, webhookTokenHash: Data?, now: Date
    ) {
        self.id = id
        self.orgId = orgId
        self.name = name
        self.provider = provider
        self.url = url
        self.scanMethod = scanMethod
        self.schedule = schedule
        self.scanners = scanners
        self.tagInclude = tagInclude
        self.tagExclude = tagExclude
        self.insecure = insecure
        self.hasCredentials = hasCredentials
        self.imageCount = 0
        self.healthStatus = .unknown
        self.healthScore = 0
        self.healthLastError = nil
        self.lastSyncAt = nil
        self.lastSyncOkAt = nil
        self.webhookTokenHash = webhookTokenHash
        self.createdAt = now
        self.updatedAt = now
    }

    public var credentialsOwner: String { Self.credentialsOwner(id) }
    public static func credentialsOwner(_ id: String) -> String { "registry:\(id):credentials" }

    /// The organization's registry `id` (see `RegistryRepository`).
    public static func fetch(_ db: any SQLConnection, id: String, org: String) throws -> RegistryRecord? {
        try RegistryRepository.registry(db, id: id, org: org)
    }
}

/// `policies`: one policy of an organization; `scope` and `rules` are the API's JSON.
package struct PolicyRecord: StoredRecord, Hashable {
    package static let databaseTableName = "policies"

    package var id: String
    package var orgId: String
    package var name: String
    package var enabled: Bool
    package var action: String
    package var scope: String
    package var rules: String
    package var createdAt: Date
    package var updatedAt: Date

    package init(id: String, orgId: String, name: String, enabled: Bool, action: String, scope: String, rules: String, now: Date) {
        self.id = id
        self.orgId = orgId
        self.name = name
        self.enabled = enabled
        self.action = action
        self.scope = scope
        self.rules = rules
        self.createdAt = now
        self.updatedAt = now
    }
}
