import Foundation
import Scan

/// The priority data of findings in the contract: their fields, the list filters, fix groups.
extension OpenAPIDocument {
    static let priorityRule =
        "P1 — in CISA KEV (fixed or not); P2 — EPSS percentile ≥ 0.95, or CVSS ≥ 9.0 with a fix; P3 — HIGH or CRITICAL with a fix; P4 — any other finding with a fix; P5 — no fix"

    /// The filters every findings list takes.
    static let priorityFilters = ["kev", "epssMin", "priority", "severitySource"]

    static let severitySources = SeveritySource.allCases.map(\.rawValue)

    /// Schemas of the query parameters above and of `sort` on findings lists.
    static func priorityParameter(_ name: String) -> [String: Any]? {
        switch name {
        case "kev":
            return ["type": "boolean", "description": "true: only findings whose CVE is in CISA KEV; false: only those that are not"]
        case "epssMin":
            return ["type": "number", "minimum": 0, "maximum": 1,
                    "description": "Only findings whose EPSS score (the probability, not the percentile) is at least this; findings without EPSS data never match"]
        case "priority":
            return ["type": "string", "pattern": "^(P[1-5])(,P[1-5])*$",
                    "description": "Comma-separated priorities (P1…P5), any of which matches. " + priorityRule]
        case "severitySource":
            return ["type": "string", "description": "Comma-separated, any of: " + severitySources.joined(separator: ", ")
                        + " (where the severity came from; findings stored before the rule existed, and external scanners' findings, have none)"]
        default:
            return nil
        }
    }

    static func priorityComponents() -> [String: Any] {
        let nstr: [String: Any] = ["type": ["string", "null"]]
        let priority: [String: Any] = ["type": "string", "enum": ["P1", "P2", "P3", "P4", "P5"], "description": priorityRule]
        return [
            "CVSS": ["type": ["object", "null"], "required": ["version", "vector", "score", "source"],
                     "description": "The CVSS rating behind the severity (or beside a distribution's rating). Findings stored before the enrichment data, and external scanners' findings, know the score only: version, vector and source are then null.",
                     "properties": ["version": ["type": ["string", "null"], "description": "4.0, 3.1, 3.0 or 2.0"],
                                    "vector": nstr, "score": ["type": "number"],
                                    "source": ["type": ["string", "null"], "description": "Who rated it: NVD's or a CNA's address, or the advisory id"]]],
            "EPSS": ["type": ["object", "null"], "required": ["score", "percentile", "date"],
                     "description": "FIRST EPSS of the finding's CVE",
                     "properties": ["score": ["type": "number"], "percentile": ["type": "number"], "date": nstr]],
            "KEV": ["type": ["object", "null"], "required": ["dateAdded", "dueDate", "ransomware"],
                    "description": "The CVE in CISA's Known Exploited Vulnerabilities catalog",
                    "properties": ["dateAdded": ["type": "string"], "dueDate": nstr,
                                   "ransomware": ["type": "boolean", "description": "knownRansomwareCampaignUse is Known"]]],
            "Priority": priority,
            "SeveritySource": ["type": ["string", "null"], "enum": severitySources.map { $0 as Any } + [NSNull()],
                               "description": "distribution: the distribution's own rating; advisory: the advisory's own CVSS or rating; nvd: NVD's CVSS; none: nobody rated it; null: stored before the rule, or an external scanner's finding"],
            "FixGroup": ["type": "object",
                         "required": ["package", "type", "fixedVersion", "findings", "kev", "images", "bestPriority", "highestSeverity", "vulnerabilityIds", "vulnerabilityCount"],
                         "description": "One upgrade (package name, package type, fixed version) and the current findings it closes: upgrade `package` to `fixedVersion`, closing `findings` findings (`kev` in CISA KEV) in `images` images",
                         "properties": ["package": ["type": "string"], "type": ["type": "string"], "fixedVersion": ["type": "string"],
                                        "findings": ["type": "integer", "description": "Findings closed: distinct (image, vulnerability) pairs"],
                                        "kev": ["type": "integer", "description": "Of those, findings in CISA KEV"],
                                        "images": ["type": "integer"],
                                        "bestPriority": ["type": "string", "enum": ["P1", "P2", "P3", "P4", "P5"], "description": "The most urgent priority closed. " + priorityRule],
                                        "highestSeverity": ["type": "string", "enum": ["CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN"]],
                                        "vulnerabilityIds": ["type": "array", "items": ["type": "string"], "maxItems": 20,
                                                             "description": "The vulnerability ids closed, sorted, at most 20"],
                                        "vulnerabilityCount": ["type": "integer", "description": "Distinct vulnerability ids closed"]]],
        ]
    }

    /// The five keys every finding and vulnerability row carries.
    static var priorityProperties: [String: Any] {
        ["severitySource": ref("SeveritySource"), "cvss": ref("CVSS"), "epss": ref("EPSS"), "kev": ref("KEV"), "priority": ref("Priority")]
    }
}
