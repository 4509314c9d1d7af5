import Foundation
import Scan
import Store

/// The API contract as OpenAPI 3.1, served at `/api/openapi.json`. A test checks that
/// every route the router answers is documented here and that the document validates.
enum OpenAPIDocument {
    struct Op {
        var method: String
        var path: String
        var summary: String
        var role: String?
        var tag: String
        var request: String? = nil
        var response: String? = nil
        var list: Bool = false
        var status: String = "200"
        var query: [String] = []
    }

    static let listQuery = ["page", "limit", "sort", "search"]

    /// Every job type the server enqueues, as `GET /api/jobs/{id}` shows it.
    static let jobTypes = JobKind.allCases.map(\.rawValue)

    /// Operations a registry-scoped API key may call, on its own registry's data only (another
    /// registry's answers 404, lists hold only its own rows). Every other operation answers it 403
    /// naming its scope. Documented per operation as `x-registry-scoped-key`.
    static let registryScoped: Set<String> = Set<String>([
        "get /api/registries", "get /api/registries/{registryId}", "put /api/registries/{registryId}",
        "delete /api/registries/{registryId}", "post /api/registries/{registryId}/webhook-token",
        "post /api/registries/test-connection", "post /api/registries/{registryId}/sync",
        "get /api/registries/{registryId}/sensor-status", "get /api/images", "get /api/images/{imageId}",
        "post /api/scans", "get /api/scans", "get /api/scans/{scanId}", "get /api/scans/{scanId}/status",
        "post /api/scans/{scanId}/cancel", "delete /api/scans/{scanId}", "get /api/scans/{scanId}/findings",
        "get /api/scans/{scanId}/packages", "get /api/scans/{scanId}/sbom", "get /api/vulnerabilities",
        "put /api/vulnerabilities/{vulnId}/triage", "post /api/vulnerabilities/{vulnId}/triage", "get /api/jobs/{jobId}",
        "post /api/auth/sign-out", "get /api/fixes", "get /api/images/{imageId}/fixes", "get /api/reports/findings.csv",
        "get /api/reports/images.csv", "get /api/reports/vulnerabilities.csv", "get /api/reports/fixes.csv",
    ]).union(vexRegistryScoped).union(checkRegistryScoped)

    static let operations: [Op] = [
        Op(method: "get", path: "/healthz", summary: "Liveness", role: nil, tag: "Operations", response: "Status"),
        Op(method: "get", path: "/readyz", summary: "Readiness: database writable, workers alive", role: nil, tag: "Operations", response: "Status"),
        Op(method: "get", path: "/metrics", summary: "Prometheus metrics (with serve --metrics-token: Authorization: Bearer TOKEN, else 401)", role: nil, tag: "Operations"),
        Op(method: "get", path: "/api/openapi.json", summary: "This document", role: nil, tag: "Operations"),
        Op(method: "get", path: "/api/registries", summary: "List registries", role: "viewer", tag: "Registries", response: "Registry", list: true, query: listQuery + ["provider"]),
        Op(method: "post", path: "/api/registries", summary: "Create a registry", role: "admin", tag: "Registries", request: "RegistryCreate", response: "Registry", status: "201"),
        Op(method: "get", path: "/api/registries/{registryId}", summary: "Get a registry", role: "viewer", tag: "Registries", response: "Registry"),
        Op(method: "put", path: "/api/registries/{registryId}", summary: "Update a registry (partial). A new url (scheme, host, port or path) or insecure switched on drops the stored credentials unless credentials come in the same request (the answer then has hasCredentials false and credentialsDropped true)", role: "admin", tag: "Registries", request: "RegistryUpdate", response: "Registry"),
        Op(method: "delete", path: "/api/registries/{registryId}", summary: "Delete a registry, its secrets and keys", role: "admin", tag: "Registries", response: "Deleted"),
        Op(method: "post", path: "/api/registries/{registryId}/webhook-token", summary: "Rotate the registry's webhook token", role: "admin", tag: "Registries", response: "WebhookToken"),
        Op(method: "post", path: "/api/registries/test-connection", summary: "Test a registry URL and credentials, or a saved registry ({registryId}); 200 with the outcome, 422 TARGET_NOT_ALLOWED for a cloud metadata address", role: "developer", tag: "Registries", request: "TestConnection", response: "TestConnectionResult"),
        Op(method: "post", path: "/api/registries/{registryId}/sync", summary: "Sync repositories, tags and digests (a job)", role: "admin", tag: "Registries", response: "SyncAccepted", status: "202"),
        Op(method: "post", path: "/api/registries/schedule-scans", summary: "Run the schedule policy of every registry of the organization now", role: "admin", tag: "Registries", response: "ScheduleAccepted", status: "202"),
        Op(method: "post", path: "/api/registries/{registryId}/events", summary: "Push notifications (Bearer webhookToken or ?token=). Each entry's repository, tag and digest must fit the distribution grammar and its digest is confirmed with the registry (HEAD of the manifest) before anything is stored; bad or unconfirmed entries are skipped and counted (202 with the counts); a sensor registry's entries are not stored, a sync is queued for its sensor. At most 100 entries per request (413, nothing applied), 60 requests a minute per registry (429 with Retry-After), the same event again within 10 minutes is a no-op (duplicates)", role: nil, tag: "Registries", request: "PushEvent", response: "PushAccepted", status: "202"),
        Op(method: "get", path: "/api/registries/{registryId}/sensor-status", summary: "The registry's sensor: online, scanning, offline (120 s without heartbeat), never_connected, or not_applicable for a cloud registry", role: "viewer", tag: "Registries", response: "SensorStatus"),
        Op(method: "post", path: "/api/sensor/heartbeat", summary: "A sensor reports in (sensor key of the registry only)", role: "sensor", tag: "Sensor", request: "SensorHeartbeat", response: "SensorHeartbeatReply"),
        Op(method: "post", path: "/api/sensor/jobs/claim", summary: "Claim queued sync and scan jobs of the sensor's registry under a lease", role: "sensor", tag: "Sensor", request: "SensorClaim", response: "SensorJobs"),
        Op(method: "post", path: "/api/sensor/jobs/{jobId}/renew", summary: "Extend a job's lease (409 when it was lost)", role: "sensor", tag: "Sensor", request: "SensorLease", response: "SensorLeaseReply"),
        Op(method: "post", path: "/api/sensor/jobs/{jobId}/release", summary: "Hand an unfinished job back to the queue (the attempt is not counted)", role: "sensor", tag: "Sensor", response: "SensorLeaseReply"),
        Op(method: "post", path: "/api/sensor/jobs/{jobId}/result", summary: "A sync's tag inventory or a scan's image inventory (matched by the server); up to 32 MiB; a retried post of a recorded result answers 200 with recorded false", role: "sensor", tag: "Sensor", request: "SensorResult", response: "SensorResultReply"),
        Op(method: "get", path: "/api/images", summary: "List images", role: "viewer", tag: "Images", response: "Image", list: true, query: listQuery + ["registryId"]),
        Op(method: "get", path: "/api/images/{imageId}", summary: "Get an image with its tags", role: "viewer", tag: "Images", response: "Image"),
        Op(method: "post", path: "/api/scans", summary: "Queue a scan of host/repo:tag or host/repo@digest (the host must be one of the organization's registries)", role: "developer", tag: "Scans", request: "ScanCreate", response: "ScanAccepted", status: "202"),
        Op(method: "get", path: "/api/scans", summary: "List scans, newest first", role: "viewer", tag: "Scans", response: "Scan", list: true, query: listQuery + ["status", "registryId", "imageId"]),
        Op(method: "get", path: "/api/scans/{scanId}", summary: "Get a scan", role: "viewer", tag: "Scans", response: "Scan"),
        Op(method: "get", path: "/api/scans/{scanId}/status", summary: "A scan's status and progress", role: "viewer", tag: "Scans", response: "ScanStatus"),
        Op(method: "post", path: "/api/scans/{scanId}/cancel", summary: "Cancel a queued or running scan (409 when finished)", role: "developer", tag: "Scans", response: "Scan"),
        Op(method: "delete", path: "/api/scans/{scanId}", summary: "Delete a scan and its findings", role: "admin", tag: "Scans", response: "Deleted"),
        Op(method: "get", path: "/api/scans/{scanId}/findings", summary: "A scan's findings, by priority (sort=priority, the default: P1 first, then most severe, then highest EPSS score, then vulnerability id; also severity: most severe first, epss: highest EPSS score first, package: by package name and version)", role: "viewer", tag: "Scans", response: "Finding", list: true, query: ["page", "limit", "sort", "search", "severity", "fixable", "package"] + priorityFilters),
        Op(method: "get", path: "/api/scans/{scanId}/packages", summary: "The scanned image's packages", role: "viewer", tag: "Scans", response: "Package", list: true, query: ["page", "limit", "search", "type"]),
        Op(method: "get", path: "/api/scans/{scanId}/sbom", summary: "SBOM of the scanned image: CycloneDX 1.6 JSON (default) or SPDX 2.3 JSON (409 until the scan completed)", role: "viewer", tag: "Scans", query: ["format"]),
        Op(method: "get", path: "/api/vulnerabilities", summary: "One row per (vulnerability, package) across the latest scan of every tag, by priority (sort=priority, the default: the row's best priority, then most severe, then highest EPSS score, then vulnerability id; also epss, severity, affectedImages, vulnerabilityId, firstDetectedAt, each with :desc); the filters apply to the findings before they are grouped", role: "viewer", tag: "Vulnerabilities", response: "Vulnerability", list: true, query: listQuery + ["severity", "status", "imageId", "package", "cveId", "fixable"] + priorityFilters),
        Op(method: "get", path: "/api/fixes", summary: "Fix groups: the current findings (latest scan of every tag; WONT_FIX and NOT_AFFECTED triage in force left out) with a fixed version, grouped by (package, type, fixed version), the best priority closed first, then the most findings; the filters apply to the findings before they are grouped", role: "viewer", tag: "Vulnerabilities", response: "FixGroup", list: true, query: ["page", "limit", "registryId"] + priorityFilters),
        Op(method: "get", path: "/api/images/{imageId}/fixes", summary: "Fix groups of one image's current findings (as GET /api/fixes)", role: "viewer", tag: "Images", response: "FixGroup", list: true, query: ["page", "limit"] + priorityFilters),
        Op(method: "put", path: "/api/vulnerabilities/{vulnId}/triage", summary: "Triage a vulnerability (organization or image scope)", role: "developer", tag: "Vulnerabilities", request: "TriageUpdate", response: "Triage"),
        Op(method: "post", path: "/api/vulnerabilities/{vulnId}/triage", summary: "Triage a vulnerability (same as PUT)", role: "developer", tag: "Vulnerabilities", request: "TriageUpdate", response: "Triage"),
        Op(method: "get", path: "/api/vulndb", summary: "Vulnerability database sources, counts per ecosystem, the enrichment feeds (NVD, EPSS, KEV, Debian tracker: records, URL, import and check times, the last attempt's outcome), last update", role: "viewer", tag: "Vulnerabilities", response: "VulnDB"),
        Op(method: "post", path: "/api/vulndb/rematch", summary: "Re-match every stored inventory against the vulnerability database (a job; nothing is pulled)", role: "admin", tag: "Vulnerabilities", response: "JobAccepted", status: "202"),
        Op(method: "post", path: "/api/vulndb/update", summary: "Download the OSV archives from the configured base URL and the enrichment feeds the server has URLs for (a job; a rematch follows when anything changed); ecosystems must be documented names, sources one of osv, nvd, epss, kev, debian-tracker and configured", role: "admin", tag: "Vulnerabilities", request: "VulnDBUpdate", response: "VulnDBUpdateAccepted", status: "202"),
        Op(method: "get", path: "/api/notification-channels", summary: "List outgoing webhook channels", role: "admin", tag: "Notifications", response: "Channel", list: true, query: ["page", "limit"]),
        Op(method: "post", path: "/api/notification-channels", summary: "Create a webhook channel (secret signs bodies with HMAC-SHA256)", role: "admin", tag: "Notifications", request: "ChannelCreate", response: "Channel", status: "201"),
        Op(method: "get", path: "/api/notification-channels/{channelId}", summary: "Get a channel", role: "admin", tag: "Notifications", response: "Channel"),
        Op(method: "put", path: "/api/notification-channels/{channelId}", summary: "Update a channel (partial; secret null removes it). A new url drops the signing secret unless a secret comes in the same request (the answer then has hasSecret false and secretDropped true)", role: "admin", tag: "Notifications", request: "ChannelUpdate", response: "Channel"),
        Op(method: "delete", path: "/api/notification-channels/{channelId}", summary: "Delete a channel and its delivery log", role: "admin", tag: "Notifications", response: "Deleted"),
        Op(method: "post", path: "/api/notification-channels/{channelId}/test", summary: "Send a test event now; the outcome (status class, error category) is in the body; 422 TARGET_NOT_ALLOWED when the outgoing-request policy refuses the URL", role: "admin", tag: "Notifications", response: "ChannelTest"),
        Op(method: "get", path: "/api/notification-channels/{channelId}/deliveries", summary: "The channel's delivery log, newest first", role: "admin", tag: "Notifications", response: "Delivery", list: true, query: ["page", "limit"]),
        Op(method: "get", path: "/api/organization", summary: "The caller's organization", role: "viewer", tag: "Organization", response: "Organization"),
        Op(method: "get", path: "/api/api-keys", summary: "List API keys", role: "admin", tag: "Keys", response: "ApiKey", list: true, query: ["page", "limit"]),
        Op(method: "post", path: "/api/api-keys", summary: "Create an API key (shown once)", role: "admin", tag: "Keys", request: "ApiKeyCreate", response: "ApiKey", status: "201"),
        Op(method: "delete", path: "/api/api-keys/{keyId}", summary: "Revoke an API key", role: "admin", tag: "Keys", response: "ApiKey"),
        Op(method: "get", path: "/api/personal-access-tokens", summary: "List your PATs", role: "viewer", tag: "Keys", response: "ApiKey", list: true, query: ["page", "limit"]),
        Op(method: "post", path: "/api/personal-access-tokens", summary: "Create a PAT (shown once)", role: "viewer", tag: "Keys", request: "PatCreate", response: "ApiKey", status: "201"),
        Op(method: "delete", path: "/api/personal-access-tokens/{tokenId}", summary: "Revoke one of your PATs", role: "viewer", tag: "Keys", response: "ApiKey"),
        Op(method: "get", path: "/api/members", summary: "List members", role: "admin", tag: "Members", response: "Member", list: true, query: ["page", "limit"]),
        Op(method: "post", path: "/api/members", summary: "Add a member", role: "admin", tag: "Members", request: "MemberCreate", response: "Member", status: "201"),
        Op(method: "put", path: "/api/members/{memberId}", summary: "Change a member", role: "admin", tag: "Members", request: "MemberUpdate", response: "Member"),
        Op(method: "delete", path: "/api/members/{memberId}", summary: "Remove a member", role: "admin", tag: "Members", response: "Deleted"),
        Op(method: "post", path: "/api/auth/sign-in", summary: "Sign in; sets the session cookie", role: nil, tag: "Auth", request: "SignIn", response: "SignedIn"),
        Op(method: "post", path: "/api/auth/sign-out", summary: "Sign out", role: "viewer", tag: "Auth", response: "SignedOut"),
        Op(method: "get", path: "/api/jobs/{jobId}", summary: "Get a job", role: "viewer", tag: "Jobs", response: "Job"),
        Op(method: "get", path: "/api/audit-log", summary: "Audit log (admin, auditor)", role: "auditor", tag: "Audit", response: "AuditEvent", list: true, query: ["page", "limit"]),
    ] + vexOperations

    static let json: String = {
        guard let data = try? JSONSerialization.data(withJSONObject: document(), options: [.sortedKeys]) else {
            return "{}"
        }
        return String(decoding: data, as: UTF8.self)
    }()

    static func ref(_ name: String) -> [String: Any] { ["$ref": "#/components/schemas/\(name)"] }

    static func document() -> [String: Any] {
        var paths: [String: [String: Any]] = [:]
        for op in operations + reportOperations + policyOperations + checkOperations {
            var o: [String: Any] = [
                "summary": op.summary + (op.role.map { $0 == "sensor" ? " (the registry's sensor key only)" : " (min role: \($0))" } ?? ""),
                "operationId": op.method + op.path.split(separator: "/").map { s in
                    s.replacingOccurrences(of: "{", with: "").replacingOccurrences(of: "}", with: "")
                        .split(separator: "-").map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()
                        .replacingOccurrences(of: ".", with: "")
                }.joined(),
                "tags": [op.tag],
            ]
            if op.role == nil { o["security"] = [] as [Any] }
            if let role = op.role, role != "sensor" {
                o["x-registry-scoped-key"] = registryScoped.contains("\(op.method) \(op.path)")
                    ? (op.path == "/api/registries/test-connection" ? "own registry ({registryId} form only)"
                        : op.path.hasSuffix("/triage") ? "own registry's images (scope image only)"
                        : op.path == "/api/vex" ? "own registry's images (statements match only its images)" : "own registry")
                    : "refused (403)"
            }
            var params: [[String: Any]] = []
            for seg in op.path.split(separator: "/") where seg.hasPrefix("{") {
                params.append([
                    "name": String(seg.dropFirst().dropLast()), "in": "path", "required": true,
                    "schema": ["type": "string"],
                ])
            }
            for q in op.query {
                let schema: [String: Any] = switch q {
                case "page": ["type": "integer", "minimum": 1, "default": 1]
                case "limit": ["type": "integer", "minimum": 1, "maximum": 200, "default": 50]
                default: priorityParameter(q) ?? vexParameter(q) ?? ["type": "string"]
                }
                params.append(["name": q, "in": "query", "required": false, "schema": schema])
            }
            if !params.isEmpty { o["parameters"] = params }
            if let r = op.request {
                o["requestBody"] = ["required": true, "content": ["application/json": ["schema": ref(r)]]]
            }
            var responses: [String: Any] = [:]
            if let r = op.response {
                let schema: [String: Any] = op.list
                    ? ["type": "object", "required": ["data", "meta", "links"],
                       "properties": ["data": ["type": "array", "items": ref(r)], "meta": ref("ListMeta"), "links": ref("ListLinks")]]
                    : (r == "Status" || r == "VEXDocument" ? ref(r) : ["type": "object", "required": ["data"], "properties": ["data": ref(r)]])
                responses[op.status] = ["description": "Success", "content": ["application/json": ["schema": schema]]]
            } else if op.path == "/metrics" {
                responses["200"] = ["description": "Prometheus text", "content": ["text/plain": ["schema": ["type": "string"]]]]
            } else if op.path.hasSuffix(".csv") {
                responses["200"] = ["description": "A CSV file (Content-Disposition: attachment)", "content": ["text/csv": ["schema": ["type": "string"]]]]
            } else if op.path.hasSuffix("/sbom") {
                responses["200"] = ["description": "The SBOM document", "content": ["application/json": ["schema": ["type": "object"]]]]
            } else {
                responses["200"] = ["description": "The OpenAPI document", "content": ["application/json": ["schema": ["type": "object"]]]]
            }
            let err: [String: Any] = ["$ref": "#/components/responses/Error"]
            for code in ["400", "401", "403", "404", "405", "409", "413", "421", "422", "429", "500", "503"] {
                responses[code] = err
            }
            if op.path == "/api/registries/{registryId}/events" {
                let error: [String: Any] = ["application/json": ["schema": ref("Error")]]
                responses["413"] = ["description": "More than 100 entries in one notification (nothing applied), or a body over 1 MiB", "content": error]
                responses["429"] = [
                    "description": "More than 60 requests a minute for this registry",
                    "headers": ["Retry-After": ["description": "Seconds until the window resets", "schema": ["type": "integer"]]],
                    "content": error,
                ]
            }
            if op.path == "/api/policy/check" {
                responses["202"] = ["description": "The scan of the digest is queued or running (Location: the scan)",
                                    "content": ["application/json": ["schema": ["type": "object", "required": ["data"], "properties": ["data": ref("PolicyCheckPending")]]]]]
                responses["502"] = ["description": "The registry could not resolve the image (REGISTRY_ERROR), or the scan failed (SCAN_FAILED)",
                                    "content": ["application/json": ["schema": ref("Error")]]]
            }
            o["responses"] = responses
            paths[op.path, default: [:]][op.method] = o
        }
        return [
            "openapi": "3.1.0",
            "info": [
                "title": "harborguard API", "version": "1.0.0",
                "description": "Container-image security appliance: registries, images, scans, findings, triage, keys, audit.",
            ],
            "servers": [["url": "/"]],
            "security": [["ApiKey": [] as [String]], ["Bearer": [] as [String]], ["Session": [] as [String]]],
            "paths": paths,
            "components": components(),
        ]
    }

    static func components() -> [String: Any] {
        let str: [String: Any] = ["type": "string"]
        let nstr: [String: Any] = ["type": ["string", "null"]]
        let date: [String: Any] = ["type": "string", "format": "date-time"]
        let ndate: [String: Any] = ["type": ["string", "null"], "format": "date-time"]
        let providers = ["DOCKER_HUB", "GHCR", "AWS_ECR", "AZURE_ACR", "GOOGLE_GAR", "GITLAB", "HARBOR", "JFROG", "QUAY", "NEXUS", "DOCKER_REGISTRY", "CUSTOM"]
        let roles = ["owner", "admin", "developer", "ci", "auditor", "viewer"]
        let events = NotificationEvent.allCases.map(\.rawValue)
        let (delivery, minSeverity, minPriority, emailIn, emailOut) = (channelDelivery, channelMinSeverity, channelMinPriority, channelEmailIn, channelEmailOut)
        let schedule: [String: Any] = ["type": "string", "enum": ["manual", "on_push", "daily", "weekly"]]
        let scanners: [String: Any] = ["type": "array", "items": ["type": "string", "enum": ["trivy", "grype", "syft", "native"]]]
        let credentials: [String: Any] = [
            "description": "Provider-specific credentials: UsernamePassword {username,password}, UsernamePat {username,pat}, AwsEcr {accessKeyId,secretAccessKey,region,sessionToken?}, GoogleGar {serviceAccountKey}, AzureAcr {tenantId,clientId,clientSecret}, HarborRobot {robotName,robotSecret}, JfrogIdentityToken {username,identityToken}. Never returned.",
            "type": ["object", "null"], "additionalProperties": ["type": "string"],
        ]
        var schemas: [String: Any] = [
            "Status": ["type": "object", "properties": ["status": str]],
            "ListMeta": ["type": "object", "required": ["page", "pageSize", "total", "totalPages", "hasNext", "hasPrev"],
                         "properties": ["page": ["type": "integer"], "pageSize": ["type": "integer"], "total": ["type": "integer"],
                                        "totalPages": ["type": "integer"], "hasNext": ["type": "boolean"], "hasPrev": ["type": "boolean"]]],
            "ListLinks": ["type": "object", "properties": ["self": str, "next": nstr, "prev": nstr]],
            "Error": ["type": "object", "required": ["error"], "properties": ["error": [
                "type": "object", "required": ["code", "message", "issues"],
                "properties": ["code": ["type": "string", "enum": ["BAD_REQUEST", "VALIDATION_ERROR", "UNAUTHORIZED", "FORBIDDEN", "NOT_FOUND", "METHOD_NOT_ALLOWED", "CONFLICT", "PAYLOAD_TOO_LARGE", "RATE_LIMITED", "INTERNAL_ERROR", "SERVICE_UNAVAILABLE", "TIMEOUT", "TARGET_NOT_ALLOWED", "HOST_NOT_ALLOWED"]],
                               "message": str,
                               "issues": ["type": "array", "items": ["type": "object", "properties": ["path": str, "message": str]]]]]]],
            "Registry": ["type": "object",
                         "required": ["id", "name", "provider", "url", "scanMethod", "scanning", "imageCount", "health", "insecure", "hasCredentials", "webhookUrl", "createdAt", "updatedAt"],
                         "properties": [
                            "id": str, "name": str, "provider": ["type": "string", "enum": providers],
                            "url": ["type": ["string", "null"],
                                    "description": "The registry endpoint the crawler uses. For AWS_ECR without a given url, derived from the credentials' account and region (ECR's proxyEndpoint); null only while that could not be asked yet (the next sync derives it) and for sensor registries."],
                            "scanMethod": ["type": "string", "enum": ["cloud", "sensor"]],
                            "scanning": ["type": "object", "properties": ["schedule": schedule, "scanners": scanners, "tagInclude": nstr, "tagExclude": nstr]],
                            "imageCount": ["type": "integer"],
                            "health": ["type": "object", "properties": [
                                "status": ["type": "string", "enum": ["unknown", "syncing", "healthy", "degraded", "unhealthy"]],
                                "lastSyncAt": ndate, "score": ["type": "integer", "minimum": 0, "maximum": 100], "lastError": nstr]],
                            "insecure": ["type": "boolean"], "hasCredentials": ["type": "boolean"], "webhookUrl": str,
                            "sensorApiKey": ["type": "string", "description": "Only in the create response of a sensor registry."],
                            "webhookToken": ["type": "string", "description": "Only in the create response."],
                            "credentialsDropped": ["type": "boolean", "description": "Only in an update's answer: true when the update dropped the stored credentials (new url or insecure without new credentials)."],
                            "createdAt": date, "updatedAt": date]],
            "RegistryCreate": ["type": "object", "required": ["name", "provider"], "additionalProperties": false,
                               "properties": ["name": ["type": "string", "minLength": 1, "maxLength": 100],
                                              "provider": ["type": "string", "enum": providers], "url": str, "credentials": credentials,
                                              "scanMethod": ["type": "string", "enum": ["cloud", "sensor"], "default": "cloud"],
                                              "scanners": scanners, "schedule": schedule, "includeTags": nstr, "excludeTags": nstr,
                                              "insecure": ["type": "boolean", "default": false]]],
            "RegistryUpdate": ["type": "object",
                               "properties": ["name": ["type": "string", "minLength": 1, "maxLength": 100],
                                              "scanning": ["type": "object", "additionalProperties": false, "properties": ["schedule": schedule, "scanners": scanners, "tagInclude": nstr, "tagExclude": nstr]],
                                              "url": str, "credentials": credentials, "insecure": ["type": "boolean"]]],
            "Image": ["type": "object", "required": ["id", "registryId", "name", "fullName", "tagCount", "riskScore", "vulnerabilities", "createdAt"],
                      "properties": ["id": str, "registryId": str, "name": str, "fullName": str, "tagCount": ["type": "integer"],
                                     "latestTag": nstr, "latestDigest": nstr, "riskScore": ["type": "integer"],
                                     "vulnerabilities": ["type": "object", "properties": ["critical": ["type": "integer"], "high": ["type": "integer"], "medium": ["type": "integer"], "low": ["type": "integer"], "unknown": ["type": "integer"]]],
                                     "lastScannedAt": ndate, "createdAt": date,
                                     "tags": ["type": "array", "items": ["type": "object", "properties": ["name": str, "digest": str, "lastScanId": nstr, "lastScannedAt": ndate, "firstSeenAt": date, "updatedAt": date]]]]],
            "TestConnection": ["type": "object", "properties": ["registryId": str, "provider": ["type": "string", "enum": providers], "url": str, "credentials": credentials, "insecure": ["type": "boolean"]]],
            "TestConnectionResult": ["type": "object", "required": ["ok", "status", "message", "latencyMs", "authScheme", "repositories"],
                                     "properties": ["ok": ["type": "boolean"], "status": ["type": "string", "enum": ["ok", "auth_failed", "unreachable", "tls_error", "not_a_registry", "timeout"]],
                                                    "message": str, "latencyMs": ["type": "integer"], "authScheme": ["type": "string", "enum": ["none", "basic", "bearer"]],
                                                    "repositories": ["type": "array", "items": str]]],
            "SyncAccepted": ["type": "object", "properties": ["jobId": str, "registryId": str, "status": str, "created": ["type": "boolean"]]],
            "PushEvent": ["type": "object", "description": "A CNCF distribution (also GitLab), Harbor, GitHub package, Docker Hub, Quay or JFrog push notification."],
            "PushAccepted": ["type": "object",
                             "required": ["registryId", "format", "events", "accepted", "rejected", "duplicates", "enqueued", "skipped", "syncQueued", "issues"],
                             "properties": [
                                "registryId": str, "format": str,
                                "events": ["type": "integer", "description": "Push entries in the notification (pulls and blob pushes are not counted)"],
                                "accepted": ["type": "integer", "description": "Entries that passed the checks (tag filters included)"],
                                "rejected": ["type": "integer", "description": "Entries skipped: bad repository, tag or digest, or a digest the registry did not confirm"],
                                "duplicates": ["type": "integer", "description": "Entries seen within the last 10 minutes (no-ops)"],
                                "enqueued": ["type": "integer", "description": "Scans queued"],
                                "skipped": ["type": "integer", "description": "Accepted entries that queued no scan (filtered, schedule not on_push, scan already queued, sensor registry)"],
                                "syncQueued": ["type": "boolean", "description": "A sensor registry: a sync was queued for its sensor, which records what the registry holds"],
                                "issues": ["type": "array", "items": ["type": "object", "required": ["index", "field", "message"],
                                                                        "properties": ["index": ["type": "integer", "description": "The entry's position in the notification"],
                                                                                       "field": str, "message": str]]],
                             ]],
            "WebhookToken": ["type": "object", "properties": ["registryId": str, "webhookToken": str, "webhookUrl": str]],
            "Deleted": ["type": "object", "required": ["id", "deleted"], "properties": ["id": str, "deleted": ["type": "boolean"]]],
            "Organization": ["type": "object", "properties": ["id": str, "name": str, "createdAt": date, "registryCount": ["type": "integer"], "memberCount": ["type": "integer"], "role": ["type": "string", "enum": roles]]],
            "ApiKey": ["type": "object", "required": ["id", "name", "kind", "role", "prefix", "createdAt"],
                       "properties": ["id": str, "name": str, "kind": ["type": "string", "enum": ["api", "sensor", "pat"]], "role": ["type": "string", "enum": roles],
                                      "prefix": str, "registryId": nstr, "createdBy": nstr, "createdAt": date, "expiresAt": ndate,
                                      "lastUsedAt": ndate, "revokedAt": ndate, "key": ["type": "string", "description": "Only in the create response."]]],
            "ApiKeyCreate": ["type": "object", "required": ["name", "role"], "additionalProperties": false,
                             "properties": ["name": ["type": "string", "minLength": 1, "maxLength": 100], "role": ["type": "string", "enum": roles], "expiresAt": date, "registryId": str]],
            "PatCreate": ["type": "object", "required": ["name"], "additionalProperties": false,
                          "properties": ["name": ["type": "string", "minLength": 1, "maxLength": 100], "role": ["type": "string", "enum": roles], "expiresAt": date]],
            "Member": ["type": "object", "properties": ["id": str, "username": str, "name": nstr, "role": ["type": "string", "enum": roles], "createdAt": date, "updatedAt": date]],
            "MemberCreate": ["type": "object", "required": ["username", "password", "role"], "additionalProperties": false,
                             "properties": ["username": ["type": "string", "minLength": 1, "maxLength": 64], "password": ["type": "string", "minLength": 12], "role": ["type": "string", "enum": roles], "name": str]],
            "MemberUpdate": ["type": "object", "properties": ["role": ["type": "string", "enum": roles], "name": str, "password": ["type": "string", "minLength": 12]]],
            "SignIn": ["type": "object", "required": ["username", "password"], "additionalProperties": false, "properties": ["username": str, "password": str]],
            "SignedIn": ["type": "object", "properties": ["user": ref("Member"), "expiresAt": date]],
            "SignedOut": ["type": "object", "properties": ["signedOut": ["type": "boolean"]]],
            "Job": ["type": "object", "required": ["id", "type", "status", "progress", "attempts", "createdAt"],
                    "properties": ["id": str, "type": ["type": "string", "enum": jobTypes],
                                   "status": ["type": "string", "enum": ["queued", "running", "succeeded", "failed", "cancelled"]],
                                   "progress": ["type": "object", "properties": ["done": ["type": "integer"], "total": ["type": "integer"]]],
                                   "attempts": ["type": "integer"], "error": nstr, "createdAt": date, "startedAt": ndate, "finishedAt": ndate, "registryId": nstr]],
            "ScanCreate": ["type": "object", "required": ["image"], "additionalProperties": false,
                           "properties": ["image": str, "scanners": ["type": "array", "items": ["type": "string", "enum": ["native", "trivy", "grype", "syft"]]],
                                          "platform": ["type": "string", "description": "os/arch[/variant], default linux/amd64"]]],
            "ScanAccepted": ["type": "object", "required": ["id", "status"], "properties": ["id": str, "status": str, "jobId": str, "created": ["type": "boolean"]]],
            "Counts": ["type": "object", "properties": ["critical": ["type": "integer"], "high": ["type": "integer"], "medium": ["type": "integer"], "low": ["type": "integer"], "unknown": ["type": "integer"]]],
            "Scan": ["type": "object", "required": ["id", "registryId", "reference", "status", "trigger", "origin", "scanners", "counts", "riskScore", "queuedAt"],
                     "properties": ["id": str, "imageId": nstr, "registryId": str, "reference": str, "digest": nstr, "platform": str,
                                    "status": ["type": "string", "enum": ["queued", "running", "completed", "failed", "cancelled"]],
                                    "trigger": ["type": "string", "enum": ["manual", "schedule", "push", "api"]],
                                    "origin": ["type": "string", "enum": ["cloud", "sensor"]],
                                    "scanners": ["type": "array", "items": ["type": "object", "properties": ["name": str, "status": ["type": "string", "enum": ["ok", "failed", "unavailable"]], "version": nstr, "durationMs": ["type": "integer"], "error": nstr]]],
                                    "requestedScanners": ["type": "array", "items": str],
                                    "os": ["type": ["object", "null"], "properties": ["family": str, "version": nstr]],
                                    "packageCount": ["type": "integer"], "counts": ref("Counts"), "riskScore": ["type": "integer"],
                                    "layers": ["type": "object", "properties": ["total": ["type": "integer"], "cached": ["type": "integer"], "bytesDownloaded": ["type": "integer"]]],
                                    "durationMs": ["type": ["integer", "null"]], "error": nstr, "notes": ["type": "array", "items": str], "jobId": nstr,
                                    "queuedAt": date, "startedAt": ndate, "finishedAt": ndate]],
            "ScanStatus": ["type": "object", "properties": ["id": str, "status": str, "progress": ["type": "object", "properties": ["done": ["type": "integer"], "total": ["type": "integer"]]],
                                                         "error": nstr, "queuedAt": date, "startedAt": ndate, "finishedAt": ndate]],
            "FindingPackage": ["type": "object", "properties": ["name": str, "version": str, "type": str, "purl": str, "layer": nstr]],
            "Finding": ["type": "object", "required": ["id", "vulnerabilityId", "severity", "package", "fixState", "sources"],
                        "properties": ["id": str, "vulnerabilityId": str, "aliases": ["type": "array", "items": str],
                                       "severity": ["type": "string", "enum": ["CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN"]],
                                       "package": ref("FindingPackage"), "fixedVersion": nstr, "fixState": ["type": "string", "enum": ["fixed", "not-fixed", "wont-fix", "unknown"]],
                                       "sources": ["type": "array", "items": str], "title": nstr, "references": ["type": "array", "items": str],
                                       "matchedBy": ["type": ["string", "null"], "enum": ["nvd-cpe", NSNull()],
                                                     "description": "nvd-cpe: matched through NVD's CPE configurations (software found from its own files, such as a runtime built from source); null: matched by OSV advisories or reported by an external scanner"],
                                       "triage": ["oneOf": [ref("Triage"), ["type": "null"]]]]],
            "Package": ["type": "object", "properties": ["name": str, "version": str, "type": str, "purl": str, "layer": str, "path": str, "sourceName": str, "sourceVersion": str, "cpes": ["type": "array", "items": str], "evidence": str]],
            "Vulnerability": ["type": "object", "properties": ["id": str, "vulnerabilityId": str, "aliases": ["type": "array", "items": str], "severity": str,
                                                            "title": nstr, "package": ["type": "object", "properties": ["name": str, "type": str, "versions": ["type": "array", "items": str]]],
                                                            "fixedVersion": nstr, "fixable": ["type": "boolean"], "affectedImages": ["type": "integer"], "imageIds": ["type": "array", "items": str],
                                                            "firstDetectedAt": ndate, "status": ["type": "string", "enum": ["OPEN", "ACKNOWLEDGED", "IN_PROGRESS", "FIXED", "WONT_FIX", "NOT_AFFECTED"]],
                                                            "triage": ["oneOf": [ref("Triage"), ["type": "null"]]]]],
            "TriageUpdate": ["type": "object", "required": ["status"], "additionalProperties": false,
                             "properties": ["status": ["type": "string", "enum": ["OPEN", "ACKNOWLEDGED", "IN_PROGRESS", "FIXED", "WONT_FIX", "NOT_AFFECTED"]], "note": str,
                                            "justification": ["type": "string", "enum": VEXJustification.allCases.map(\.rawValue),
                                                              "description": "With NOT_AFFECTED (which needs a justification or a note): the OpenVEX justification"],
                                            "scope": ["type": "string", "enum": ["organization", "image"]], "imageId": str, "expiresAt": date]],
            "Triage": ["type": "object", "properties": ["status": str, "note": nstr, "justification": nstr,
                                                     "scope": ["type": "string", "enum": ["organization", "image"]], "imageId": nstr,
                                                     "expiresAt": ndate, "updatedBy": str, "updatedAt": date,
                                                     "source": ["type": ["object", "null"], "description": "An imported decision's VEX document (its id) and author",
                                                                "properties": ["document": nstr, "author": nstr]],
                                                     "subcomponents": ["type": "array", "items": str, "description": "The package purls an imported statement named (empty: the whole image)"]]],
            "VulnDB": ["type": "object", "properties": ["sources": ["type": "array", "items": ["type": "object", "properties": ["name": str, "location": str, "importedAt": date, "records": ["type": "integer"]]]],
                                                     "ecosystems": ["type": "object", "additionalProperties": ["type": "integer"]], "advisories": ["type": "integer"],
                                                     "withdrawn": ["type": "integer"], "lastUpdated": ndate, "newestModified": ndate,
                                                     "release": ["type": ["object", "null"], "description": "PostgreSQL installations: the vulnerability-database release every node matches against (null on SQLite, and version null before any node published one); local is the version this node's file holds, current whether it is the release", "properties": [
                                                        "version": ["type": ["string", "null"]], "publishedAt": ndate, "publishedBy": ["type": ["string", "null"]],
                                                        "reason": ["type": ["string", "null"]], "size": ["type": ["integer", "null"]], "local": ["type": ["string", "null"]],
                                                        "current": ["type": "boolean"]]],
                                                     "enrichment": ["type": "array", "items": ["type": "object", "properties": [
                                                        "name": ["type": "string", "enum": EnrichmentSource.allCases.map(\.rawValue)],
                                                        "configured": ["type": "boolean", "description": "The server has a URL for it (serve --nvd-url, --epss-url, --kev-url, --debian-tracker-url)."],
                                                        "url": nstr, "records": ["type": "integer"], "importedAt": ndate, "lastChecked": ndate,
                                                        "version": ["type": ["string", "null"], "description": "EPSS model version or KEV catalog version."],
                                                        "date": ["type": ["string", "null"], "description": "EPSS score date or KEV release date."],
                                                        "lastAttemptAt": ndate,
                                                        "lastOutcome": ["type": ["string", "null"], "description": "updated, unchanged, skipped or failed."],
                                                        "lastError": nstr]]]]],
            "VulnDBUpdate": ["type": "object", "additionalProperties": false, "properties": [
                "ecosystems": ["type": "array", "maxItems": 64, "items": ["type": "string", "enum": VulnDBUpdater.defaultEcosystems]],
                "sources": ["type": "array", "minItems": 1, "maxItems": 16, "items": ["type": "string", "enum": VulnDBSourceSelection.names],
                            "description": "What to update (default: osv and every enrichment source the server has a URL for); an enrichment source without a URL is a validation error."]]],
            "VulnDBUpdateAccepted": ["type": "object", "required": ["jobId", "status"], "properties": [
                "jobId": str, "status": str, "url": str, "sources": ["type": "array", "items": str],
                "notConfigured": ["type": "array", "items": str, "description": "Enrichment sources this server has no URL for."]]],
            "JobAccepted": ["type": "object", "required": ["jobId", "status"], "properties": ["jobId": str, "status": str]],
            "ScheduleAccepted": ["type": "object", "required": ["registries", "enqueued", "skipped"], "properties": ["registries": ["type": "integer"], "enqueued": ["type": "integer"], "skipped": ["type": "integer"], "syncs": ["type": "integer"], "scans": ["type": "integer"]]],
            "Channel": ["type": "object", "properties": ["id": str, "name": str, "type": ["type": "string", "enum": ChannelType.allCases.map(\.rawValue)],
                                                      "url": ["type": "string", "description": "webhook: the URL; slack/teams: scheme and host only (the URL is sealed); email: smtp://host:port"], "events": ["type": "array", "items": ["type": "string", "enum": events]], "enabled": ["type": "boolean"],
                                                      "hasSecret": ["type": "boolean", "description": "webhook: a signing secret; slack/teams: the sealed URL; email: an SMTP password"],
                                                      "secretDropped": ["type": "boolean", "description": "Only in an update's answer: true when the update dropped the signing secret (new url without a new secret) or the SMTP password (new host without a new password)."],
                                                      "delivery": delivery, "minSeverity": minSeverity, "minPriority": minPriority, "email": emailOut, "createdAt": date, "updatedAt": date]],
            "ChannelCreate": ["type": "object", "required": ["name", "events"], "additionalProperties": false,
                              "description": "webhook and slack/teams need url; email needs email.",
                              "properties": ["name": str, "type": ["type": "string", "enum": ChannelType.allCases.map(\.rawValue)], "url": str,
                                             "events": ["type": "array", "items": ["type": "string", "enum": events]], "secret": ["type": "string", "minLength": 16],
                                             "enabled": ["type": "boolean"], "delivery": delivery, "minSeverity": minSeverity, "minPriority": minPriority, "email": emailIn]],
            "ChannelUpdate": ["type": "object", "properties": ["name": str, "url": str, "events": ["type": "array", "items": ["type": "string", "enum": events]],
                                                            "secret": ["type": ["string", "null"]], "enabled": ["type": "boolean"], "delivery": delivery, "minSeverity": minSeverity, "minPriority": minPriority, "email": emailIn]],
            "ChannelTest": ["type": "object", "properties": ["delivered": ["type": "boolean"], "statusClass": ["type": ["string", "null"], "pattern": "^[1-5]xx$"], "error": nstr, "durationMs": ["type": "integer"]]],
            "Delivery": ["type": "object", "properties": ["id": str, "event": str, "status": ["type": "string", "enum": ["pending", "delivered", "failed"]],
                                                       "attempts": ["type": "integer"], "statusClass": ["type": ["string", "null"], "pattern": "^[1-5]xx$"], "error": nstr,
                                                       "createdAt": date, "updatedAt": date, "nextAttemptAt": ndate]],
            "SensorStatus": ["type": "object", "required": ["registryId", "scanMethod", "status", "jobs"],
                             "properties": ["registryId": str, "scanMethod": ["type": "string", "enum": ["cloud", "sensor"]],
                                            "status": ["type": "string", "enum": ["online", "scanning", "offline", "never_connected", "not_applicable"]],
                                            "name": nstr, "version": nstr, "hostname": nstr, "lastHeartbeatAt": ndate,
                                            "sensor": ["type": ["object", "null"], "properties": ["name": str, "version": str, "hostname": str]],
                                            "offlineAfterSeconds": ["type": "integer"],
                                            "jobs": ["type": "object", "properties": ["queued": ["type": "integer"], "running": ["type": "integer"]]]]],
            "SensorHeartbeat": ["type": "object", "required": ["name", "version", "hostname"], "additionalProperties": false,
                                "properties": ["name": ["type": "string", "minLength": 1, "maxLength": 100], "version": ["type": "string", "minLength": 1, "maxLength": 100],
                                               "hostname": ["type": "string", "minLength": 1, "maxLength": 255]]],
            "SensorHeartbeatReply": ["type": "object", "properties": ["registryId": str, "pollIntervalSeconds": ["type": "integer"]]],
            "SensorClaim": ["type": "object", "additionalProperties": false,
                            "properties": ["max": ["type": "integer", "minimum": 1, "maximum": 10, "default": 1], "leaseSeconds": ["type": "integer", "minimum": 10, "maximum": 3600, "default": 60]]],
            "SensorLease": ["type": "object", "additionalProperties": false,
                            "properties": ["leaseSeconds": ["type": "integer", "minimum": 10, "maximum": 3600, "default": 60]]],
            "SensorLeaseReply": ["type": "object", "properties": ["id": str, "leaseExpiresAt": date, "status": str]],
            "SensorJobs": ["type": "array", "items": ["type": "object", "required": ["id", "type", "attempt", "payload", "leaseExpiresAt"],
                                                      "properties": ["id": str, "type": ["type": "string", "enum": ["sync", "scan"]], "attempt": ["type": "integer"], "leaseExpiresAt": date,
                                                                     "payload": ["type": "object", "description": "registry {id, url, provider, insecure} (never credentials); sync: includeTags, excludeTags; scan: scanId, repository, tag, digest, platform, scanners",
                                                                                 "properties": ["registry": ["type": "object", "properties": ["id": str, "url": str, "provider": str, "insecure": ["type": "boolean"]]],
                                                                                                "includeTags": nstr, "excludeTags": nstr, "scanId": str, "repository": str, "tag": nstr, "digest": nstr, "platform": str,
                                                                                                "scanners": ["type": "array", "items": str]]]]]],
            "SensorResult": ["type": "object", "required": ["status"], "additionalProperties": false,
                             "properties": ["status": ["type": "string", "enum": ["succeeded", "failed"]], "error": str, "retryable": ["type": "boolean"],
                                            "attempt": ["type": "integer", "description": "The claim's attempt; a result for an older attempt is refused (409)."],
                                            "tags": ["type": "array", "description": "sync", "items": ["type": "object", "required": ["repository", "tag", "digest"], "properties": ["repository": str, "tag": str, "digest": str]]],
                                            "failedRepositories": ["type": "array", "description": "sync: repositories that could not be listed keep their recorded tags", "items": str],
                                            "repositories": ["type": "integer", "description": "sync: repositories listed"],
                                            "report": ["type": "object", "description": "scan: the image scan report (reference, digest, manifestDigest, platform, os, layers, packages, findings, notes, durationMs); only findings of external scanners are kept, the inventory is matched by the server"],
                                            "scanners": ["type": "array", "description": "scan", "items": ["type": "object", "properties": ["name": str, "status": str, "version": nstr, "durationMs": ["type": "integer"], "error": nstr]]]]],
            "SensorResultReply": ["type": "object", "properties": ["jobId": str, "status": str, "recorded": ["type": "boolean"], "scanId": nstr, "findings": ["type": "integer"],
                                                                "sync": ["type": "object", "description": "What the sync changed"],
                                                                "rejected": ["type": "integer", "description": "sync: entries skipped because a repository, tag or digest does not fit the distribution grammar (never stored)"],
                                                                "issues": ["type": "array", "description": "sync: the first 20 skipped entries", "items": ["type": "object", "properties": ["path": str, "message": str]]]]],
            "AuditEvent": ["type": "object", "properties": ["id": str, "actor": str, "action": str, "target": nstr, "ip": nstr, "createdAt": date]],
        ]
        schemas.merge(priorityComponents()) { a, _ in a }
        schemas.merge(vexComponents()) { a, _ in a }
        schemas.merge(policyComponents()) { a, _ in a }
        schemas.merge(checkComponents()) { a, _ in a }
        if var scan = schemas["Scan"] as? [String: Any], var props = scan["properties"] as? [String: Any] {
            props["policy"] = ["$ref": "#/components/schemas/PolicyVerdict"]
            scan["properties"] = props
            schemas["Scan"] = scan
        }
        if var image = schemas["Image"] as? [String: Any], var props = image["properties"] as? [String: Any] {
            props["policy"] = ["$ref": "#/components/schemas/ImagePolicy"]
            image["properties"] = props
            schemas["Image"] = image
        }
        for name in ["Finding", "Vulnerability"] {
            guard var schema = schemas[name] as? [String: Any], var props = schema["properties"] as? [String: Any] else { continue }
            props.merge(priorityProperties) { a, _ in a }
            schema["properties"] = props
            if name == "Finding" { schema["required"] = (schema["required"] as? [String] ?? []) + ["priority"] }
            schemas[name] = schema
        }
        return [
            "schemas": schemas,
            "responses": ["Error": ["description": "Error envelope", "content": ["application/json": ["schema": ref("Error")]]]],
            "securitySchemes": [
                "ApiKey": ["type": "apiKey", "in": "header", "name": "X-API-Key"],
                "Bearer": ["type": "http", "scheme": "bearer", "description": "hg_ak_… API key or hg_pat_… personal access token"],
                "Session": ["type": "apiKey", "in": "cookie", "name": "next-auth.session-token"],
            ],
        ]
    }
}
