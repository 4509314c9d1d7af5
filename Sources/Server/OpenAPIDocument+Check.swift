import Foundation

/// The CI check in the contract: `POST /api/policy/check`.
extension OpenAPIDocument {
    static let checkRegistryScoped: Set<String> = ["post /api/policy/check"]

    static let checkOperations: [Op] = [
        Op(method: "post", path: "/api/policy/check",
           summary: "May this image ship? Resolves image to a digest (a tag with a HEAD of its manifest through the registry's stored credentials; a digest reference needs no registry call; a sensor registry's tag: the digest its last sync recorded), reuses the latest completed linux/amd64 scan of that digest in the repository or queues one (never a second while one is queued or running; counted against the scan rate like POST /api/scans), waits up to wait seconds (default 0, at most \(CheckService.maxWait)) and answers 200 with the verdict evaluated now with the exceptions in force now (nothing is stored: the scan's stored verdict is unchanged), or 202 with the scan's id and status when wait ran out (ask again). An image on a host no registry of the organization matches is refused like POST /api/scans (400 VALIDATION_ERROR on image); a registry error (unreachable, refused credentials, no such tag) answers 502 REGISTRY_ERROR with the reason; a failed or cancelled scan of the digest answers 502 SCAN_FAILED (asking again queues a new one)",
           role: "ci", tag: "Policies", request: "PolicyCheck", response: "PolicyCheckVerdict"),
    ]

    static func checkComponents() -> [String: Any] {
        let str: [String: Any] = ["type": "string"]
        return [
            "PolicyCheck": ["type": "object", "additionalProperties": false, "required": ["image"],
                            "properties": ["image": ["type": "string", "minLength": 1, "maxLength": 512, "description": "registry/repository:tag or registry/repository@sha256:…"],
                                           "wait": ["type": "integer", "minimum": 0, "maximum": CheckService.maxWait, "default": 0,
                                                    "description": "Seconds to wait for a scan to complete before answering 202"]]],
            "PolicyCheckVerdict": ["type": "object", "required": ["verdict", "image", "digest", "scanId", "evaluatedAt", "policies", "violations", "noData"],
                                   "properties": ["verdict": ["type": "string", "enum": ["pass", "warn", "fail"]], "image": str, "digest": str, "scanId": str,
                                                  "evaluatedAt": ["type": "string", "format": "date-time"],
                                                  "policies": ["type": "array", "description": "The enabled policies in scope, each with its rules (index, type)",
                                                               "items": ["type": "object", "required": ["id", "name", "action", "rules"],
                                                                         "properties": ["id": str, "name": str, "action": ["type": "string", "enum": ["fail", "warn"]],
                                                                                        "rules": ["type": "array", "items": ["type": "object", "properties": ["index": ["type": "integer"], "type": str]]]]]],
                                                  "violations": ["type": "array", "description": "As in PolicyVerdict (at most 100 per rule)", "items": ["type": "object"]],
                                                  "noData": ["type": "array", "items": ["type": "object"]]]],
            "PolicyCheckPending": ["type": "object", "required": ["scanId", "digest", "status", "image"],
                                   "properties": ["scanId": str, "digest": str, "status": ["type": "string", "enum": ["queued", "running"]], "image": str]],
        ]
    }
}
