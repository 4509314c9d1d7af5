import Foundation

/// The kind of package a detector found; raw values are purl types where one exists.
public enum PackageType: String, Sendable, Codable, Hashable, CaseIterable {
    case deb, apk, rpm
    case python = "pypi"
    case npm
    case golang
    case maven
    case gem
    case cargo
    /// A runtime or server identified from its own files (a version string in a binary, a
    /// marker file such as OpenJDK's `release`), not from a package manager's records.
    case binary
}

/// The operating system of an image, from os-release.
public struct OSInfo: Sendable, Codable, Hashable {
    /// os-release `ID` (debian, ubuntu, alpine, rhel, …).
    public var family: String
    /// os-release `VERSION_ID` (e.g. "12", "3.19.1").
    public var version: String?
    /// os-release `VERSION_CODENAME` (e.g. "bookworm").
    public var codename: String?
    public var prettyName: String?

    public init(family: String, version: String?, codename: String? = nil, prettyName: String? = nil) {
        self.family = family
        self.version = version
        self.codename = codename
        self.prettyName = prettyName
    }
}

/// One package installed in an image.
public struct InstalledPackage: Sendable, Codable, Hashable {
    public var name: String
    public var version: String
    public var type: PackageType
    public var purl: String
    /// Digest of the layer that introduced it.
    public var layer: String?
    /// Where in the image it was found (database or manifest path).
    public var path: String?
    /// Source package (dpkg `Source:`, rpm source rpm, apk origin) where it differs.
    public var sourceName: String?
    public var sourceVersion: String?
    /// CPE 2.3 names (`cpe:2.3:a:python:python:3.8.18:*:*:*:*:*:*:*`) for matching against NVD's
    /// CPE configurations; nil when none is known.
    public var cpes: [String]?
    /// What named the package, where a detector has several kinds of evidence (e.g. Maven:
    /// `pom.properties`, `pom.xml`, `MANIFEST.MF`, `filename`; runtimes: the file and how its
    /// version was read). nil where there is only one kind.
    public var evidence: String?

    public init(
        name: String, version: String, type: PackageType, purl: String, layer: String? = nil,
        path: String? = nil, sourceName: String? = nil, sourceVersion: String? = nil, cpes: [String]? = nil,
        evidence: String? = nil
    ) {
        self.name = name
        self.version = version
        self.type = type
        self.purl = purl
        self.layer = layer
        self.path = path
        self.sourceName = sourceName
        self.sourceVersion = sourceVersion
        self.cpes = cpes
        self.evidence = evidence
    }
}

/// What an image contains: its OS and every package, attributed to layers.
public struct ImageInventory: Sendable, Codable, Hashable {
    public var os: OSInfo?
    public var packages: [InstalledPackage]

    public init(os: OSInfo?, packages: [InstalledPackage]) {
        self.os = os
        self.packages = packages
    }
}
