import Foundation

/// The CSV reports in the contract.
extension OpenAPIDocument {
    static let csvRules =
        "RFC 4180 (CRLF line ends, quotes where a field holds a comma, quote or line break), UTF-8 without a byte-order mark, a header line first; a text cell beginning with =, +, -, @, a tab or a CR is written with a leading ' so spreadsheets do not run it as a formula. Every row in one file, streamed from one consistent read; at most 2 exports run at once (429 with Retry-After beyond)."

    static let reportOperations: [Op] = [
        Op(method: "get", path: "/api/reports/findings.csv", summary: "The current findings (the latest scan of every tag; scanId: one scan's instead) as CSV, one line per finding, ordered by scan: registry, image, tags, digest, scan_id, vulnerability_id, aliases, severity, severity_source, cvss_score, cvss_vector, epss_score, epss_percentile, kev, priority, package, version, type, purl, fixed_version, fix_state, title, triage_status. " + csvRules, role: "viewer", tag: "Reports", query: ["registryId", "imageId", "scanId", "severity", "fixable", "package"] + priorityFilters),
        Op(method: "get", path: "/api/reports/images.csv", summary: "The images list as CSV: id, registry_id, image, latest_tag, latest_digest, tag_count, risk_score, critical, high, medium, low, unknown, last_scanned_at, created_at. " + csvRules, role: "viewer", tag: "Reports", query: ["sort", "search", "registryId"]),
        Op(method: "get", path: "/api/reports/vulnerabilities.csv", summary: "The vulnerabilities list (GET /api/vulnerabilities, same filters and order, every row) as CSV: vulnerability_id, aliases, severity, severity_source, cvss_score, epss_score, epss_percentile, kev, priority, package, type, versions, fixed_version, fixable, affected_images, first_detected_at, triage_status, title. " + csvRules, role: "viewer", tag: "Reports", query: ["sort", "search", "severity", "status", "imageId", "package", "cveId", "fixable"] + priorityFilters),
        Op(method: "get", path: "/api/reports/fixes.csv", summary: "The fix groups (GET /api/fixes, same filters and order, every group) as CSV: package, type, fixed_version, findings, kev, images, best_priority, highest_severity, vulnerability_count, vulnerability_ids. " + csvRules, role: "viewer", tag: "Reports", query: ["registryId"] + priorityFilters),
    ]
}
