import Crypto
import Foundation
import _CryptoExtras

/// AWS Signature Version 4 (header signing), as ECR's `GetAuthorizationToken` needs.
enum SigV4 {
    struct Credentials: Sendable {
        var accessKeyId: String
        var secretAccessKey: String
        var sessionToken: String?
    }

    /// Returns `headers` plus `X-Amz-Date`, `X-Amz-Security-Token` (with a session token) and
    /// `Authorization`. Every given header is signed; `Host` must be among them.
    static func sign(method: String, url: String, headers: [(String, String)], payload: [UInt8], credentials: Credentials, region: String, service: String, date: Date) -> [(String, String)] {
        let amzDate = amzDateString(date)
        let day = String(amzDate.prefix(8))
        var all = headers.filter { $0.0.lowercased() != "x-amz-date" }
        all.append(("X-Amz-Date", amzDate))
        if let token = credentials.sessionToken { all.append(("X-Amz-Security-Token", token)) }

        let (canonical, signedHeaders) = canonicalRequest(method: method, url: url, headers: all, payload: payload)
        let scope = "\(day)/\(region)/\(service)/aws4_request"
        let stringToSign = "AWS4-HMAC-SHA256\n\(amzDate)\n\(scope)\n\(SHA256.hash(data: Array(canonical.utf8)).hexString)"
        var key = SymmetricKey(data: Array("AWS4\(credentials.secretAccessKey)".utf8))
        for part in [day, region, service, "aws4_request"] {
            key = SymmetricKey(data: Array(HMAC<SHA256>.authenticationCode(for: Array(part.utf8), using: key)))
        }
        let signature = Array(HMAC<SHA256>.authenticationCode(for: Array(stringToSign.utf8), using: key)).hexString
        all.append(("Authorization", "AWS4-HMAC-SHA256 Credential=\(credentials.accessKeyId)/\(scope), SignedHeaders=\(signedHeaders), Signature=\(signature)"))
        return all
    }

    /// The canonical request and the signed-header list.
    static func canonicalRequest(method: String, url: String, headers: [(String, String)], payload: [UInt8]) -> (String, String) {
        let c = URLComponents(string: url)
        var path = c?.path ?? "/"
        if path.isEmpty { path = "/" }
        let canonicalURI = path.split(separator: "/", omittingEmptySubsequences: false)
            .map { percentEncode(String($0)) }.joined(separator: "/")
        var pairs: [(name: String, value: String)] = []
        for item in c?.queryItems ?? [] {
            pairs.append((percentEncode(item.name), percentEncode(item.value ?? "")))
        }
        pairs.sort { a, b in a.name == b.name ? a.value < b.value : a.name < b.name }
        let query = pairs.map { "\($0.name)=\($0.value)" }.joined(separator: "&")
        var grouped: [String: [String]] = [:]
        for (name, value) in headers {
            let trimmed = value.split(whereSeparator: { $0 == " " || $0 == "\t" }).joined(separator: " ")
            grouped[name.lowercased(), default: []].append(trimmed)
        }
        let names = grouped.keys.sorted()
        let canonicalHeaders = names.map { "\($0):\(grouped[$0]!.joined(separator: ","))\n" }.joined()
        let signed = names.joined(separator: ";")
        let request = [method, canonicalURI, query, canonicalHeaders, signed, SHA256.hash(data: payload).hexString].joined(separator: "\n")
        return (request, signed)
    }

    static func amzDateString(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC") ?? .current
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        return String(format: "%04d%02d%02dT%02d%02d%02dZ", c.year ?? 0, c.month ?? 0, c.day ?? 0, c.hour ?? 0, c.minute ?? 0, c.second ?? 0)
    }
}

/// Compact JWS (RS256) signing, for Google service-account assertions.
enum JWT {
    enum Failure: Error { case encoding }

    /// `base64url(header).base64url(claims).base64url(RS256 signature)`.
    static func signRS256(header: [String: any Sendable], claims: [String: any Sendable], privateKeyPEM: String) throws -> String {
        let key = try _RSA.Signing.PrivateKey(pemRepresentation: privateKeyPEM)
        return try signRS256(header: header, claims: claims, key: key)
    }

    static func signRS256(header: [String: any Sendable], claims: [String: any Sendable], key: _RSA.Signing.PrivateKey) throws -> String {
        let h = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        let c = try JSONSerialization.data(withJSONObject: claims, options: [.sortedKeys])
        let input = base64URL(h) + "." + base64URL(c)
        let signature = try key.signature(for: Data(input.utf8), padding: .insecurePKCS1v1_5)
        return input + "." + base64URL(signature.rawRepresentation)
    }

    static func base64URL(_ data: Data) -> String {
        data.base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func decodeBase64URL(_ s: some StringProtocol) -> Data? {
        var t = s.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while t.count % 4 != 0 { t += "=" }
        return Data(base64Encoded: t)
    }
}
