import Foundation
import Scan

/// Clips `s` to `limit` characters, ending a clipped text with "…".
func clipped(_ s: String, _ limit: Int) -> String {
    s.count <= limit ? s : String(s.prefix(max(0, limit - 1))) + "…"
}

/// Slack Block Kit: a header, the severity counts and images, up to `maxItems` events as
/// sections with links, "and N more", a context line. Block Kit's limits are kept: header
/// text 150 characters, section text 3,000, 50 blocks per message.
enum SlackRenderer {
    static let headerLimit = 150
    static let sectionLimit = 3000
    static let blockLimit = 50
    static let maxItems = 10

    /// Slack's mrkdwn escaping: `&`, `<` and `>` (so no name can open a link or a mention).
    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;")
    }

    static func text(_ s: String, markdown: Bool = true) -> JSONValue {
        .object(["type": .string(markdown ? "mrkdwn" : "plain_text"), "text": .string(s)])
    }

    static func section(_ s: String) -> JSONValue {
        .object(["type": .string("section"), "text": text(clipped(s, sectionLimit))])
    }

    static func render(_ d: NotificationDigest) -> JSONValue {
        var blocks: [JSONValue] = [
            .object(["type": .string("header"), "text": text(clipped(d.title, headerLimit), markdown: false)]),
            section("*Severity:* \(escape(d.countsLine))" + (d.images.isEmpty ? "" : "\n*Images:* \(escape(d.imagesLine))")),
            .object(["type": .string("divider")]),
        ]
        // Header, summary, divider, items, "and N more", context: within 50 blocks.
        let room = min(maxItems, blockLimit - blocks.count - 2)
        for item in d.items.prefix(room) {
            let label = item.severity.isEmpty ? "" : "*\(escape(item.severity.uppercased()))* "
            let headline = escape(item.headline)
            let linked = item.path == nil ? headline : "<\(d.link(item))|\(headline)>"
            let detail = item.detail.isEmpty ? "" : "\n\(escape(item.detail))"
            blocks.append(section(label + linked + detail))
        }
        if d.items.count > room {
            blocks.append(section("…and \(d.items.count - room) more in <\(d.consoleURL)|the console>"))
        }
        let context = "harborguard · \(escape(d.channelName)) · \(d.total) event\(d.total == 1 ? "" : "s") · "
            + "<\(d.consoleURL)|Open the console>"
        blocks.append(.object(["type": .string("context"), "elements": .array([text(clipped(context, sectionLimit))])]))
        return .object(["text": .string(clipped(d.title, sectionLimit)), "blocks": .array(blocks)])
    }
}

/// Microsoft Teams (Workflows webhook): an Adaptive Card 1.5 in the message envelope.
enum TeamsRenderer {
    static let maxItems = 10

    /// Escapes the characters of the card's markdown subset, so a name is shown as text.
    static func escape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.count)
        for c in s {
            if "\\*_[]()`#<>~".contains(c) { out.append("\\") }
            out.append(c)
        }
        return out
    }

    static func block(_ s: String, weight: String? = nil, size: String? = nil, subtle: Bool = false) -> JSONValue {
        var o: [String: JSONValue] = ["type": .string("TextBlock"), "text": .string(s), "wrap": .bool(true)]
        if let weight { o["weight"] = .string(weight) }
        if let size { o["size"] = .string(size) }
        if subtle { o["isSubtle"] = .bool(true) }
        return .object(o)
    }

    static func render(_ d: NotificationDigest) -> JSONValue {
        var body: [JSONValue] = [
            block(escape(d.title), weight: "Bolder", size: "Medium"),
            .object([
                "type": .string("FactSet"),
                "facts": .array(
                    [.object(["title": .string("Severity"), "value": .string(escape(d.countsLine))])]
                        + (d.images.isEmpty ? [] : [.object(["title": .string("Images"), "value": .string(escape(d.imagesLine))])])),
            ]),
        ]
        for item in d.items.prefix(maxItems) {
            let headline = escape(item.headline)
            let linked = item.path == nil ? headline : "[\(headline)](\(d.link(item)))"
            body.append(block("**\(escape(item.severity.uppercased()))** \(linked)"))
            if !item.detail.isEmpty { body.append(block(escape(item.detail), subtle: true)) }
        }
        if d.items.count > maxItems { body.append(block("…and \(d.items.count - maxItems) more")) }
        body.append(block("harborguard · \(escape(d.channelName))", subtle: true))
        let card: JSONValue = .object([
            "$schema": .string("http://adaptivecards.io/schemas/adaptive-card.json"),
            "type": .string("AdaptiveCard"),
            "version": .string("1.5"),
            "body": .array(body),
            "actions": .array([.object(["type": .string("Action.OpenUrl"), "title": .string("Open the console"), "url": .string(d.consoleURL)])]),
        ])
        return .object([
            "type": .string("message"),
            "attachments": .array([
                .object(["contentType": .string("application/vnd.microsoft.card.adaptive"), "contentUrl": .null, "content": card])
            ]),
        ])
    }
}
