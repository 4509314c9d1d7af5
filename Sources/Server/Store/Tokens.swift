import Crypto
public import Foundation

/// Bearer secrets: a prefix plus 48 lowercase hex characters (24 random bytes), shown
/// once and stored only as SHA-256.
public enum Tokens {
    public static let apiKeyPrefix = "hg_ak_"
    public static let patPrefix = "hg_pat_"
    public static let sessionPrefix = "hg_ses_"
    public static let webhookPrefix = "hg_wh_"

    public static func generate(prefix: String) -> String {
        prefix + randomHexString(24)
    }

    public static func hash(_ token: String) -> Data {
        Data(SHA256.hash(data: Data(token.utf8)))
    }

    /// True when `token` is the prefix followed by exactly 48 lowercase hex characters.
    public static func isWellFormed(_ token: String, prefix: String) -> Bool {
        guard token.hasPrefix(prefix) else { return false }
        let rest = token.utf8.dropFirst(prefix.utf8.count)
        return rest.count == 48 && rest.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }

    /// The part safe to show in listings.
    public static func displayPrefix(_ token: String) -> String {
        String(token.prefix(token.hasPrefix(patPrefix) ? 11 : 10))
    }

    /// Constant-time equality for digests and signatures.
    public static func constantTimeEquals(_ a: Data, _ b: Data) -> Bool {
        guard a.count == b.count else { return false }
        var diff: UInt8 = 0
        for i in 0..<a.count { diff |= a[a.startIndex + i] ^ b[b.startIndex + i] }
        return diff == 0
    }
}
