/// What an image scan is doing. The server turns `.layer` into its job's progress; the
/// command line prints `description`, one line per step.
public enum ScanProgress: Sendable, Hashable, CustomStringConvertible {
    /// Resolving the image's manifest for the platform.
    case resolving(image: String)
    /// Layer `index` (from 1) of `count` is being read: `detail` says how ("cached", "fetched
    /// for external scanners", or its size when downloaded). `digest` is the digest's first 19 characters.
    case layer(index: Int, count: Int, digest: String, detail: String)
    /// Matching the inventory against the vulnerability database.
    case matching(packages: Int)
    /// An external scanner started.
    case running(scanner: String)

    public var description: String {
        switch self {
        case .resolving(let image): "resolving \(image)"
        case .layer(let index, let count, let digest, let detail): "layer \(index)/\(count) \(digest) \(detail)"
        case .matching(let packages): "matching \(packages) packages"
        case .running(let scanner): "running \(scanner)"
        }
    }
}
