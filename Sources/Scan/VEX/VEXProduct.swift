import Foundation

/// A `pkg:oci/NAME@DIGEST?repository_url=HOST/PATH&tag=TAG` product purl, as VEX statements
/// name images. `repository_url` is the registry host (with port) followed by the full
/// repository path; without it only the last path segment (`NAME`) is known.
public struct OCIProduct: Sendable, Equatable {
    public var name: String
    /// `sha256:…`, when the purl has a version.
    public var digest: String?
    /// The registry host (`127.0.0.1:5000`, `docker.io`), from `repository_url`.
    public var host: String?
    /// The repository path inside the registry (`team/app`), from `repository_url`.
    public var repository: String?
    public var tag: String?

    public init(name: String, digest: String? = nil, host: String? = nil, repository: String? = nil, tag: String? = nil) {
        self.name = name
        self.digest = digest
        self.host = host
        self.repository = repository
        self.tag = tag
    }

    /// Reads a `pkg:oci/` purl; nil for any other string.
    public init?(purl: String) {
        guard purl.hasPrefix("pkg:oci/") else { return nil }
        var rest = Substring(purl.dropFirst("pkg:oci/".count))
        if let hash = rest.firstIndex(of: "#") { rest = rest[..<hash] }
        var query: Substring = ""
        if let q = rest.firstIndex(of: "?") {
            query = rest[rest.index(after: q)...]
            rest = rest[..<q]
        }
        var version: String?
        if let at = rest.firstIndex(of: "@") {
            version = String(rest[rest.index(after: at)...]).removingPercentEncoding
            rest = rest[..<at]
        }
        guard let name = String(rest.split(separator: "/").last ?? "").removingPercentEncoding, !name.isEmpty else { return nil }
        self.name = name.lowercased()
        digest = version.flatMap { $0.isEmpty ? nil : $0.lowercased() }
        for pair in query.split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1)
            guard kv.count == 2, let value = String(kv[1]).removingPercentEncoding else { continue }
            switch kv[0] {
            case "repository_url":
                var url = value
                for scheme in ["https://", "http://"] where url.lowercased().hasPrefix(scheme) { url = String(url.dropFirst(scheme.count)) }
                while url.hasSuffix("/") { url.removeLast() }
                let parts = url.split(separator: "/", maxSplits: 1)
                if parts.count == 2 {
                    host = Self.normalizedHost(String(parts[0]))
                    repository = String(parts[1]).lowercased()
                } else if parts.count == 1 {
                    // A bare host: the repository is the purl's name.
                    host = Self.normalizedHost(String(parts[0]))
                    repository = self.name
                }
            case "tag": tag = value
            default: break
            }
        }
    }

    /// The purl a product of this repository and digest is named by in exported documents.
    public static func purl(host: String, repository: String, digest: String?, tag: String? = nil) -> String {
        // As the purl specification's oci examples write it: the digest's colon encoded, the
        // repository_url's slashes and port colon not.
        let name = String(repository.split(separator: "/").last ?? Substring(repository))
        var out = "pkg:oci/" + PackageURL.encode(name.lowercased(), keepColon: false)
        if let digest { out += "@" + PackageURL.encode(digest, keepColon: false) }
        let url = "\(host)/\(repository)".split(separator: "/").map { PackageURL.encode($0, keepColon: true) }.joined(separator: "/")
        out += "?repository_url=" + url
        if let tag { out += "&tag=" + PackageURL.encode(tag, keepColon: false) }
        return out
    }

    /// Docker Hub's aliases compare as `docker.io`; hosts compare case-insensitively.
    public static func normalizedHost(_ host: String) -> String {
        let h = host.lowercased()
        switch h {
        case "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com": return "docker.io"
        default: return h
        }
    }

    /// Whether this product names an image of `repository` on `host` (nil: the host is not known),
    /// at `digest` when the purl has one (nil: any digest of the repository counts).
    public func matches(host: String?, repository: String, digest: String?) -> Bool {
        if let d = self.digest, let digest, d != digest.lowercased() { return false }
        if self.digest != nil && digest == nil { return false }
        let repo = repository.lowercased()
        if let r = self.repository {
            let bare = repo.hasPrefix("library/") ? String(repo.dropFirst("library/".count)) : repo
            let mine = r.hasPrefix("library/") ? String(r.dropFirst("library/".count)) : r
            guard mine == bare else { return false }
            if let h = self.host, let host { return Self.normalizedHost(host) == h }
            return true
        }
        return String(repo.split(separator: "/").last ?? "") == name
    }
}

/// Package-URL comparison for VEX subcomponents: type, namespace and name, ignoring version,
/// qualifiers and case (a subcomponent names a package, whatever version the scan found).
public enum VEXPurl {
    public static func packageKey(_ purl: String) -> String? {
        guard purl.hasPrefix("pkg:") else { return nil }
        var s = Substring(purl.dropFirst(4))
        if let i = s.firstIndex(where: { $0 == "?" || $0 == "#" }) { s = s[..<i] }
        if let at = s.lastIndex(of: "@"), let slash = s.lastIndex(of: "/"), at > slash { s = s[..<at] }
        return (String(s).removingPercentEncoding ?? String(s)).lowercased()
    }

    /// Whether a finding's package (by purl, or by name when it has none) is one of the subcomponents.
    public static func matches(subcomponents: [String], packagePurl: String?, packageName: String) -> Bool {
        if subcomponents.isEmpty { return true }
        let key = packagePurl.flatMap(packageKey)
        for sub in subcomponents {
            if let k = packageKey(sub) {
                if let key, key == k { return true }
                if String(k.split(separator: "/").last ?? "") == packageName.lowercased() { return true }
            } else if sub.lowercased() == packageName.lowercased() {
                return true
            }
        }
        return false
    }
}
