import Foundation
import Scan
@testable import Server
import Store
import Testing

/// The channel renderers are pure functions of a digest: Block Kit's limits, the Adaptive
/// Card envelope, the e-mail's headers and parts, SMTP dot-stuffing, Retry-After, due times.
@Suite struct ChannelRendererTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)  // 2027-01-15T08:00:00Z

    static func pending(_ n: Int, name: (Int) -> String = { "pkg\($0)" }) -> [NotificationPendingRecord] {
        (0..<n).map { i in
            let severity = ["critical", "high", "medium", "low", "unknown"][i % 5]
            var fields = [
                "event": "finding_new", "severity": severity, "title": "New finding", "imageId": "img_\(i % 7)",
                "reference": "reg.example/apps/svc\(i % 7):1.0", "digest": "sha256:00", "vulnerabilityId": "CVE-2099-\(1000 + i)",
                "package": name(i), "version": "1.0",
            ]
            if i % 3 == 0 { fields["fixVersion"] = "1.1" }
            if i == 45 { fields["kev"] = "true" }
            return NotificationPendingRecord(
                id: "npe_\(i)", channelId: "chn", event: "finding_new", severity: severity,
                body: try! JSONCoding.encoder.encode(fields), createdAt: now)
        }
    }

    static func digest(_ n: Int, name: (Int) -> String = { "pkg\($0)" }) -> NotificationDigest {
        ChannelDigest.digest(pending(n, name: name), channelName: "ops", baseURL: "https://hg.example", now: now)
    }

    static func object(_ v: JSONValue) -> [String: JSONValue] {
        if case .object(let o) = v { return o }
        return [:]
    }

    static func string(_ v: JSONValue?) -> String {
        if case .string(let s)? = v { return s }
        return ""
    }

    static func array(_ v: JSONValue?) -> [JSONValue] {
        if case .array(let a)? = v { return a }
        return []
    }

    @Test func digestsCountAndOrderMostSevereFirst() {
        let d = Self.digest(50)
        #expect(d.total == 50 && d.counts["critical"] == 10 && d.counts["unknown"] == 10)
        #expect(d.images.count == 7)
        // The KEV critical first among the criticals.
        #expect(d.items.first?.fields["vulnerabilityId"] == "CVE-2099-1045" && d.items.first?.severity == "critical")
        #expect(d.items.last?.severity == "unknown")
        #expect(d.title == "harborguard: 50 finding changes in 7 images")
    }

    @Test func slackKeepsBlockKitLimitsAndEscapes() throws {
        let long = String(repeating: "é<&>", count: 2000)
        let d = Self.digest(300, name: { "\($0)-\(long)" })
        let message = Self.object(SlackRenderer.render(d))
        let blocks = Self.array(message["blocks"])
        #expect(blocks.count <= 50)
        let header = Self.object(blocks[0])
        #expect(Self.string(header["type"]) == "header")
        #expect(Self.string(Self.object(header["text"]!)["text"]).count <= 150)
        var sections: [String] = []
        for b in blocks where Self.string(Self.object(b)["type"]) == "section" {
            let text = Self.string(Self.object(Self.object(b)["text"]!)["text"])
            #expect(text.count <= 3000)
            sections.append(text)
        }
        #expect(sections.count == 1 + 10 + 1)  // summary, ten findings, "and N more"
        #expect(sections.last!.contains("and 290 more"))
        // No raw angle bracket from a package name (only the renderer's own links).
        for s in sections.dropFirst().dropLast() {
            let withoutLinks = s.replacingOccurrences(of: #"<https://[^|>]*\|"#, with: "", options: .regularExpression)
            #expect(!withoutLinks.contains("<"))
            #expect(s.contains("&lt;&amp;&gt;"))
        }
        #expect(Self.string(Self.object(blocks.last!)["type"]) == "context")
    }

    @Test func teamsIsAnAdaptiveCardInTheMessageEnvelope() throws {
        let message = Self.object(TeamsRenderer.render(Self.digest(30, name: { "[x](https://evil.example) \($0)" })))
        #expect(Self.string(message["type"]) == "message")
        let attachment = Self.object(Self.array(message["attachments"])[0])
        #expect(Self.string(attachment["contentType"]) == "application/vnd.microsoft.card.adaptive")
        let card = Self.object(attachment["content"]!)
        #expect(Self.string(card["type"]) == "AdaptiveCard" && Self.string(card["version"]) == "1.5")
        let body = Self.array(card["body"])
        #expect(!body.isEmpty)
        let text = String(decoding: try JSONCoding.encoder.encode(card["body"]!), as: UTF8.self)
        #expect(text.contains("and 20 more"))
        #expect(text.contains(#"\\[x\\]\\(https://evil.example\\)"#))
    }

    @Test func emailHeadersCannotBeInjectedAndPartsAreBase64() throws {
        var d = Self.digest(3, name: { "p\($0)<b>\r\nBcc: evil@attacker.example" })
        // A single event's title is the subject: make it hostile and non-ASCII.
        d.items = [d.items[0]]
        d.total = 1
        d.items[0].fields["title"] = "Ünïcode image\r\nBcc: evil@attacker.example\u{2028}X-Evil: 1"
        let e = EmailRenderer.envelope(from: "hg@example.com", to: ["a@example.com", "b@example.com"], date: Self.now)
        let raw = String(decoding: EmailRenderer.render(d, e), as: UTF8.self)
        let (head, body) = {
            let r = raw.range(of: "\r\n\r\n")!
            return (String(raw[..<r.lowerBound]), String(raw[r.upperBound...]))
        }()
        // Unfolded header lines: only the renderer's own names.
        let unfolded = head.replacingOccurrences(of: "\r\n ", with: " ")
        let names = unfolded.components(separatedBy: "\r\n").map { String($0.prefix(while: { $0 != ":" })) }
        #expect(names == ["From", "To", "Subject", "Date", "Message-ID", "MIME-Version", "Content-Type", "X-Mailer"])
        #expect(unfolded.contains("Subject: =?UTF-8?B?"))
        #expect(unfolded.contains("Date: Fri, 15 Jan 2027 08:00:00 +0000"))
        #expect(unfolded.contains("Message-ID: <") && unfolded.contains("@example.com>"))
        // Every line ends in CRLF and no header line is longer than 998.
        #expect(!raw.replacingOccurrences(of: "\r\n", with: "").contains("\n"))
        #expect(raw.components(separatedBy: "\r\n").allSatisfy { $0.utf8.count <= 998 })
        // The subject decodes to the title without its line breaks.
        let words = unfolded.components(separatedBy: "\r\n").first { $0.hasPrefix("Subject: ") }!.dropFirst(9)
        let decoded = words.split(separator: " ").map { w -> String in
            let b64 = w.dropFirst("=?UTF-8?B?".count).dropLast(2)
            return String(decoding: Data(base64Encoded: String(b64))!, as: UTF8.self)
        }.joined()
        #expect(decoded == "Ünïcode imageBcc: evil@attacker.exampleX-Evil: 1")
        // Two base64 parts; the HTML one escapes the package name.
        #expect(body.contains("Content-Type: text/plain; charset=utf-8") && body.contains("Content-Type: text/html; charset=utf-8"))
        #expect(body.hasSuffix("--\(e.boundary)--\r\n"))
        #expect(EmailRenderer.html(d).contains("p0&lt;b&gt;"))
        #expect(!EmailRenderer.html(d).contains("p0<b>"))
    }

    @Test func encodedWordsNeverSplitACharacter() {
        let s = String(repeating: "é€😀", count: 40)
        let encoded = EmailRenderer.encodeHeader(s)
        let words = encoded.components(separatedBy: "\r\n ")
        #expect(words.allSatisfy { $0.count <= 75 })
        let decoded = words.map { w in
            String(decoding: Data(base64Encoded: String(w.dropFirst(10).dropLast(2)))!, as: UTF8.self)
        }
        #expect(decoded.joined() == s && decoded.allSatisfy { !$0.contains("\u{FFFD}") })
        #expect(EmailRenderer.encodeHeader("plain ascii\r\nBcc: x") == "plain asciiBcc: x")
    }

    @Test func dataIsDotStuffedWithCRLFAndTerminated() {
        let out = SMTPClient.dataPayload(Data("a\n.b\r\n..c\rd".utf8))
        #expect(String(decoding: out, as: UTF8.self) == "a\r\n..b\r\n...c\r\nd\r\n.\r\n")
        #expect(String(decoding: SMTPClient.dataPayload(Data(".\r\n".utf8)), as: UTF8.self) == "..\r\n.\r\n")
    }

    @Test func retryAfterIsSecondsOrAnHTTPDateBounded() {
        let now = Self.now
        #expect(Notifications.retryAfter("5", now: now) == 5)
        #expect(Notifications.retryAfter("0", now: now) == 1)
        #expect(Notifications.retryAfter("99999999", now: now) == 3600)
        #expect(Notifications.retryAfter("Fri, 15 Jan 2027 08:00:30 GMT", now: now) == 30)
        #expect(Notifications.retryAfter("Fri, 15 Jan 2027 07:00:00 GMT", now: now) == 1)
        #expect(Notifications.retryAfter("soon", now: now) == nil)
        #expect(Notifications.retryAfter("-3", now: now) == nil)
    }

    @Test func dueTimes() {
        let t = Date(timeIntervalSince1970: 1_800_000_000 + 3 * 3600 + 125)  // 11:02:05
        #expect(ChannelDigest.due(.immediate, now: t) == t.addingTimeInterval(2))
        #expect(ChannelDigest.due(.hourly, now: t) == Date(timeIntervalSince1970: 1_800_000_000 + 4 * 3600))
        #expect(ChannelDigest.due(.daily, now: t) == Date(timeIntervalSince1970: 1_800_000_000 + 86_400))
        let early = Date(timeIntervalSince1970: 1_800_000_000 - 3600)  // 07:00
        #expect(ChannelDigest.due(.daily, now: early) == Self.now)
    }

    @Test func minimumSeverityFiltersFindingSeveritiesOnly() {
        #expect(ChannelSeverity.passes("critical", minimum: "high"))
        #expect(!ChannelSeverity.passes("medium", minimum: "high"))
        #expect(ChannelSeverity.passes("info", minimum: "critical"))
        #expect(ChannelSeverity.passes("warning", minimum: "critical"))
        #expect(ChannelSeverity.passes("low", minimum: nil))
        #expect(ChannelSeverity.passes("unknown", minimum: "unknown") && !ChannelSeverity.passes("unknown", minimum: "low"))
    }

    @Test func minimumPriorityFiltersEventsThatCarryOne() {
        #expect(ChannelPriority.passes(.p1, minimum: "P2"))
        #expect(ChannelPriority.passes(.p2, minimum: "P2"))
        #expect(!ChannelPriority.passes(.p3, minimum: "P2"))
        #expect(!ChannelPriority.passes(.p5, minimum: "P1"))
        #expect(ChannelPriority.passes(.p5, minimum: "P5"))
        #expect(ChannelPriority.passes(nil, minimum: "P1"))
        #expect(ChannelPriority.passes(.p5, minimum: nil))
    }

    @Test func addressesAndHosts() {
        #expect(ChannelInput.isAddress("sec@example.com") && ChannelInput.isAddress("a.b+c@localhost"))
        for bad in ["", "a", "a@", "@b", "a b@c.d", "a@b@c", "<a@b.c>", "a@b.c\r\nBcc: x", "a@127.0.0.1", "é@b.c", "a,b@c.d"] {
            #expect(!ChannelInput.isAddress(bad), "\(bad)")
        }
        #expect(ChannelInput.isHostName("smtp.example.com") && ChannelInput.isHostName("localhost"))
        for bad in ["127.0.0.1", "::1", "a..b", "-a.b", "a_b.c", "smtp.example.123", "exämple.com"] {
            #expect(!ChannelInput.isHostName(bad), "\(bad)")
        }
    }
}
