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
