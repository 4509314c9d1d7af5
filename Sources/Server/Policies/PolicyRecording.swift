import Cron
import Foundation
import GRDB
import Scan
import Store

/// Evaluates the policies in scope for a scan and stores the verdict with it, inside the
/// caller's transaction (scan completion, rematch); emits `policy_failed` / `policy_passed`
/// when the image's verdict changes.
enum PolicyRecording {
    /// The verdict as stored (and shown under `policy` on a scan).
    struct Detail: Codable, Sendable {
        var verdict: PolicyVerdict
        var evaluatedAt: Date
        var policies: [String]
        var violations: [PolicyViolation]
        var noData: [PolicyNoData]
    }

    /// Evaluates one scan now against the stored policies and exceptions (no storing).
    /// `extraTags` count as tags of the image for scope matching (the tag a CI check named,
    /// when the reused scan was made for another tag of the same digest).
    static func evaluate(scanId: String, extraTags: [String] = [], enrichment: PolicyEnrichment, now: Date, in db: any SQLConnection)
        throws -> (context: PolicyRepository.ScanContext, evaluation: PolicyEvaluation, policies: [Policy])?
    {
        guard var ctx = try PolicyRepository.scanContext(db, scanId: scanId) else { return nil }
        if !extraTags.isEmpty { ctx.tags = Array(Set(ctx.tags + extraTags)).sorted() }
        let policies = try PolicyRepository.enabledPolicies(db, org: ctx.orgId).map(Policy.cached)
            .filter { $0.scope.contains(registryId: ctx.registryId, repository: ctx.repository, tags: ctx.tags) }
        // With no policy in scope the verdict needs no finding; otherwise only what the rules read.
        let rules = policies.flatMap(\.rules)
        let purls = rules.contains { if case .package = $0 { true } else { false } }
        let firstSeen = rules.contains { if case .sla = $0 { true } else { false } }
        let stored = policies.isEmpty
            ? [] : try PolicyRepository.findings(db, scanId: scanId, org: ctx.orgId, purls: purls, firstSeen: firstSeen)
        let findings = stored.map { f in
            PolicyFinding(
                id: "\(scanId):\(f.seq)", vulnerabilityId: f.vulnerabilityId, severity: Severity(rank: f.severityRank), fixable: f.fixable,
                packageName: f.pkgName, packageVersion: f.pkgVersion, purl: f.purl, kev: f.kev, epssPercentile: f.epssPercentile,
                firstSeen: f.firstDetectedAt)
        }
        let exceptions = try PolicyRepository.exceptions(db, org: ctx.orgId, imageId: ctx.imageId ?? "").map {
            PolicyException(vulnerabilityId: $0.vulnerabilityId, expiresAt: $0.expiresAt)
        }
        let evaluation = PolicyEvaluator.evaluate(
            policies: policies, findings: findings, exceptions: exceptions, enrichment: enrichment, now: now)
        return (ctx, evaluation, policies)
    }

    /// Evaluates and stores the verdict of a completed scan.
    static func record(scanId: String, enrichment: PolicyEnrichment, now: Date, in db: any SQLConnection) throws {
        guard let (ctx, e, _) = try evaluate(scanId: scanId, enrichment: enrichment, now: now, in: db) else { return }
        let detail = Detail(verdict: e.verdict, evaluatedAt: now, policies: e.policyIds, violations: e.violations, noData: e.noData)
        let previousOfImage = try ctx.imageId.flatMap { try PolicyRepository.previousImageVerdict(db, imageId: $0, otherThan: scanId) }
        let replaced = try PolicyRepository.storeVerdict(db, .init(
            scanId: scanId, verdict: e.verdict.rawValue, violationCount: e.violations.count, detail: try JSONCoding.encoder.encode(detail),
            evaluatedAt: now))
        let previous = replaced ?? previousOfImage
        let reference = try db.string("SELECT reference FROM scans WHERE id = ?", [scanId]) ?? scanId
        if e.verdict == .fail, previous != PolicyVerdict.fail.rawValue {
            let names = Array(Set(e.violations.filter { $0.action == .fail }.map(\.policyName))).sorted()
            try Notifications.emit(
                .policyFailed, orgId: ctx.orgId, severity: "high", title: "Policy failed: \(reference)",
                message: "\(e.violations.count) violations of \(names.joined(separator: ", ")).",
                fields: ["scanId": scanId, "reference": reference, "verdict": e.verdict.rawValue, "imageId": ctx.imageId ?? ""], now: now, in: db)
        } else if e.verdict == .pass, let previous, previous != PolicyVerdict.pass.rawValue {
            try Notifications.emit(
                .policyPassed, orgId: ctx.orgId, severity: "info", title: "Policy passed: \(reference)",
                message: "The image passes every policy in scope (was \(previous)).",
                fields: ["scanId": scanId, "reference": reference, "verdict": e.verdict.rawValue, "imageId": ctx.imageId ?? ""], now: now, in: db)
        }
    }

    /// Re-evaluates the current scan of every tag of an organization (after a policy changed),
    /// 200 scans per write transaction so other writers interleave.
    static func reevaluate(orgId: String, s: AppServices) async throws {
        let enrichment = await s.policyEnrichment()
        let now = s.now
        let ids = try await s.db.read { db in try PolicyRepository.currentScanIds(db, org: orgId) }
        for start in stride(from: 0, to: ids.count, by: 200) {
            let chunk = Array(ids[start..<min(start + 200, ids.count)])
            try await s.db.write { db in
                for id in chunk { try record(scanId: id, enrichment: enrichment, now: now, in: db) }
            }
        }
    }

    /// The stored verdict of a scan, as `GET /api/scans/{id}` shows it.
    static func stored(scanId: String, in db: any SQLConnection) throws -> Detail? {
        guard let v = try PolicyRepository.verdict(db, scanId: scanId) else { return nil }
        return try? JSONDecoder.policy.decode(Detail.self, from: v.detail)
    }
}

extension JSONDecoder {
    /// Reads what `JSONCoding.encoder` wrote (RFC 3339 dates).
    static let policy: JSONDecoder = {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .custom { decoder in
            let s = try decoder.singleValueContainer().decode(String.self)
            guard let date = RFC3339.parse(s) else {
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not RFC 3339: \(s)"))
            }
            return date
        }
        return d
    }()
}

extension AppServices {
    /// Which enrichment feeds the vulnerability database holds (a feed with records).
    func policyEnrichment() async -> PolicyEnrichment {
        guard let vulndb = vulnDB, let status = try? await vulndb.enrichmentStatus() else { return PolicyEnrichment(kev: false, epss: false) }
        func has(_ name: String) -> Bool { status.contains { $0.name == name && $0.records > 0 } }
        return PolicyEnrichment(kev: has("kev"), epss: has("epss"))
    }
}

/// `policy` on a scan: the verdict, when it was evaluated, the policies evaluated, the
/// violations (at most 100 per rule) and the rules that had no data.
struct PolicyVerdictDTO: Encodable, Sendable {
    var verdict: String
    var evaluatedAt: String
    var policies: [String]
    var violations: [Violation]
    var noData: [PolicyNoData]

    struct Violation: Encodable, Sendable {
        var policyId: String
        var policyName: String
        var action: String
        var rule: Rule
        var findingId: String?
        var vulnerabilityId: String?
        var package: String?
        var reason: String
    }
    struct Rule: Encodable, Sendable { var index: Int, type: String }

    init(_ d: PolicyRecording.Detail) {
        verdict = d.verdict.rawValue
        evaluatedAt = Timestamp.format(d.evaluatedAt)
        policies = d.policies
        violations = d.violations.map {
            Violation(
                policyId: $0.policyId, policyName: $0.policyName, action: $0.action.rawValue, rule: Rule(index: $0.ruleIndex, type: $0.ruleType),
                findingId: $0.findingId, vulnerabilityId: $0.vulnerabilityId, package: $0.package, reason: $0.reason)
        }
        noData = d.noData
    }
}
