import Foundation
public import GRDB

/// A database failure that comes from the disk under the data directory rather than from
/// a bug: full, read-only, or failing I/O. The message says what happened and what to do;
/// the API answers it as 503 and a job retries it with backoff.
public struct StorageFault: Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        case full
        case readOnly
        case io
    }

    public var kind: Kind
    public var message: String

    public init?(_ error: DatabaseError) {
        switch error.resultCode {
        case .SQLITE_FULL:
            kind = .full
            message = "disk full (ENOSPC, SQLITE_FULL): the database in the data directory could not grow; free space there and retry"
        case .SQLITE_READONLY:
            kind = .readOnly
            message = "the database is read-only (SQLITE_READONLY): remount the data directory read-write or make harborguard.db writable, then retry"
        case .SQLITE_IOERR:
            kind = .io
            message = "I/O error on the database (SQLITE_IOERR, extended code \(error.extendedResultCode.rawValue)): check the disk under the data directory"
        default:
            return nil
        }
    }

    public var description: String { message }
}
