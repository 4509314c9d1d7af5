import Foundation
public import Scan
import Store

/// A channel's type: where and how its messages go.
public enum ChannelType: String, Sendable, Codable, CaseIterable {
    /// Today's generic webhook: one signed JSON body per event.
    case webhook
    /// A Slack incoming webhook (Block Kit message).
    case slack
    /// A Microsoft Teams Workflows webhook (Adaptive Card 1.5).
    case teams
    /// SMTP (multipart/alternative e-mail).
    case email
}

/// When a slack/teams/email channel's pending events become one message.
public enum DeliveryMode: String, Sendable, Codable, CaseIterable {
    /// Everything emitted within `ChannelDigest.immediateWindow` of the first event.
    case immediate
    /// On the hour (UTC).
    case hourly
    /// Every day at `ChannelDigest.dailyHourUTC`:00 UTC.
    case daily
}

/// How `minSeverity` filters events. Only events carrying a finding severity (`critical`,
/// `high`, `medium`, `low`, `unknown`) are compared; events at `info` or `warning` (a clean
/// `scan_complete`, `scan_failed`, `new_image`, `policy_passed`) carry none and are always
/// delivered when subscribed: the events filter is what excludes them.
public enum ChannelSeverity {
    public static let levels = ["critical", "high", "medium", "low", "unknown"]

    /// 4 for critical … 0 for unknown; nil for a severity that is not a finding severity.
    public static func rank(_ severity: String) -> Int? {
        levels.firstIndex(of: severity.lowercased()).map { levels.count - 1 - $0 }
    }

    public static func passes(_ severity: String, minimum: String?) -> Bool {
        guard let minimum, let floor = rank(minimum), let r = rank(severity) else { return true }
        return r >= floor
    }
}

/// How `minPriority` filters events. Only events carrying a finding priority are compared: the
/// CVE watch's events (the finding's priority), `scan_complete`, `critical_cve` and
/// `high_cve` (the best priority among the findings they report). Others carry none and are
/// delivered when subscribed. A channel with both minimums delivers an event only when it
/// meets both.
public enum ChannelPriority {
    public static func passes(_ priority: Priority?, minimum: String?) -> Bool {
        guard let minimum, let floor = Priority(rawValue: minimum), let priority else { return true }
        return priority <= floor
    }
}

/// How an e-mail channel's SMTP connection is secured. There is no plain-text mode: the
/// password and the findings never cross the network unencrypted.
public enum SMTPSecurity: String, Sendable, Codable, CaseIterable {
    /// Plain connection upgraded with STARTTLS before anything else (usually port 587).
    case starttls
    /// TLS from the first byte (usually port 465).
    case tls
}

/// An e-mail channel's settings except the password (sealed, never returned).
public struct EmailSettings: Sendable, Codable, Hashable {
    public var host: String
    public var port: Int
    public var security: SMTPSecurity
    public var username: String?
    public var from: String
    public var to: [String]
    /// A PEM file of CA certificates the server's certificate must chain to (instead of
    /// the system trust store).
    public var caFile: String?

    public init(
        host: String, port: Int, security: SMTPSecurity, username: String?, from: String, to: [String], caFile: String?
    ) {
        self.host = host
        self.port = port
        self.security = security
        self.username = username
        self.from = from
        self.to = to
        self.caFile = caFile
    }

    static func decode(_ text: String?) -> EmailSettings? {
        guard let text else { return nil }
        return try? JSONDecoder().decode(EmailSettings.self, from: Data(text.utf8))
    }

    func encoded() throws -> String {
        String(decoding: try JSONCoding.encoder.encode(self), as: UTF8.self)
    }
}

extension Notifications {
    /// The sealed Slack/Teams webhook URL of a channel (it embeds the token).
    public static func urlOwner(_ channelId: String) -> String { "channel:\(channelId):url" }
    /// The sealed SMTP password of an e-mail channel.
    public static func passwordOwner(_ channelId: String) -> String { "channel:\(channelId):password" }

    /// Every secret owner a channel may have (deleted with it).
    static func secretOwners(_ channelId: String) -> [String] {
        [secretOwner(channelId), urlOwner(channelId), passwordOwner(channelId)]
    }

    /// What is shown of a sealed webhook URL: scheme and host only
    /// (`https://hooks.slack.com/…`).
    static func urlHint(_ url: String) -> String {
        guard let c = URLComponents(string: url), let scheme = c.scheme, let host = c.host else { return "…" }
        let port = c.port.map { ":\($0)" } ?? ""
        return "\(scheme)://\(host.contains(":") ? "[\(host)]" : host)\(port)/…"
    }
}
