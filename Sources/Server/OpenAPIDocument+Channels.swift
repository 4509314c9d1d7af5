import Foundation
import Scan

/// The channel schemas' parts: delivery modes, the minimum severity and priority, the e-mail settings.
extension OpenAPIDocument {
    static var channelDelivery: [String: Any] {
        [
            "type": "string", "enum": DeliveryMode.allCases.map(\.rawValue),
            "description": "webhook: immediate only (one body per event); slack/teams/email: immediate (events within 2 s in one message), hourly (on the hour, UTC) or daily (08:00 UTC)",
        ]
    }
    static var channelMinSeverity: [String: Any] {
        [
            "type": ["string", "null"], "enum": (ChannelSeverity.levels as [Any]) + [NSNull()],
            "description": "Events carrying a finding severity below this are skipped; info and warning events are not filtered",
        ]
    }
    static var channelMinPriority: [String: Any] {
        [
            "type": ["string", "null"], "enum": (Priority.allCases.map(\.rawValue) as [Any]) + [NSNull()],
            "description": "Events carrying a finding priority below this (P1 highest) are skipped: the CVE watch's events, scan_complete, critical_cve and high_cve (their best finding); other events are not filtered. With minSeverity too, an event must meet both",
        ]
    }
    static var channelEmailProperties: [String: Any] {
        [
            "host": ["type": "string", "description": "A host name (the certificate is verified against it)"],
            "port": ["type": "integer", "minimum": 1, "maximum": 65535], "security": ["type": "string", "enum": SMTPSecurity.allCases.map(\.rawValue)],
            "username": ["type": "string"], "from": ["type": "string"], "to": ["type": "array", "items": ["type": "string"], "minItems": 1, "maxItems": 50],
            "caFile": ["type": "string", "description": "Absolute path of a PEM CA bundle on the server"],
        ]
    }
    static var channelEmailOut: [String: Any] { ["type": "object", "properties": channelEmailProperties] }
    static var channelEmailIn: [String: Any] {
        var props = channelEmailProperties
        props["password"] = ["type": ["string", "null"], "description": "Sealed, never returned; null removes it"]
        return ["type": "object", "required": ["host", "from", "to"], "additionalProperties": false, "properties": props]
    }
}
