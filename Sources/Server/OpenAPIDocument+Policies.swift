import Foundation

/// Policies in the contract: their CRUD and the rule shapes.
extension OpenAPIDocument {
    static let policyOperations: [Op] = [
        Op(method: "get", path: "/api/policies", summary: "List the organization's policies, oldest first", role: "viewer", tag: "Policies", response: "Policy", list: true, query: ["page", "limit"]),
        Op(method: "post", path: "/api/policies", summary: "Create a policy (name unique in the organization; one VALIDATION_ERROR issue per bad field, an unknown rule type named at rules[i].type)", role: "admin", tag: "Policies", request: "PolicyCreate", response: "Policy", status: "201"),
        Op(method: "get", path: "/api/policies/{policyId}", summary: "Get a policy", role: "viewer", tag: "Policies", response: "Policy"),
        Op(method: "put", path: "/api/policies/{policyId}", summary: "Update a policy (partial: fields left out keep their values; rules and scope are replaced whole)", role: "admin", tag: "Policies", request: "PolicyUpdate", response: "Policy"),
        Op(method: "delete", path: "/api/policies/{policyId}", summary: "Delete a policy", role: "admin", tag: "Policies", response: "Deleted"),
    ]

    static func policyComponents() -> [String: Any] {
        let str: [String: Any] = ["type": "string"]
        let severity: [String: Any] = ["type": "string", "enum": ["LOW", "MEDIUM", "HIGH", "CRITICAL"]]
        let strings: [String: Any] = ["type": "array", "items": str, "maxItems": 100]
        let scope: [String: Any] = [
            "type": ["object", "null"], "additionalProperties": false,
            "description": "Which images the policy applies to; every list left out or empty matches any image (no scope: the whole organization)",
            "properties": ["registryIds": strings,
                           "repositories": ["type": "array", "items": str, "maxItems": 100, "description": "Repository globs (*, ?, […], [!…])"],
                           "tags": ["type": "array", "items": str, "maxItems": 100, "description": "Tag globs: an image matches when any of its tags does"]],
        ]
        func rule(_ type: String, _ description: String, _ props: [String: Any], required: [String]) -> [String: Any] {
            ["type": "object", "additionalProperties": false, "description": description, "required": ["type"] + required,
             "properties": props.merging(["type": ["type": "string", "const": type]]) { a, _ in a }]
        }
        let rules: [String: Any] = [
            "type": "array", "minItems": 1, "maxItems": 50,
            "items": ["oneOf": [
                rule("severity", "A finding at or above level (only those with a fix when fixableOnly)", ["level": severity, "fixableOnly": ["type": "boolean"]], required: ["level"]),
                rule("kev", "A finding in CISA KEV; without KEV data the rule reports noData instead of passing", [:], required: []),
                rule("epss", "A finding whose EPSS percentile is at or above percentile; without EPSS data the rule reports noData", ["percentile": ["type": "number", "minimum": 0, "maximum": 1]], required: ["percentile"]),
                rule("sla", "A finding of severity or above first detected (in the organization, for the same package) more than days ago", ["severity": severity, "days": ["type": "integer", "minimum": 0, "maximum": 3650]], required: ["severity", "days"]),
                rule("package", "A package by purl without version, optionally in a version range in the package's own ordering (comma-separated comparisons that all hold: <5.4, >=1.0,<2.0, =1.2.3, !=1.0)", ["purl": str, "versions": str], required: ["purl"]),
                rule("count", "More than max findings at or above severity", ["severity": severity, "max": ["type": "integer", "minimum": 0]], required: ["severity", "max"]),
            ]],
        ]
        let action: [String: Any] = ["type": "string", "enum": ["fail", "warn"]]
        let nstr: [String: Any] = ["type": ["string", "null"]]
        return [
            "ImagePolicy": ["type": ["object", "null"], "required": ["verdict", "evaluatedAt", "violations"],
                            "description": "The image's policy verdict: the worst verdict of its tags' current scans (null before any evaluation); the violations are on GET /api/scans/{scanId}",
                            "properties": ["verdict": ["type": "string", "enum": ["pass", "warn", "fail"]], "evaluatedAt": ["type": "string", "format": "date-time"],
                                           "violations": ["type": "integer", "description": "Violations stored over those scans"]]],
            "PolicyVerdict": ["type": "object", "required": ["verdict", "evaluatedAt", "policies", "violations", "noData"],
                              "description": "The policy verdict stored with a scan (only on GET /api/scans/{scanId}; absent before the first evaluation): fail when an enabled fail policy in scope has a violation, warn when only warn policies do, else pass. Excepted findings (WONT_FIX or NOT_AFFECTED triage in force) never violate. A kev or epss rule without its feed is listed in noData instead of passing silently (it does not change the verdict)",
                              "properties": ["verdict": ["type": "string", "enum": ["pass", "warn", "fail"]], "evaluatedAt": ["type": "string", "format": "date-time"],
                                             "policies": ["type": "array", "items": str, "description": "Ids of the policies evaluated (enabled, in scope)"],
                                             "violations": ["type": "array", "description": "At most 100 per rule",
                                                            "items": ["type": "object", "properties": ["policyId": str, "policyName": str, "action": action,
                                                                                                       "rule": ["type": "object", "properties": ["index": ["type": "integer"], "type": str]],
                                                                                                       "findingId": ["type": ["string", "null"], "description": "scanId:seq; null for a count rule"],
                                                                                                       "vulnerabilityId": nstr, "package": ["type": ["string", "null"], "description": "name@version"], "reason": str]]],
                                             "noData": ["type": "array", "items": ["type": "object", "properties": ["policyId": str, "policyName": str, "ruleIndex": ["type": "integer"], "ruleType": str, "reason": str]]]]],
            "Policy": ["type": "object", "required": ["id", "name", "enabled", "action", "scope", "rules", "createdAt", "updatedAt"],
                       "properties": ["id": str, "name": str, "enabled": ["type": "boolean"], "action": action, "scope": scope, "rules": rules,
                                      "createdAt": ["type": "string", "format": "date-time"], "updatedAt": ["type": "string", "format": "date-time"]]],
            "PolicyCreate": ["type": "object", "additionalProperties": false, "required": ["name", "action", "rules"],
                             "properties": ["name": ["type": "string", "minLength": 1, "maxLength": 100], "enabled": ["type": "boolean"], "action": action,
                                            "scope": scope, "rules": rules]],
            "PolicyUpdate": ["type": "object",
                             "properties": ["name": ["type": "string", "minLength": 1, "maxLength": 100], "enabled": ["type": "boolean"], "action": action,
                                            "scope": scope, "rules": rules]],
        ]
    }
}
