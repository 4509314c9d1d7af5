import Foundation
import Registry
import Scan

/// A channel request body, read field by field (one issue per bad field). The type-specific
/// rules need the channel's type, which an update takes from the stored channel:
/// `check(type:creating:)` adds them.
struct ChannelInput {
    static let fields: Set<String> = ["name", "type", "url", "events", "secret", "enabled", "delivery", "minSeverity", "minPriority", "email"]
    static let readOnly: Set<String> = ["id", "hasSecret", "secretDropped", "createdAt", "updatedAt"]
    static let emailFields: Set<String> = ["host", "port", "security", "username", "password", "from", "to", "caFile"]

    var name: String?
    var type: ChannelType?
    var url: String?
    var events: [String]?
    /// nil: not given; .some(nil): remove.
    var secret: String??
    var enabled: Bool?
    var delivery: DeliveryMode?
    /// nil: not given; .some(nil): no minimum.
    var minSeverity: String??
    /// nil: not given; .some(nil): no minimum.
    var minPriority: String??
    var email: EmailSettings?
    /// nil: not given; .some(nil): remove.
    var password: String??
    var hasEmail = false

    static func read(_ r: inout ObjectReader, creating: Bool) -> ChannelInput {
        r.rejectUnknown(allowed: fields, ignored: creating ? [] : readOnly)
        var input = ChannelInput()
        input.name = r.string("name", required: creating, minLength: 1, maxLength: 100)
        input.type = r.enumValue("type", ChannelType.self)
        if let url = r.string("url", minLength: 1, maxLength: 2048) {
            if let c = URLComponents(string: url), let scheme = c.scheme?.lowercased(), ["http", "https"].contains(scheme),
                c.host?.isEmpty == false
            {
                input.url = url
            } else {
                r.fail("url", "Must be an http(s) URL.")
            }
        }
        if let events = r.stringArray("events", maxCount: 20) {
            for (i, e) in events.enumerated() where NotificationEvent(rawValue: e) == nil {
                r.fail("events[\(i)]", "Unknown event \(e); expected one of \(NotificationEvent.allCases.map(\.rawValue).joined(separator: ", ")).")
            }
            if events.isEmpty { r.fail("events", "At least one event.") }
            input.events = events
        } else if creating {
            r.fail("events", "Required.")
        }
        if r.has("secret") {
            if let secret = r.string("secret", minLength: 16, maxLength: 256) { input.secret = .some(secret) } else { input.secret = .some(nil) }
        }
        input.enabled = r.bool("enabled")
        input.delivery = r.enumValue("delivery", DeliveryMode.self)
        if r.has("minSeverity") {
            if let m = r.string("minSeverity", nullable: true) {
                if ChannelSeverity.rank(m) == nil || m != m.lowercased() {
                    r.fail("minSeverity", "Must be one of: \(ChannelSeverity.levels.joined(separator: ", ")) (or null).")
                } else {
                    input.minSeverity = .some(m)
                }
            } else {
                input.minSeverity = .some(nil)
            }
        }
        if r.has("minPriority") {
            if let m = r.string("minPriority", nullable: true) {
                if Priority(rawValue: m) == nil {
                    r.fail("minPriority", "Must be one of: \(Priority.allCases.map(\.rawValue).joined(separator: ", ")) (or null).")
                } else {
                    input.minPriority = .some(m)
                }
            } else {
                input.minPriority = .some(nil)
            }
        }
        if r.has("email") {
            input.hasEmail = true
            if var e = r.object("email") {
                input.readEmail(&e)
                r.absorb(e)
            }
        }
        return input
    }

    mutating func readEmail(_ e: inout ObjectReader) {
        e.rejectUnknown(allowed: Self.emailFields, ignored: ["hasPassword"])
        let host = e.string("host", required: true, minLength: 1, maxLength: 253)
        if let host, !Self.isHostName(host) {
            e.fail("host", "Must be a host name (the server's certificate is verified against it), not an address.")
        }
        let security = e.enumValue("security", SMTPSecurity.self) ?? .starttls
        var port = security == .tls ? 465 : 587
        if let v = e.object["port"] {
            if case .number(let d) = v, d == d.rounded(), (1...65535).contains(d) {
                port = Int(d)
            } else {
                e.fail("port", "Must be an integer from 1 to 65535.")
            }
        }
        let username = e.string("username", minLength: 1, maxLength: 256)
        if let username, username.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
            e.fail("username", "Must not contain control characters.")
        }
        if e.has("password") {
            if let pw = e.string("password", minLength: 1, maxLength: 256) {
                password = .some(pw)
                if pw.unicodeScalars.contains(where: { $0.value == 0 }) { e.fail("password", "Must not contain NUL.") }
            } else {
                password = .some(nil)
            }
        }
        let from = e.string("from", required: true, minLength: 3, maxLength: 254)
        if let from, !Self.isAddress(from) { e.fail("from", "Must be an e-mail address (local@domain).") }
        var to: [String] = []
        if let list = e.stringArray("to", maxCount: 50) {
            if list.isEmpty { e.fail("to", "At least one recipient.") }
            for (i, a) in list.enumerated() where !Self.isAddress(a) {
                e.fail("to[\(i)]", "Must be an e-mail address (local@domain).")
            }
            to = list
        } else if !e.has("to") {
            e.fail("to", "Required.")
        }
        let caFile = e.string("caFile", minLength: 1, maxLength: 4096)
        if let caFile {
            if !caFile.hasPrefix("/") {
                e.fail("caFile", "Must be an absolute path.")
            } else if !FileManager.default.isReadableFile(atPath: caFile) {
                e.fail("caFile", "Not a readable file on the server.")
            }
        }
        if let host, let from {
            email = EmailSettings(host: host, port: port, security: security, username: username, from: from, to: to, caFile: caFile)
        }
    }

    /// The rules of `type`: which fields it takes and needs.
    mutating func check(_ r: inout ObjectReader, type: ChannelType, creating: Bool) {
        switch type {
        case .webhook:
            if creating && url == nil && !r.has("url") { r.fail("url", "Required.") }
            if hasEmail { r.fail("email", "Only e-mail channels have e-mail settings.") }
            if let delivery, delivery != .immediate {
                r.fail("delivery", "Webhook channels send each event as it happens (immediate); use slack, teams or email for digests.")
            }
        case .slack, .teams:
            if creating && url == nil && !r.has("url") { r.fail("url", "Required (the incoming-webhook URL; stored encrypted).") }
            if r.has("secret") { r.fail("secret", "Only webhook channels sign their bodies.") }
            if hasEmail { r.fail("email", "Only e-mail channels have e-mail settings.") }
        case .email:
            if r.has("url") { r.fail("url", "E-mail channels have no URL; see email.") }
            if r.has("secret") { r.fail("secret", "Only webhook channels sign their bodies; the SMTP password is email.password.") }
            if creating && !hasEmail { r.fail("email", "Required.") }
        }
    }

    /// A DNS name: labels of letters, digits and hyphens; not an IP literal.
    static func isHostName(_ s: String) -> Bool {
        guard OutgoingPolicy.Address(literal: s) == nil, !s.isEmpty, s.utf8.count <= 253 else { return false }
        let labels = s.split(separator: ".", omittingEmptySubsequences: false)
        guard !labels.contains(where: \.isEmpty) else { return false }
        if labels.last!.allSatisfy(\.isNumber) { return false }
        return labels.allSatisfy { l in
            l.count <= 63 && !l.hasPrefix("-") && !l.hasSuffix("-")
                && l.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || $0 == "-") }
        }
    }

    /// `local@domain` with no spaces, controls, angle brackets, commas, quotes or
    /// semicolons: what goes into `MAIL FROM:<…>`, `RCPT TO:<…>` and the headers as is.
    static func isAddress(_ s: String) -> Bool {
        let parts = s.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, parts[0].utf8.count <= 64, isHostName(String(parts[1])) else { return false }
        return parts[0].unicodeScalars.allSatisfy { u in
            u.value > 0x20 && u.value < 0x7F && !"<>()[]\\,;:\"@".unicodeScalars.contains(u)
        }
    }
}
