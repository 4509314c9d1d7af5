import Crypto
public import Foundation

// Validated identifiers of the OCI distribution grammar
// (github.com/distribution/reference, the OCI distribution spec's name/tag/digest rules).
// Once one of these values exists it is valid: pass them around, not strings.

/// A content digest `algorithm:hex` (sha256 with 64 or sha512 with 128 lowercase hex digits).
public struct Digest: Sendable, Hashable, Codable, CustomStringConvertible {
    /// Digest algorithms the client can verify.
    public enum Algorithm: String, Sendable, Hashable, CaseIterable {
        case sha256
        case sha512

        var hexLength: Int { self == .sha256 ? 64 : 128 }
    }

    /// The hash algorithm.
    public let algorithm: Algorithm
    /// The lowercase hex encoding of the hash.
    public let hex: String

    /// Parses `sha256:<64 hex>` or `sha512:<128 hex>`; throws `RegistryError.invalidDigest` otherwise.
    public init(_ string: String) throws(RegistryError) {
        guard let colon = string.firstIndex(of: ":") else { throw .invalidDigest(Self.clip(string)) }
        guard let algorithm = Algorithm(rawValue: String(string[..<colon])) else {
            throw .invalidDigest(Self.clip(string))
        }
        let hex = String(string[string.index(after: colon)...])
        guard hex.utf8.count == algorithm.hexLength,
              hex.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) })
        else { throw .invalidDigest(Self.clip(string)) }
        self.algorithm = algorithm
        self.hex = hex
    }

    /// The sha256 digest of `bytes`.
    public static func sha256<D: DataProtocol>(of bytes: D) -> Digest {
        Digest(algorithm: .sha256, hex: SHA256.hash(data: bytes).hexString)
    }

    /// The digest of `bytes` with this digest's algorithm (used to verify fetched content).
    public func recomputed<D: DataProtocol>(over bytes: D) -> Digest {
        switch algorithm {
        case .sha256: Digest(algorithm: .sha256, hex: SHA256.hash(data: bytes).hexString)
        case .sha512: Digest(algorithm: .sha512, hex: SHA512.hash(data: bytes).hexString)
        }
    }

    init(algorithm: Algorithm, hex: String) {
        self.algorithm = algorithm
        self.hex = hex
    }

    public var description: String { "\(algorithm.rawValue):\(hex)" }

    public init(from decoder: any Decoder) throws {
        self = try decodeValidated(decoder) { (s: String) throws(RegistryError) in try Self(s) }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    static func clip(_ s: String) -> String { s.count > 80 ? String(s.prefix(80)) + "…" : s }
}

/// Decodes a string and validates it with `make`, reporting grammar errors as `DecodingError`.
func decodeValidated<T>(_ decoder: any Decoder, _ make: (String) throws(RegistryError) -> T) throws -> T {
    let string = try decoder.singleValueContainer().decode(String.self)
    do { return try make(string) } catch {
        throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.description))
    }
}

extension Sequence<UInt8> {
    /// Lowercase hex, two digits a byte (digests as registries and the API write them).
    package var hexString: String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        for b in self {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// A repository name: lowercase path components joined by `/` (`library/nginx`, `team/app`).
public struct Repository: Sendable, Hashable, Codable, CustomStringConvertible, Comparable {
    /// The repository path, e.g. `library/nginx`.
    public let name: String

    /// Validates `name` against the distribution grammar (components of `[a-z0-9]+` joined by
    /// `.`, `_`, `__` or runs of `-`; at most 255 characters).
    public init(_ name: String) throws(RegistryError) {
        guard !name.isEmpty, name.utf8.count <= 255 else { throw .invalidReference("repository name length must be 1-255: \(Digest.clip(name))") }
        for component in name.split(separator: "/", omittingEmptySubsequences: false) {
            guard Self.isValidComponent(component) else {
                throw .invalidReference("invalid repository name \(Digest.clip(name))")
            }
        }
        self.name = name
    }

    /// path-component := [a-z0-9]+ ((\.|_|__|-+)[a-z0-9]+)*
    static func isValidComponent(_ s: Substring) -> Bool {
        let u = Array(s.utf8)
        guard let first = u.first, let last = u.last, isAlnum(first), isAlnum(last) else { return false }
        var i = 0
        while i < u.count {
            let c = u[i]
            if isAlnum(c) { i += 1; continue }
            // A separator run: ".", "_", "__" or one or more "-", followed by an alphanumeric.
            var j = i
            if c == UInt8(ascii: ".") {
                j += 1
            } else if c == UInt8(ascii: "_") {
                j += 1
                if j < u.count, u[j] == UInt8(ascii: "_") { j += 1 }
            } else if c == UInt8(ascii: "-") {
                while j < u.count, u[j] == UInt8(ascii: "-") { j += 1 }
            } else {
                return false
            }
            guard j < u.count, isAlnum(u[j]) else { return false }
            i = j
        }
        return true
    }

    static func isAlnum(_ c: UInt8) -> Bool { (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x7A) }

    public var description: String { name }
    public static func < (a: Repository, b: Repository) -> Bool { a.name < b.name }

    public init(from decoder: any Decoder) throws {
        self = try decodeValidated(decoder) { (s: String) throws(RegistryError) in try Self(s) }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// A tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
public struct Tag: Sendable, Hashable, Codable, CustomStringConvertible, Comparable {
    /// The tag text.
    public let name: String

    /// Validates `name` against the tag grammar.
    public init(_ name: String) throws(RegistryError) {
        let u = Array(name.utf8)
        func word(_ c: UInt8) -> Bool {
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == UInt8(ascii: "_")
        }
        guard let first = u.first, u.count <= 128, word(first),
              u.allSatisfy({ word($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") })
        else { throw .invalidReference("invalid tag \(Digest.clip(name))") }
        self.name = name
    }

    /// The default tag, `latest`.
    public static let latest = Tag(unchecked: "latest")

    init(unchecked: String) { self.name = unchecked }

    public var description: String { name }
    public static func < (a: Tag, b: Tag) -> Bool { a.name < b.name }

    public init(from decoder: any Decoder) throws {
        self = try decodeValidated(decoder) { (s: String) throws(RegistryError) in try Self(s) }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// A parsed image reference `[registry/]repository[:tag][@digest]`, normalised the way the
/// Docker CLI does (`nginx` → `registry-1.docker.io/library/nginx:latest`).
public struct ImageReference: Sendable, Hashable, CustomStringConvertible {
    /// The registry host (with `:port` when given), e.g. `registry-1.docker.io`, `localhost:5000`.
    public let registry: String
    /// The repository inside the registry.
    public let repository: Repository
    /// The tag; `latest` when neither a tag nor a digest was given, nil for a digest-only reference.
    public let tag: Tag?
    /// The digest, when the reference pins one (it wins over the tag when fetching).
    public let digest: Digest?

    /// The Docker Hub registry host every Hub alias normalises to.
    public static let dockerHubRegistry = "registry-1.docker.io"
    static let dockerHubAliases: Set<String> = ["docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"]

    /// Parses a reference with the distribution grammar; throws `RegistryError.invalidReference`.
    public init(_ string: String) throws(RegistryError) {
        guard !string.isEmpty, string.utf8.count <= 512 else { throw .invalidReference("empty or over-long reference") }
        var rest = Substring(string)
        var digest: Digest?
        if let at = rest.firstIndex(of: "@") {
            digest = try Digest(String(rest[rest.index(after: at)...]))
            rest = rest[..<at]
        }
        // The tag is after the last ':' that follows the last '/' (a ':' before a '/' is a port).
        var tag: Tag?
        let lastSlash = rest.lastIndex(of: "/")
        if let colon = rest.lastIndex(of: ":"), lastSlash.map({ colon > $0 }) ?? true {
            tag = try Tag(String(rest[rest.index(after: colon)...]))
            rest = rest[..<colon]
        }
        var registry: String
        var path: Substring
        if let slash = rest.firstIndex(of: "/"),
           Self.looksLikeHost(rest[..<slash]) {
            registry = String(rest[..<slash])
            path = rest[rest.index(after: slash)...]
            guard Self.isValidHost(registry) else { throw .invalidReference("invalid registry host \(Digest.clip(registry))") }
        } else {
            registry = "docker.io"
            path = rest
        }
        if Self.dockerHubAliases.contains(registry.lowercased()) {
            registry = Self.dockerHubRegistry
            if !path.contains("/") { path = Substring("library/" + String(path)) }
        }
        guard registry.utf8.count + 1 + path.utf8.count <= 255 else { throw .invalidReference("reference name over 255 characters") }
        self.registry = registry
        self.repository = try Repository(String(path))
        self.tag = tag ?? (digest == nil ? .latest : nil)
        self.digest = digest
    }

    /// Builds a reference from parts that are already valid.
    public init(registry: String, repository: Repository, tag: Tag? = nil, digest: Digest? = nil) {
        self.registry = registry
        self.repository = repository
        self.tag = tag ?? (digest == nil ? .latest : nil)
        self.digest = digest
    }

    /// What to ask the registry for: the digest when pinned, else the tag.
    public var manifestReference: ManifestReference { digest.map { .digest($0) } ?? .tag(tag ?? .latest) }

    public var description: String {
        var s = "\(registry)/\(repository.name)"
        if let tag { s += ":\(tag.name)" }
        if let digest { s += "@\(digest)" }
        return s
    }

    /// The first path component is a host when it has a '.' or ':' or is `localhost`
    /// (or has uppercase letters, which repository names never have).
    static func looksLikeHost(_ s: Substring) -> Bool {
        s.contains(".") || s.contains(":") || s == "localhost" || s.contains(where: { $0.isUppercase })
    }

    /// domain := (component(.component)* | '[' ipv6 ']') (':' port)?
    static func isValidHost(_ s: String) -> Bool {
        var host = Substring(s)
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { return false }
            let inner = host[host.index(after: host.startIndex)..<close]
            guard !inner.isEmpty, inner.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) else { return false }
            host = host[host.index(after: close)...]
            if host.isEmpty { return true }
            guard host.first == ":" else { return false }
            return isValidPort(host.dropFirst())
        }
        if let colon = host.firstIndex(of: ":") {
            guard isValidPort(host[host.index(after: colon)...]) else { return false }
            host = host[..<colon]
        }
        guard !host.isEmpty else { return false }
        for label in host.split(separator: ".", omittingEmptySubsequences: false) {
            let u = Array(label.utf8)
            func alnum(_ c: UInt8) -> Bool { (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) }
            guard let f = u.first, let l = u.last, alnum(f), alnum(l), u.count <= 63,
                  u.allSatisfy({ alnum($0) || $0 == UInt8(ascii: "-") }) else { return false }
        }
        return true
    }

    static func isValidPort(_ s: Substring) -> Bool {
        guard !s.isEmpty, s.count <= 5, s.allSatisfy({ $0.isASCII && $0.isNumber }), let n = Int(s) else { return false }
        return n > 0 && n < 65536
    }
}
