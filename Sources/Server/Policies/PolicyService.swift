import Cron
import Foundation
import Synchronization
import GRDB
import Scan
import Store

/// A policy as the API shows it.
struct PolicyDTO: Encodable, Sendable {
    var id: String
    var name: String
    var enabled: Bool
    var action: String
    var scope: JSONValue
    var rules: [JSONValue]
    var createdAt: String
    var updatedAt: String

    init(_ r: PolicyRecord) {
        let (scope, rules) = PolicyInput.decode(scope: r.scope, rules: r.rules)
        id = r.id
        name = r.name
        enabled = r.enabled
        action = r.action
        self.scope = PolicyInput.scopeJSON(scope)
        self.rules = rules.map(\.json)
        createdAt = Timestamp.format(r.createdAt)
        updatedAt = Timestamp.format(r.updatedAt)
    }
}

extension Policy {
    init(_ r: PolicyRecord) {
        let (scope, rules) = PolicyInput.decode(scope: r.scope, rules: r.rules)
        self.init(id: r.id, name: r.name, enabled: r.enabled, action: PolicyAction(rawValue: r.action) ?? .fail, scope: scope, rules: rules)
    }

    /// A stored policy decoded once per content: every evaluation (each CI check, each image of
    /// a rematch) reads the same few policies, and decoding their rule JSON was a fifth of a
    /// check. Keyed by id and checked against the stored text, so an edit is never served stale.
    static func cached(_ r: PolicyRecord) -> Policy {
        let key = PolicyMemo.Key(id: r.id, name: r.name, enabled: r.enabled, action: r.action, scope: r.scope, rules: r.rules)
        if let hit = PolicyMemo.shared.withLock({ $0[r.id] }), hit.key == key { return hit.policy }
        let policy = Policy(r)
        PolicyMemo.shared.withLock { memo in
            if memo.count >= PolicyMemo.limit { memo.removeAll() }
            memo[r.id] = (key, policy)
        }
        return policy
    }
}

/// The decoded policies ``Policy/cached(_:)`` keeps (bounded: cleared when full).
enum PolicyMemo {
    struct Key: Hashable, Sendable { var id, name: String, enabled: Bool, action, scope, rules: String }
    static let limit = 10_000
    static let shared = Mutex<[String: (key: Key, policy: Policy)]>([:])
}

/// The policies' domain operations: viewers read, admins write (audit-logged). Policies are
/// the organization's, so registry-scoped credentials are refused.
struct PolicyService: Sendable {
    let s: AppServices

    func list(_ p: Principal, page: PageRequest) async throws -> (policies: [PolicyDTO], total: Int) {
        try p.authorize(.viewer, operation: "GET /api/policies")
        return try await s.db.read { db in
            let found = try PolicyRepository.policies(db, org: p.orgId, limit: page.limit, offset: page.offset)
            return (found.policies.map(PolicyDTO.init), found.total)
        }
    }

    func get(_ p: Principal, id: String) async throws -> PolicyDTO {
        try p.authorize(.viewer, operation: "GET /api/policies/\(id)")
        guard let dto = try await s.db.read({ db in try PolicyRepository.policy(db, id: id, org: p.orgId).map(PolicyDTO.init) })
        else { throw APIError.notFound("Policy") }
        return dto
    }

    func create(_ p: Principal, _ body: ObjectReader, ip: String?) async throws -> PolicyDTO {
        try p.authorize(.admin, operation: "POST /api/policies")
        var r = body
        let input = PolicyInput.read(&r, creating: true)
        try r.check()
        guard let name = input.name, let action = input.action, let rules = input.rules else { throw APIError.validation(r.issues) }
        let now = s.now
        let scope = try PolicyInput.encode(PolicyInput.scopeJSON(input.scope ?? PolicyScope()))
        let rulesJSON = try PolicyInput.encode(.array(rules.map(\.json)))
        let dto: PolicyDTO = try await s.db.write { db in
            if try PolicyRepository.nameExists(db, org: p.orgId, name: name) { throw APIError.conflict("A policy named \(name) exists.") }
            let record = PolicyRecord(
                id: IDs.make("pol"), orgId: p.orgId, name: name, enabled: input.enabled ?? true, action: action.rawValue, scope: scope,
                rules: rulesJSON, now: now)
            try PolicyRepository.insert(db, record)
            try AppServices.audit(db, org: p.orgId, actor: p.actor, action: "policy.create", target: record.id, ip: ip, now: now)
            return PolicyDTO(record)
        }
        try await PolicyRecording.reevaluate(orgId: p.orgId, s: s)
        return dto
    }

    func update(_ p: Principal, id: String, _ body: ObjectReader, ip: String?) async throws -> PolicyDTO {
        try p.authorize(.admin, operation: "PUT /api/policies/\(id)")
        var r = body
        let input = PolicyInput.read(&r, creating: false)
        try r.check()
        let now = s.now
        let scope = try input.scope.map { try PolicyInput.encode(PolicyInput.scopeJSON($0)) }
        let rulesJSON = try input.rules.map { try PolicyInput.encode(.array($0.map(\.json))) }
        let dto: PolicyDTO? = try await s.db.write { db in
            guard var record = try PolicyRepository.policy(db, id: id, org: p.orgId) else { return nil }
            if let name = input.name, try PolicyRepository.nameExists(db, org: p.orgId, name: name, except: record.id) {
                throw APIError.conflict("A policy named \(name) exists.")
            }
            if let name = input.name { record.name = name }
            if let enabled = input.enabled { record.enabled = enabled }
            if let action = input.action { record.action = action.rawValue }
            if let scope { record.scope = scope }
            if let rulesJSON { record.rules = rulesJSON }
            record.updatedAt = now
            try PolicyRepository.update(db, record)
            try AppServices.audit(db, org: p.orgId, actor: p.actor, action: "policy.update", target: record.id, ip: ip, now: now)
            return PolicyDTO(record)
        }
        guard let dto else { throw APIError.notFound("Policy") }
        try await PolicyRecording.reevaluate(orgId: p.orgId, s: s)
        return dto
    }

    func delete(_ p: Principal, id: String, ip: String?) async throws -> String {
        try p.authorize(.admin, operation: "DELETE /api/policies/\(id)")
        let now = s.now
        let deleted: String? = try await s.db.write { db in
            guard let record = try PolicyRepository.policy(db, id: id, org: p.orgId) else { return nil }
            try PolicyRepository.delete(db, id: record.id)
            try AppServices.audit(db, org: p.orgId, actor: p.actor, action: "policy.delete", target: record.id, ip: ip, now: now)
            return record.id
        }
        guard let deleted else { throw APIError.notFound("Policy") }
        try await PolicyRecording.reevaluate(orgId: p.orgId, s: s)
        return deleted
    }
}
