import Foundation
import Scan

/// VEX in and out in the contract: `POST /api/vex`, `GET /api/images/{imageId}/vex`.
extension OpenAPIDocument {
    static let vexRegistryScoped: Set<String> = ["post /api/vex", "get /api/images/{imageId}/vex"]

    static let vexOperations: [Op] = [
        Op(method: "post", path: "/api/vex",
           summary: "Import a VEX document: OpenVEX 0.2.0 or CycloneDX 1.4–1.6 with vulnerabilities[].analysis, detected by content (≤ 1 MiB, 413 above; nested at most \(VEXDocument.maxDepth) deep). Each statement becomes an image-scoped triage decision on every image its pkg:oci products name (by digest, or by repository_url = registry host/repository), recording the document's id and author: OpenVEX not_affected → NOT_AFFECTED (needs justification or impact_statement), affected → OPEN with the action_statement as note, fixed → FIXED, under_investigation → IN_PROGRESS; CycloneDX not_affected/false_positive → NOT_AFFECTED, resolved/resolved_with_pedigree → FIXED, exploitable → OPEN, in_triage → IN_PROGRESS. A bad or unsupported document answers 400 VALIDATION_ERROR with one issue per problem (JSON pointer paths) and nothing is applied; statements that match no image are reported, not refused",
           role: "developer", tag: "Vulnerabilities", request: "VEXInput", response: "VEXImport"),
        Op(method: "get", path: "/api/images/{imageId}/vex",
           summary: "The triage decisions (image-level, else organization-wide) on vulnerabilities found on the image, as an OpenVEX 0.2.0 (format=openvex, the default) or CycloneDX 1.6 (format=cyclonedx) document, not wrapped in data; 404 when no decision concerns the image",
           role: "viewer", tag: "Images", response: "VEXDocument", query: ["format"]),
    ]

    static func vexParameter(_ name: String) -> [String: Any]? {
        name == "format" ? ["type": "string", "enum": VEXDocument.Format.allCases.map(\.rawValue), "default": "openvex"] : nil
    }

    static func vexComponents() -> [String: Any] {
        let str: [String: Any] = ["type": "string"]
        let nstr: [String: Any] = ["type": ["string", "null"]]
        let int: [String: Any] = ["type": "integer"]
        return [
            "VEXInput": ["type": "object", "description": "An OpenVEX 0.2.0 document (\"@context\": \"\(VEXDocument.openVEXContext)\") or a CycloneDX document (\"bomFormat\": \"CycloneDX\")"],
            "VEXDocument": ["type": "object", "description": "An OpenVEX 0.2.0 or CycloneDX 1.6 VEX document"],
            "VEXImport": ["type": "object", "required": ["format", "statements", "applied", "decisions", "productsMatched", "unmatched"],
                          "properties": ["format": ["type": "string", "enum": VEXDocument.Format.allCases.map(\.rawValue)],
                                         "document": nstr, "author": nstr,
                                         "statements": int, "applied": ["type": "integer", "description": "Statements that matched at least one image"],
                                         "decisions": ["type": "integer", "description": "Triage decisions written (statement × image)"],
                                         "productsMatched": ["type": "integer", "description": "Distinct images matched"],
                                         "unmatched": ["type": "array", "description": "Statements that matched no image",
                                                       "items": ["type": "object", "properties": ["path": str, "vulnerability": str, "products": ["type": "array", "items": str]]]]]],
        ]
    }
}
