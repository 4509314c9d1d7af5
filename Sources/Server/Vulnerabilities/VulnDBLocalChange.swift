public import Foundation

/// A change of a PostgreSQL node's vulnerability database (an update job, `db import|update
/// --database`), from before it touches the file until it is published: the
/// `vulndb.unpublished` marker, and whether to publish when it is done.
public struct VulnDBLocalChange: Sendable {
    let directory: URL
    /// The release the change is made on: its publish replaces only that one.
    public let base: VulnDBReleases.Base
    /// An earlier change of the file was never published (its publish failed): this one
    /// publishes even when it changes nothing itself.
    public let earlierUnpublished: Bool

    /// Writes the marker (unless an earlier change left it). `base`: from
    /// `VulnDBReleases.prepareChange()`, called first.
    public static func begin(_ directory: URL, base: VulnDBReleases.Base, reason: String) throws -> VulnDBLocalChange {
        VulnDBLocalChange(
            directory: directory, base: base, earlierUnpublished: try VulnDBReleases.beginLocalChange(directory, reason: reason))
    }

    /// After the change (`change` nil on SQLite): the reason to publish and queue the rematch
    /// with, or nil when nothing changed and nothing earlier waits (the marker is removed).
    public static func finish(_ change: VulnDBLocalChange?, changed: Bool, reason: String) -> String? {
        if changed { return reason }
        guard let change else { return nil }
        guard change.earlierUnpublished else {
            VulnDBReleases.discardLocalChange(change.directory)
            return nil
        }
        return reason + " (publishing an earlier change)"
    }
}
