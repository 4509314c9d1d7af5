public import Foundation

/// `DATA_DIR/vulndb.lock`: keeps a node from copying a release over its database while the
/// database is being changed there (an update job, `db import|update --database` — possibly
/// another process on the same data directory).
///
/// flock(2) on one file: a change holds it shared for its whole run (changes may overlap, as
/// SQLite lets them), a copy holds it exclusive. A copy never waits for a change — the change
/// publishes when it is done, and that release replaces the one the copy was for — so a match
/// meanwhile runs against the file as it is; a change that begins during a copy waits for it
/// (seconds). The lock goes with the process: a killed import leaves nothing held.
public final class VulnDBChangeLock: Sendable {
    private let fd: Int32

    private init(fd: Int32) { self.fd = fd }

    deinit { close(fd) }

    public static func url(_ directory: URL) -> URL { directory.appendingPathComponent("vulndb.lock") }

    /// Runs `body` (a change of the database in `directory`) holding the lock shared; waits
    /// first for a copy in progress.
    public static func whileChanging<T>(_ directory: URL, _ body: () async throws -> T) async throws -> T {
        let lock = try await changing(directory)
        defer { withExtendedLifetime(lock) {} }
        return try await body()
    }

    /// The lock held shared, for a caller that cannot scope the change to one closure (the
    /// command line, which exits from anywhere); released when the value is freed.
    public static func changing(_ directory: URL) async throws -> VulnDBChangeLock {
        let fd = try openFile(directory)
        while flock(fd, LOCK_SH | LOCK_NB) != 0 {
            let code = errno
            guard code == EWOULDBLOCK || code == EINTR else {
                close(fd)
                throw POSIXError(POSIXErrorCode(rawValue: code) ?? .EIO)
            }
            do { try await Task.sleep(for: .milliseconds(50)) } catch {
                close(fd)
                throw error
            }
        }
        return VulnDBChangeLock(fd: fd)
    }

    /// The lock held exclusive for a copy, or nil when a change is in progress.
    static func copying(_ directory: URL) throws -> VulnDBChangeLock? {
        let fd = try openFile(directory)
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            if code == EINTR { continue }
            close(fd)
            if code == EWOULDBLOCK { return nil }
            throw POSIXError(POSIXErrorCode(rawValue: code) ?? .EIO)
        }
        return VulnDBChangeLock(fd: fd)
    }

    private static func openFile(_ directory: URL) throws -> Int32 {
        let fd = open(url(directory).path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        return fd
    }
}

/// A change of a PostgreSQL node's vulnerability database (an update job, `db import|update
/// --database`), from before it touches the file until it is published: holds the change lock
/// (no release is copied over the file meanwhile) and the `vulndb.unpublished` marker.
public struct VulnDBLocalChange: Sendable {
    let directory: URL
    let lock: VulnDBChangeLock
    /// An earlier change of the file was never published (its publish failed): this one
    /// publishes even when it changes nothing itself.
    public let earlierUnpublished: Bool

    /// Takes the lock (waiting for a copy in progress), then writes the marker.
    public static func begin(_ directory: URL, reason: String) async throws -> VulnDBLocalChange {
        let lock = try await VulnDBChangeLock.changing(directory)
        let earlier = try VulnDBReleases.beginLocalChange(directory, reason: reason)
        return VulnDBLocalChange(directory: directory, lock: lock, earlierUnpublished: earlier)
    }

    /// After the change (`change` nil on SQLite): the reason to publish and queue the rematch
    /// with, or nil when nothing changed and nothing earlier waits (the marker is removed).
    /// The lock stays held until the caller lets go of `change`, after it has published.
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
