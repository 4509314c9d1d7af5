import Foundation
import Scan
import Store

/// What the console shows of stored verdicts: per image a badge (the worst verdict of its
/// tags' current scans, or none when no policy was evaluated for them), per policy how many
/// images it was evaluated on and how many break it. Pure over the stored details.
struct PolicyTally: Sendable {
    /// The fields of a stored verdict detail a tally reads.
    struct Light: Decodable, Sendable {
        struct Violation: Decodable, Sendable {
            var policyId: String
        }
        var verdict: PolicyVerdict
        var policies: [String]
        var violations: [Violation]
    }

    struct ImageVerdict: Sendable, Hashable {
        /// pass, warn, fail, or none (no enabled policy in scope of the image's current scans).
        var badge: String
        var violations: Int
    }

    struct PolicyCount: Sendable, Hashable {
        /// Images whose current scans were evaluated against the policy.
        var evaluated = 0
        /// Of those, the images with at least one violation of it.
        var violating = 0
        var passing: Int { evaluated - violating }
    }

    var images: [String: ImageVerdict] = [:]
    var policies: [String: PolicyCount] = [:]

    func badge(_ imageId: String) -> String { images[imageId]?.badge ?? "none" }

    /// Tallies `(imageId, detail)` pairs; unreadable details count as not evaluated.
    init(_ details: [(imageId: String, detail: Light?)]) {
        let rank: [String: Int] = ["none": 0, "pass": 1, "warn": 2, "fail": 3]
        var evaluated: [String: Set<String>] = [:]
        var violating: [String: Set<String>] = [:]
        for (imageId, detail) in details {
            var current = images[imageId] ?? ImageVerdict(badge: "none", violations: 0)
            if let d = detail, !d.policies.isEmpty {
                let badge = d.verdict.rawValue
                if (rank[badge] ?? 0) > (rank[current.badge] ?? 0) { current.badge = badge }
                current.violations += d.violations.count
                for p in d.policies { evaluated[p, default: []].insert(imageId) }
                for v in d.violations { violating[v.policyId, default: []].insert(imageId) }
            }
            images[imageId] = current
        }
        for (p, ids) in evaluated {
            policies[p] = PolicyCount(evaluated: ids.count, violating: violating[p]?.intersection(ids).count ?? 0)
        }
    }

    static func decode(_ data: Data) -> Light? { try? JSONDecoder.policy.decode(Light.self, from: data) }
}

/// Policies and rules in words, for the console and its reports.
enum PolicyText {
    /// One rule in the API's JSON shape, as a phrase ("a finding at or above HIGH, fixable only").
    static func rule(_ r: JSONValue) -> String {
        let type = r.field("type").string ?? "?"
        func num(_ k: String) -> String {
            guard case .number(let n) = r.field(k) else { return "?" }
            return n.rounded() == n && abs(n) < 1e15 ? String(Int(n)) : String(n)
        }
        let sev = { (k: String) in r.field(k).string ?? "?" }
        switch type {
        case "severity":
            let fixable = r.field("fixableOnly") == .bool(true)
            return "a finding at or above \(sev("level"))\(fixable ? ", fixable only" : "")"
        case "kev": return "a finding in CISA KEV"
        case "epss": return "EPSS percentile at or above \(num("percentile"))"
        case "sla": return "a finding at or above \(sev("severity")) open more than \(num("days")) days"
        case "package":
            let versions = r.field("versions").string.map { " \($0)" } ?? ""
            return "package \(r.field("purl").string ?? "?")\(versions)"
        case "count": return "more than \(num("max")) findings at or above \(sev("severity"))"
        default: return type
        }
    }

    /// A policy's scope in words; registry ids are shown by name where known.
    static func scope(_ s: JSONValue, registryNames: [String: String] = [:]) -> String {
        let ids = s.field("registryIds").arrayValue.compactMap(\.string)
        let repos = s.field("repositories").arrayValue.compactMap(\.string)
        let tags = s.field("tags").arrayValue.compactMap(\.string)
        var parts: [String] = []
        if !ids.isEmpty { parts.append("registries " + ids.map { registryNames[$0] ?? $0 }.joined(separator: ", ")) }
        if !repos.isEmpty { parts.append("repositories " + repos.joined(separator: ", ")) }
        if !tags.isEmpty { parts.append("tags " + tags.joined(separator: ", ")) }
        return parts.isEmpty ? "whole organization" : parts.joined(separator: "; ")
    }
}

extension PolicyService {
    /// The tally of the current verdicts of the organization's images (all, or `imageIds`).
    func tally(_ p: Principal, imageIds: [String]? = nil) async throws -> PolicyTally {
        try p.authorize(.viewer, operation: "GET /api/policies")
        let rows = try await s.db.read { db in try PolicyRepository.currentVerdicts(db, org: p.orgId, imageIds: imageIds) }
        return PolicyTally(rows.map { ($0.imageId, PolicyTally.decode($0.detail)) })
    }
}
