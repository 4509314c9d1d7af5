import Cron
import Foundation
import GRDB
import Registry
import Scan
import Store

/// A failed sync or scan, and whether another attempt may succeed. The one classification
/// the server's scan jobs and `harborguard sensor` both use, so a job fails the same way
/// whoever runs it.
public struct JobFailure: Error, Sendable, Hashable, CustomStringConvertible {
    public var description: String
    public var retryable: Bool

    public init(_ description: String, retryable: Bool) {
        self.description = description
        self.retryable = retryable
    }

    /// Worth another attempt: the network and the registry's load, and a full disk (it may be
    /// freed; the job's attempts bound the cost, and the scan says why meanwhile). Not bad
    /// content or refused credentials.
    public static func classify(_ error: any Error) -> JobFailure {
        if let f = error as? JobFailure { return f }
        if let e = error as? RegistryError {
            switch e {
            case .unreachable, .timeout, .rateLimited, .tlsError: return JobFailure(e.description, retryable: true)
            default: return JobFailure(e.description, retryable: false)
            }
        }
        if let e = error as? LayerError {
            switch e {
            case .tooManyLayers, .invalidConfig: return JobFailure("image refused: \(e.description)", retryable: false)
            default: return JobFailure("layer refused: \(e.description)", retryable: false)
            }
        }
        if let e = error as? ExternalScannerError, case .diskFull = e { return JobFailure(e.description, retryable: true) }
        if let e = error as? DatabaseError {
            if let storage = StorageFault(e) { return JobFailure(storage.message, retryable: true) }
            return JobFailure("database error while scanning", retryable: true)
        }
        return JobFailure("\(error)", retryable: false)
    }
}
