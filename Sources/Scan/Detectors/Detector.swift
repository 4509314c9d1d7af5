/// What a detector needs of a file it recognises by path.
public enum FileInterest: Sendable, Hashable {
    /// A text database or manifest, buffered up to `LayerLimits.maxMetadataFileBytes`.
    case metadata
    /// A binary or archive, buffered up to `LayerLimits.maxBinaryFileBytes`.
    case binary
    /// Only the file's presence matters (e.g. to say an rpm database format is unsupported).
    case presence
}

/// What one detector found in one file.
public struct DetectorResult: Sendable, Codable, Hashable {
    public var os: OSInfo?
    public var packages: [InstalledPackage]
    /// Things an operator should know (unsupported formats, files skipped).
    public var notes: [String]
    /// Files an OS package database says its packages own (dpkg `info/*.list`, apk `R:`), kept
    /// only where a runtime could be found (`RuntimeDetector.isCandidate`): a runtime at such a
    /// path is the OS package's, not reported again. nil when none.
    public var ownedFiles: [String]?

    public init(os: OSInfo? = nil, packages: [InstalledPackage] = [], notes: [String] = [], ownedFiles: [String]? = nil) {
        self.os = os
        self.packages = packages
        self.notes = notes
        self.ownedFiles = ownedFiles
    }

    public var isEmpty: Bool { os == nil && packages.isEmpty && notes.isEmpty && (ownedFiles ?? []).isEmpty }
}

/// Finds packages in files of a layer: first asked whether it wants a path, then given
/// the file's bytes. Detectors are pure functions of (path, bytes): a layer's result can
/// be cached and merged with other layers later.
public protocol PackageDetector: Sendable {
    /// Stable name, recorded with each finding.
    var name: String { get }
    /// Whether this detector wants the file at `path` (normalised, relative to the root).
    func interest(in path: String, size: Int64, executable: Bool) -> FileInterest?
    /// Parses a wanted file (empty `contents` for `.presence`).
    func detect(path: String, contents: [UInt8]) throws -> DetectorResult
}

/// The detectors a layer analysis runs, in order; the first that wants a path gets it.
public enum Detectors {
    public static let all: [any PackageDetector] = [
        OSReleaseDetector(),
        DpkgDetector(),
        ApkDetector(),
        RpmDetector(),
        PythonDetector(),
        NpmDetector(),
        RubyGemDetector(),
        JavaArchiveDetector(),
        BinaryDetector(),
    ]
}

/// A detector's complaint about a file it could not parse; recorded as a note, the layer goes on.
public struct DetectorError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

extension String {
    /// Splits text into lines, LF or CRLF. (Swift treats "\r\n" as one Character, so
    /// splitting on "\n" alone would leave CRLF text, such as every MANIFEST.MF, in one line.)
    var linesTrimmingCR: [Substring] {
        split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }).map { line in
            line.last == "\r" ? line.dropLast() : line
        }
    }
}

extension Substring {
    var trimmed: Substring {
        var s = self
        while let first = s.first, first == " " || first == "\t" { s = s.dropFirst() }
        while let last = s.last, last == " " || last == "\t" || last == "\r" { s = s.dropLast() }
        return s
    }
}
