public import Cron
public import Foundation
import GRDB
public import Scan
import Store

/// The CVE watch: after a vulnerability-database update, what the rematch found on a tag's
/// current image becomes `finding_new`, `finding_escalated` and `finding_resolved` events, each
/// sent once per (image digest, vulnerability, package, kind) and never for an excepted
/// finding (an unexpired WONT_FIX or NOT_AFFECTED triage on the organization or the image).
public enum CVEWatch {
    public static let events: [NotificationEvent] = [.findingNew, .findingEscalated, .findingResolved]

    public enum Kind: Sendable, Hashable {
        case new
        /// `reason`: `kev` (it entered CISA KEV), `epss` (its EPSS percentile moved it up),
        /// `severity` or `priority` (the severity, or another input of the priority rule).
        case escalated(reason: String, to: Priority)
        case resolved

        public var event: NotificationEvent {
            switch self {
            case .new: .findingNew
            case .escalated: .findingEscalated
            case .resolved: .findingResolved
            }
        }

        /// The dedupe key's kind: one alert per escalation step (into KEV, to P2, to P1).
        public var dedupeKind: String {
            switch self {
            case .new: "new"
            case .resolved: "resolved"
            case .escalated(let reason, let to): reason == "kev" ? "escalated:kev" : "escalated:\(to.rawValue)"
            }
        }
    }

    public struct Alert: Sendable, Hashable {
        public var kind: Kind
        public var finding: Finding

        public init(kind: Kind, finding: Finding) {
            self.kind = kind
            self.finding = finding
        }
    }

    /// What the watch compares of a stored finding (read from its columns, not its JSON).
    public struct Prior: Sendable, Hashable {
        public var vulnerabilityId, package, version: String
        public var kev: Bool
        public var priority: Priority
        public var epssPercentile: Double?
        public var severity: Severity

        public init(
            vulnerabilityId: String, package: String, version: String, kev: Bool, priority: Priority, epssPercentile: Double?,
            severity: Severity
        ) {
            (self.vulnerabilityId, self.package, self.version) = (vulnerabilityId, package, version)
            (self.kev, self.priority, self.epssPercentile, self.severity) = (kev, priority, epssPercentile, severity)
        }

        public init(_ f: Finding) {
            self.init(
                vulnerabilityId: f.vulnerabilityId, package: f.package.name, version: f.package.version, kev: f.kev != nil,
                priority: f.effectivePriority, epssPercentile: f.epss?.percentile, severity: f.severity)
        }

        var key: String { "\(vulnerabilityId)|\(package)|\(version)" }
    }

    /// What changed between a scan's stored findings and a fresh match, as alerts (before
    /// exceptions and dedupe). A pure function: findings are keyed by (vulnerability,
    /// package, version).
    public static func alerts(before: [Finding], after: [Finding]) -> [Alert] {
        var stored: [String: Finding] = [:]
        for f in before { stored[Prior(f).key] = f }
        return alerts(before: before.map(Prior.init), after: after) { stored[$0.key] }
    }

    /// The same from stored columns; `resolved` gives the stored finding of a prior that
    /// disappeared (nil skips it).
    public static func alerts(before: [Prior], after: [Finding], resolved: (Prior) throws -> Finding?) rethrows -> [Alert] {
        var old: [String: Prior] = [:]
        for p in before { old[p.key] = p }
        var seen = Set<String>()
        var alerts: [Alert] = []
        for f in after {
            let k = Prior(f).key
            guard seen.insert(k).inserted else { continue }
            guard let was = old[k] else {
                alerts.append(Alert(kind: .new, finding: f))
                continue
            }
            if !was.kev, f.kev != nil {
                alerts.append(Alert(kind: .escalated(reason: "kev", to: f.effectivePriority), finding: f))
            } else if f.effectivePriority < was.priority {
                let reason =
                    f.epss?.percentile != was.epssPercentile ? "epss" : f.severity != was.severity ? "severity" : "priority"
                alerts.append(Alert(kind: .escalated(reason: reason, to: f.effectivePriority), finding: f))
            }
        }
        for p in before where seen.insert(p.key).inserted {
            if let f = try resolved(p) { alerts.append(Alert(kind: .resolved, finding: f)) }
        }
        return alerts
    }

    /// True when some enabled channel of the organization subscribes to a CVE-watch event
    /// (otherwise the rematch does not compute alerts).
    public static func subscribed(orgId: String, in db: any SQLConnection) throws -> Bool {
        try NotificationRepository.enabledChannels(db, org: orgId).contains { channel in
            channel.events.contains { e in events.contains { $0.rawValue == e } }
        }
    }

    /// Records `alerts` for one image inside the rematch's write transaction: excepted
    /// findings and alerts sent before are skipped. Returns the number of events emitted.
    @discardableResult
    public static func record(
        _ alerts: [Alert], orgId: String, imageId: String?, reference: String, digest: String, now: Date, in db: any SQLConnection
    ) throws -> Int {
        guard !alerts.isEmpty else { return 0 }
        let excepted = try ScanRepository.suppressedVulnerabilities(orgId: orgId, imageId: imageId, now: now, in: db)
        let ts = Timestamp.format(now)
        var emitted = 0
        for alert in alerts where !excepted.contains(alert.finding.vulnerabilityId) {
            let f = alert.finding
            guard try FindingAlertRepository.claim(
                orgId: orgId, digest: digest, vulnerabilityId: f.vulnerabilityId, package: f.package.name,
                version: f.package.version, kind: alert.kind.dedupeKind, now: ts, in: db)
            else { continue }
            let (title, message, fields) = describe(alert, imageId: imageId, reference: reference, digest: digest)
            try Notifications.emit(
                alert.kind.event, orgId: orgId, severity: f.severity.rawValue.lowercased(), title: title, message: message,
                fields: fields, priority: f.effectivePriority, held: true, now: now, in: db)
            emitted += 1
        }
        return emitted
    }

    /// An alert's title, message and the fields channels render (documented in the README).
    static func describe(_ alert: Alert, imageId: String?, reference: String, digest: String)
        -> (title: String, message: String, fields: [String: String])
    {
        let f = alert.finding
        var fields = [
            "reference": reference, "digest": digest, "vulnerabilityId": f.vulnerabilityId, "package": f.package.name,
            "version": f.package.version, "priority": f.effectivePriority.rawValue,
        ]
        if let imageId { fields["imageId"] = imageId }
        if let fix = f.fixedVersion { fields["fixVersion"] = fix }
        if f.kev != nil { fields["kev"] = "true" }
        if let p = f.epss?.percentile { fields["epssPercentile"] = String(format: "%.5f", p) }
        let what = "\(f.vulnerabilityId) in \(f.package.name) \(f.package.version)"
        let fix = f.fixedVersion.map { "; fixed in \($0)" } ?? "; no fix yet"
        switch alert.kind {
        case .new:
            return ("New \(f.severity.rawValue) finding in \(reference): \(f.vulnerabilityId)",
                    "\(what) (\(f.effectivePriority.rawValue)\(fix)), found by a vulnerability-database update.", fields)
        case .escalated(let reason, let to):
            fields["reason"] = reason
            let why = switch reason {
            case "kev": "it is now in CISA's Known Exploited Vulnerabilities catalog"
            case "epss": "its EPSS percentile rose" + (f.epss.map { " to \(String(format: "%.2f", $0.percentile))" } ?? "")
            case "severity": "its severity is now \(f.severity.rawValue)"
            default: "its priority inputs changed"
            }
            return ("\(f.vulnerabilityId) escalated to \(to.rawValue) in \(reference)", "\(what): \(why)\(fix).", fields)
        case .resolved:
            return ("Resolved in \(reference): \(f.vulnerabilityId)",
                    "\(what) no longer matches after a vulnerability-database update.", fields)
        }
    }
}
