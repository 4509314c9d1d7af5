public import Foundation

/// The manifest media types the client understands and sends in `Accept`.
public enum MediaType {
    /// OCI image manifest.
    public static let ociManifest = "application/vnd.oci.image.manifest.v1+json"
    /// OCI image index.
    public static let ociIndex = "application/vnd.oci.image.index.v1+json"
    /// Docker image manifest, schema 2.
    public static let dockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
    /// Docker manifest list.
    public static let dockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
    /// Docker schema 1 (refused: unsigned content addressing differs and it is long deprecated).
    public static let dockerSchema1 = "application/vnd.docker.distribution.manifest.v1+json"
    /// Signed Docker schema 1.
    public static let dockerSchema1Signed = "application/vnd.docker.distribution.manifest.v1+prettyjws"

    /// The `Accept` header value sent on every manifest request. Without it the CNCF
    /// registry answers 404 for OCI manifests and down-converts Docker v2 to schema 1.
    public static let manifestAccept = [ociManifest, ociIndex, dockerManifest, dockerManifestList].joined(separator: ", ")
}

/// An OS/architecture pair, normalised (`x86_64`→`amd64`, `aarch64`/`arm64/v8`→`arm64` `v8`).
public struct Platform: Sendable, Hashable, Codable, CustomStringConvertible {
    /// Operating system, e.g. `linux`.
    public var os: String
    /// CPU architecture, e.g. `amd64`, `arm64`.
    public var architecture: String
    /// CPU variant, e.g. `v7`, `v8`; nil when unspecified.
    public var variant: String?
    /// OS version (Windows images).
    public var osVersion: String?

    enum CodingKeys: String, CodingKey {
        case os, architecture, variant
        case osVersion = "os.version"
    }

    /// The default platform, linux/amd64.
    public static let linuxAmd64 = Platform(os: "linux", architecture: "amd64")

    /// Creates a platform and normalises its spelling.
    public init(os: String, architecture: String, variant: String? = nil, osVersion: String? = nil) {
        self.os = os.lowercased()
        self.architecture = architecture.lowercased()
        self.variant = variant.flatMap { $0.isEmpty ? nil : $0.lowercased() }
        self.osVersion = osVersion
        normalise()
    }

    /// Parses `os/arch[/variant]` (e.g. `linux/arm64/v8`, `linux/x86_64`); nil when malformed.
    public init?(parsing s: String) {
        let parts = s.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard (2...3).contains(parts.count), parts.allSatisfy({ !$0.isEmpty }) else { return nil }
        self.init(os: parts[0], architecture: parts[1], variant: parts.count == 3 ? parts[2] : nil)
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            os: try c.decodeIfPresent(String.self, forKey: .os) ?? "",
            architecture: try c.decodeIfPresent(String.self, forKey: .architecture) ?? "",
            variant: try c.decodeIfPresent(String.self, forKey: .variant),
            osVersion: try c.decodeIfPresent(String.self, forKey: .osVersion))
    }

    private mutating func normalise() {
        switch architecture {
        case "x86_64", "x86-64", "x64": architecture = "amd64"
        case "aarch64": architecture = "arm64"
        case "armhf": architecture = "arm"; if variant == nil { variant = "v7" }
        case "armel": architecture = "arm"; if variant == nil { variant = "v6" }
        case "i386", "i686": architecture = "386"
        default: break
        }
        if architecture == "arm64", variant == nil { variant = "v8" }
        if architecture == "arm", variant == nil { variant = "v7" }
        if architecture == "amd64", variant == "v1" { variant = nil }
    }

    /// Whether `other` (an index entry's platform) satisfies this requested platform; a
    /// requested platform without a variant matches any variant.
    public func matches(_ other: Platform) -> Bool {
        guard os == other.os, architecture == other.architecture else { return false }
        guard let variant else { return true }
        return variant == other.variant
    }

    public var description: String { [os, architecture, variant].compactMap { $0 }.joined(separator: "/") }
}

/// A content descriptor: what a manifest says about a blob or child manifest.
public struct Descriptor: Sendable, Hashable, Codable {
    /// The referenced content's media type.
    public var mediaType: String
    /// The referenced content's digest.
    public var digest: Digest
    /// The referenced content's size in bytes.
    public var size: Int64
    /// The platform of an index entry.
    public var platform: Platform?
    /// Free-form annotations.
    public var annotations: [String: String]?
    /// Alternate download URLs (foreign layers); never followed automatically.
    public var urls: [String]?

    enum CodingKeys: String, CodingKey {
        case mediaType, digest, size, platform, annotations, urls
    }

    /// Decodes a descriptor; a negative size is refused here, with the field's path, rather
    /// than later as a size mismatch.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        mediaType = try c.decode(String.self, forKey: .mediaType)
        digest = try c.decode(Digest.self, forKey: .digest)
        size = try c.decode(Int64.self, forKey: .size)
        guard size >= 0 else {
            throw DecodingError.dataCorruptedError(forKey: .size, in: c, debugDescription: "negative size \(size)")
        }
        platform = try c.decodeIfPresent(Platform.self, forKey: .platform)
        annotations = try c.decodeIfPresent([String: String].self, forKey: .annotations)
        urls = try c.decodeIfPresent([String].self, forKey: .urls)
    }

    /// Creates a descriptor.
    public init(mediaType: String, digest: Digest, size: Int64, platform: Platform? = nil, annotations: [String: String]? = nil) {
        self.mediaType = mediaType
        self.digest = digest
        self.size = size
        self.platform = platform
        self.annotations = annotations
        self.urls = nil
    }
}

/// An image manifest (OCI or Docker schema 2): config and layers.
public struct ImageManifest: Sendable, Hashable, Codable {
    /// Always 2.
    public var schemaVersion: Int
    /// The manifest's own media type when it declares one.
    public var mediaType: String?
    /// The image configuration blob.
    public var config: Descriptor
    /// The layers, base first.
    public var layers: [Descriptor]
    /// Free-form annotations.
    public var annotations: [String: String]?

    /// A schema 2 manifest (an OCI layout writes one re-encoded).
    public init(mediaType: String?, config: Descriptor, layers: [Descriptor], annotations: [String: String]? = nil) {
        (schemaVersion, self.mediaType, self.config, self.layers, self.annotations) = (2, mediaType, config, layers, annotations)
    }
}

/// An image index (OCI) or manifest list (Docker): one manifest per platform.
public struct ImageIndex: Sendable, Hashable, Codable {
    /// Always 2.
    public var schemaVersion: Int
    /// The index's own media type when it declares one.
    public var mediaType: String?
    /// The child manifests.
    public var manifests: [Descriptor]
    /// Free-form annotations.
    public var annotations: [String: String]?

    /// A schema 2 index of `manifests` (an OCI layout's `index.json`).
    public init(mediaType: String?, manifests: [Descriptor]) {
        (schemaVersion, self.mediaType, self.manifests, annotations) = (2, mediaType, manifests, nil)
    }

    /// The entry for `platform` (default linux/amd64); attestation entries (`unknown/unknown`) never match.
    public func manifest(for platform: Platform = .linuxAmd64) -> Descriptor? {
        let candidates = manifests.filter { $0.platform.map(platform.matches) ?? false }
        // Prefer an exact variant match, then the first listed.
        return candidates.first { $0.platform?.variant == platform.variant } ?? candidates.first
    }

    /// The platforms listed in the index (attestations excluded).
    public var platforms: [Platform] {
        manifests.compactMap(\.platform).filter { $0.os != "unknown" && !$0.os.isEmpty }
    }
}

/// A manifest or an index, decoded from bytes whose media type was checked.
public enum Manifest: Sendable, Hashable {
    /// A single-platform image manifest.
    case image(ImageManifest)
    /// A multi-platform index / manifest list.
    case index(ImageIndex)

    /// Decodes `bytes` using the response's `Content-Type` (or the body's `mediaType` when the
    /// header is missing or generic); schema 1 and unknown types throw `unsupportedMediaType`.
    public static func decode(_ bytes: Data, contentType: String?) throws(RegistryError) -> (Manifest, mediaType: String) {
        struct Probe: Decodable {
            var schemaVersion: Int?
            var mediaType: String?
            var manifests: [AnyCodable]?
            var config: AnyCodable?
        }
        struct AnyCodable: Decodable { init(from decoder: any Decoder) throws {} }
        let probe: Probe
        do { probe = try JSONDecoder().decode(Probe.self, from: bytes) } catch {
            // Valid JSON of another shape (an array, a string) is named as such.
            let isJSON = (try? JSONSerialization.jsonObject(with: bytes, options: [.fragmentsAllowed])) != nil
            throw .invalidResponse(isJSON ? "manifest is not a JSON object" : "manifest is not valid JSON")
        }
        if probe.schemaVersion == 1 { throw .unsupportedMediaType("Docker schema 1 manifests are not supported") }
        var type = contentType.map { String($0.split(separator: ";").first ?? "").trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        if type.isEmpty || type == "application/json" || type == "application/octet-stream" || type == "text/plain" {
            if let declared = probe.mediaType {
                type = declared
            } else if probe.manifests != nil {
                type = MediaType.ociIndex
            } else if probe.config != nil {
                type = MediaType.ociManifest
            }
        }
        do {
            switch type {
            case MediaType.ociManifest, MediaType.dockerManifest:
                return (.image(try JSONDecoder().decode(ImageManifest.self, from: bytes)), type)
            case MediaType.ociIndex, MediaType.dockerManifestList:
                return (.index(try JSONDecoder().decode(ImageIndex.self, from: bytes)), type)
            case MediaType.dockerSchema1, MediaType.dockerSchema1Signed:
                throw RegistryError.unsupportedMediaType("Docker schema 1 manifests are not supported")
            default:
                throw RegistryError.unsupportedMediaType(type.isEmpty ? "unknown manifest type" : String(type.prefix(120)))
            }
        } catch let error as RegistryError {
            throw error
        } catch {
            throw .invalidResponse("manifest does not fit its media type \(type): \(Self.decodingSummary(error))")
        }
    }

    static func decodingSummary(_ error: any Error) -> String {
        guard let e = error as? DecodingError else { return "malformed" }
        switch e {
        case let .keyNotFound(key, ctx): return "missing field \(fieldPath(ctx.codingPath + [key]))"
        case let .typeMismatch(_, ctx), let .valueNotFound(_, ctx), let .dataCorrupted(ctx):
            let path = fieldPath(ctx.codingPath)
            return path.isEmpty ? "malformed" : "bad field \(path)"
        @unknown default: return "malformed"
        }
    }

    /// `layers[0].digest`, not Foundation's `layers.Index 0.digest`.
    static func fieldPath(_ path: [any CodingKey]) -> String {
        var out = ""
        for key in path {
            if let i = key.intValue, key.stringValue.hasPrefix("Index ") {
                out += "[\(i)]"
            } else {
                out += out.isEmpty ? key.stringValue : "." + key.stringValue
            }
        }
        return out
    }
}

/// A manifest as fetched: decoded form, media type, digest and the exact bytes.
public struct FetchedManifest: Sendable {
    /// The decoded manifest or index.
    public let manifest: Manifest
    /// The media type it was decoded as.
    public let mediaType: String
    /// The digest of `bytes` (verified when fetched by digest).
    public let digest: Digest
    /// The raw bytes (digests are over these exact bytes, never a re-encoding).
    public let bytes: Data
}
