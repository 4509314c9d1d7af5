public import Foundation
import Crypto
import Registry

/// The SBOM document formats harborguard writes.
public enum SBOMFormat: String, Sendable, CaseIterable {
    /// CycloneDX 1.6 JSON.
    case cyclonedx
    /// SPDX 2.3 JSON.
    case spdx
}

/// The image an SBOM describes.
public struct SBOMSubject: Sendable, Hashable {
    /// The reference as scanned, e.g. `127.0.0.1:5000/team/app:1.0`.
    public var reference: String
    /// The image (manifest) digest, `sha256:…`.
    public var digest: String
    /// The platform, e.g. `linux/amd64`.
    public var platform: String?

    public init(reference: String, digest: String, platform: String?) {
        self.reference = reference
        self.digest = digest
        self.platform = platform
    }
}

/// Writes the inventory of one image as an SBOM document.
///
/// Output is deterministic: the same subject, inventory, time and tool version give the same
/// bytes (packages are sorted, keys are sorted). The CycloneDX serial number and the SPDX
/// document namespace are name-based UUIDs (RFC 4122 version 5) of the subject and a hash of
/// the inventory, so two exports of the same scan carry the same identity.
public enum SBOMWriter {
    public static func write(
        _ format: SBOMFormat, subject: SBOMSubject, inventory: ImageInventory, createdAt: Date, toolVersion: String
    ) throws -> Data {
        let input = try SBOMInput(subject: subject, inventory: inventory, createdAt: createdAt, toolVersion: toolVersion)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        switch format {
        case .cyclonedx: return try encoder.encode(CycloneDX.document(input))
        case .spdx: return try encoder.encode(SPDX.document(input))
        }
    }
}

/// What both writers start from: the packages in a stable order, the image's purl and names,
/// the document identity.
struct SBOMInput {
    let subject: SBOMSubject
    let os: OSInfo?
    let packages: [InstalledPackage]
    let createdAt: Date
    let toolVersion: String
    /// `registry/repository` of the reference (Docker Hub as `docker.io/…`), or the reference itself
    /// when it does not parse.
    let imageName: String
    /// `pkg:oci/<name>@<digest>?arch=…&repository_url=…&tag=…` per the purl spec's oci type.
    let imagePurl: String
    /// A version-5 UUID, lowercase, of the subject and the inventory.
    let uuid: String

    init(subject: SBOMSubject, inventory: ImageInventory, createdAt: Date, toolVersion: String) throws {
        self.subject = subject
        self.os = inventory.os
        let packages = inventory.packages.sorted(by: Self.ordered)
        self.packages = packages
        self.createdAt = createdAt
        self.toolVersion = toolVersion

        let reference = try? ImageReference(subject.reference)
        let repositoryURL = reference.map {
            ($0.registry == ImageReference.dockerHubRegistry ? "docker.io" : $0.registry) + "/" + $0.repository.name
        }
        self.imageName = repositoryURL ?? subject.reference
        // The oci purl's name is the last path segment of the repository, lowercase.
        let lastSegment = (reference?.repository.name ?? subject.reference).split(separator: "/").last.map(String.init) ?? "image"
        var purl = "pkg:oci/" + PackageURL.encode(lastSegment.lowercased(), keepColon: false)
        if !subject.digest.isEmpty { purl += "@" + PackageURL.encode(subject.digest, keepColon: false) }
        var qualifiers: [(String, String)] = []
        if let platform = subject.platform {
            let parts = platform.split(separator: "/")
            if parts.count >= 2 { qualifiers.append(("arch", String(parts[1]))) }
        }
        if let repositoryURL { qualifiers.append(("repository_url", repositoryURL)) }
        if let tag = reference?.tag { qualifiers.append(("tag", tag.name)) }
        if !qualifiers.isEmpty {
            purl += "?" + qualifiers.sorted { $0.0 < $1.0 }
                .map { $0.0 + "=" + PackageURL.encode($0.1, keepColon: true) }.joined(separator: "&")
        }
        self.imagePurl = purl

        // Identity: subject plus the canonical (sorted-keys) JSON of the sorted inventory.
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let canonical = try encoder.encode(ImageInventory(os: inventory.os, packages: packages))
        let inventoryHash = SHA256.hash(data: canonical).hexString
        self.uuid = Self.uuidV5(name: ["harborguard-sbom", subject.reference, subject.digest, subject.platform ?? "", inventoryHash]
            .joined(separator: "\n"))
    }

    var timestamp: String {
        createdAt.formatted(Date.ISO8601FormatStyle(timeZone: TimeZone(secondsFromGMT: 0) ?? .current))
    }

    /// Total order over packages so documents do not depend on the order detectors ran in.
    static func ordered(_ a: InstalledPackage, _ b: InstalledPackage) -> Bool {
        let ka = [a.type.rawValue, a.name, a.version, a.purl, a.path ?? "", a.layer ?? "", a.sourceName ?? "", a.sourceVersion ?? ""]
        let kb = [b.type.rawValue, b.name, b.version, b.purl, b.path ?? "", b.layer ?? "", b.sourceName ?? "", b.sourceVersion ?? ""]
        return ka.lexicographicallyPrecedes(kb)
    }

    /// The namespace of harborguard's name-based UUIDs: dee322f5-dfa0-5789-90bc-29178f93ceb2, the
    /// v5 UUID of `https://github.com/harborguard/harborguard/sbom` in RFC 4122's URL namespace.
    static let namespace: [UInt8] = [
        0xde, 0xe3, 0x22, 0xf5, 0xdf, 0xa0, 0x57, 0x89, 0x90, 0xbc, 0x29, 0x17, 0x8f, 0x93, 0xce, 0xb2,
    ]

    /// RFC 4122 §4.3: SHA-1 of namespace + name, version 5, variant 10.
    static func uuidV5(name: String) -> String {
        var sha = Insecure.SHA1()
        sha.update(data: namespace)
        sha.update(data: Data(name.utf8))
        var bytes = Array(sha.finalize().prefix(16))
        bytes[6] = (bytes[6] & 0x0F) | 0x50
        bytes[8] = (bytes[8] & 0x3F) | 0x80
        let hex = bytes.hexString
        let h = Array(hex)
        return [h[0..<8], h[8..<12], h[12..<16], h[16..<20], h[20..<32]].map { String($0) }.joined(separator: "-")
    }
}

/// Hands out identifiers that are unique within one document: the first request for a base
/// gets it as is, later ones get `-2`, `-3`, … (skipping any already taken).
struct UniqueIDs {
    private var taken = Set<String>()

    mutating func claim(_ base: String, separator: String = "-") -> String {
        if taken.insert(base).inserted { return base }
        var n = 2
        while !taken.insert("\(base)\(separator)\(n)").inserted { n += 1 }
        return "\(base)\(separator)\(n)"
    }
}
