import Foundation
import Registry

/// E-mail: a `multipart/alternative` message (text/plain and text/html, both UTF-8 in
/// base64) with `Date`, `Message-ID`, `From`, `To` and a `Subject` RFC 2047-encoded when it is
/// not ASCII. Every header value has its control characters (CR and LF included) removed
/// first, so no registry, image or package name can add a header; the body parts are base64,
/// so nothing in them can end the message or the part either. Lines end in CRLF.
enum EmailRenderer {
    static let maxItems = 25
    static let subjectLimit = 200

    struct Envelope: Sendable {
        var from: String
        var to: [String]
        var date: Date
        var messageId: String
        var boundary: String
    }

    static func envelope(from: String, to: [String], date: Date) -> Envelope {
        let domain = from.split(separator: "@").last.map(String.init).map(headerSafe) ?? "harborguard"
        return Envelope(
            from: from, to: to, date: date, messageId: "<\(randomHex(16)).\(Int(date.timeIntervalSince1970))@\(domain)>",
            boundary: "hg-\(randomHex(12))")
    }

    static func randomHex(_ n: Int) -> String {
        var g = SystemRandomNumberGenerator()
        return (0..<n).map { _ in UInt8.random(in: 0...255, using: &g) }.hexString
    }

    /// Removes C0 controls (CR, LF, tab, NUL …), DEL and C1 controls, and the Unicode line
    /// and paragraph separators.
    static func headerSafe(_ s: String) -> String {
        String(String.UnicodeScalarView(s.unicodeScalars.filter { u in
            !(u.value < 0x20 || (0x7F...0x9F).contains(u.value) || u.value == 0x2028 || u.value == 0x2029)
        }))
    }

    /// An unstructured header value: ASCII as is, otherwise RFC 2047 `=?UTF-8?B?…?=` words of
    /// at most 75 characters (never splitting a character), folded with CRLF and a space.
    static func encodeHeader(_ value: String) -> String {
        let safe = headerSafe(value)
        if safe.unicodeScalars.allSatisfy({ $0.isASCII }) { return safe }
        var words: [String] = []
        var chunk: [UInt8] = []
        // 45 bytes of UTF-8 → 60 base64 characters + 12 of framing = 72 ≤ 75.
        for ch in safe {
            let bytes = Array(String(ch).utf8)
            if chunk.count + bytes.count > 45, !chunk.isEmpty {
                words.append("=?UTF-8?B?\(Data(chunk).base64EncodedString())?=")
                chunk = []
            }
            chunk += bytes
        }
        if !chunk.isEmpty { words.append("=?UTF-8?B?\(Data(chunk).base64EncodedString())?=") }
        return words.joined(separator: "\r\n ")
    }

    /// RFC 5322 date: `Fri, 04 Dec 2026 22:30:00 +0000`.
    static func rfc5322(_ date: Date) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "EEE, dd MMM yyyy HH:mm:ss '+0000'"
        return f.string(from: date)
    }

    static func htmlEscape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.count)
        for c in s {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(c)
            }
        }
        return out
    }

    static func text(_ d: NotificationDigest) -> String {
        var lines = [d.title, "", "Severity: \(d.countsLine)"]
        if !d.images.isEmpty { lines.append("Images: \(d.imagesLine)") }
        lines.append("")
        for item in d.items.prefix(maxItems) {
            lines.append("[\(item.severity.uppercased())] \(item.headline)")
            if !item.detail.isEmpty { lines.append("    \(item.detail)") }
            if item.path != nil { lines.append("    \(d.link(item))") }
        }
        if d.items.count > maxItems { lines.append("…and \(d.items.count - maxItems) more") }
        lines += ["", "Open the console: \(d.consoleURL)", "-- ", "harborguard · channel \(d.channelName)"]
        return lines.joined(separator: "\r\n") + "\r\n"
    }

    static func html(_ d: NotificationDigest) -> String {
        var h = "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>\(htmlEscape(d.title))</title></head><body>\r\n"
        h += "<h2>\(htmlEscape(d.title))</h2>\r\n<p><b>Severity:</b> \(htmlEscape(d.countsLine))"
        if !d.images.isEmpty { h += "<br><b>Images:</b> \(htmlEscape(d.imagesLine))" }
        h += "</p>\r\n<ul>\r\n"
        for item in d.items.prefix(maxItems) {
            let headline = htmlEscape(item.headline)
            let linked = item.path == nil ? headline : "<a href=\"\(htmlEscape(d.link(item)))\">\(headline)</a>"
            h += "<li><b>\(htmlEscape(item.severity.uppercased()))</b> \(linked)"
            if !item.detail.isEmpty { h += "<br><small>\(htmlEscape(item.detail))</small>" }
            h += "</li>\r\n"
        }
        h += "</ul>\r\n"
        if d.items.count > maxItems { h += "<p>…and \(d.items.count - maxItems) more</p>\r\n" }
        h += "<p><a href=\"\(htmlEscape(d.consoleURL))\">Open the console</a></p>\r\n"
        h += "<p><small>harborguard · channel \(htmlEscape(d.channelName))</small></p>\r\n</body></html>\r\n"
        return h
    }

    /// base64 in lines of 76 characters, CRLF-separated.
    static func base64Lines(_ s: String) -> String {
        let b = Data(s.utf8).base64EncodedString()
        var out: [Substring] = []
        var i = b.startIndex
        while i < b.endIndex {
            let j = b.index(i, offsetBy: 76, limitedBy: b.endIndex) ?? b.endIndex
            out.append(b[i..<j])
            i = j
        }
        return out.joined(separator: "\r\n")
    }

    /// The whole message (headers and body), CRLF line endings, ready for SMTP `DATA` (which
    /// adds the dot-stuffing: `SMTPClient.dataPayload`).
    static func render(_ d: NotificationDigest, _ e: Envelope) -> Data {
        let headers = [
            "From: \(headerSafe(e.from))",
            "To: \(e.to.map(headerSafe).joined(separator: ", "))",
            "Subject: \(encodeHeader(clipped(d.title, subjectLimit)))",
            "Date: \(rfc5322(e.date))",
            "Message-ID: \(headerSafe(e.messageId))",
            "MIME-Version: 1.0",
            "Content-Type: multipart/alternative; boundary=\"\(e.boundary)\"",
            "X-Mailer: harborguard",
        ]
        var m = headers.joined(separator: "\r\n") + "\r\n\r\n"
        m += "This is a multi-part message in MIME format.\r\n"
        for (type, content) in [("text/plain", text(d)), ("text/html", html(d))] {
            m += "--\(e.boundary)\r\nContent-Type: \(type); charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            m += base64Lines(content) + "\r\n"
        }
        m += "--\(e.boundary)--\r\n"
        return Data(m.utf8)
    }
}
