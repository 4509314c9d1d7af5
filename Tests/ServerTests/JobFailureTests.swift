import Foundation
import GRDB
import Registry
import Scan
import Server
import Store
import Testing

/// The retry classification the server's scan jobs and `harborguard sensor` share.
@Suite struct JobFailureTests {
    @Test func theNetworkAndTheRegistrysLoadAreRetried() {
        for e in [RegistryError.unreachable("reset"), .timeout("30 s"), .rateLimited("429"), .tlsError("handshake")] {
            #expect(JobFailure.classify(e) == JobFailure(e.description, retryable: true))
        }
        for e in [RegistryError.authFailed("denied"), .notFound("manifest"), .invalidReference("x"), .invalidConfiguration("url")] {
            #expect(JobFailure.classify(e) == JobFailure(e.description, retryable: false))
        }
    }

    @Test func badContentIsNotRetried() {
        let many = LayerError.tooManyLayers(count: 300, limit: 256)
        #expect(JobFailure.classify(many) == JobFailure("image refused: \(many.description)", retryable: false))
        let config = LayerError.invalidConfig("not JSON")
        #expect(JobFailure.classify(config) == JobFailure("image refused: \(config.description)", retryable: false))
        let gzip = LayerError.corruptGzip("bad CRC")
        #expect(JobFailure.classify(gzip) == JobFailure("layer refused: \(gzip.description)", retryable: false))
        struct Other: Error, CustomStringConvertible { var description: String { "something else" } }
        #expect(JobFailure.classify(Other()) == JobFailure("something else", retryable: false))
        let own = JobFailure("invalid platform x", retryable: false)
        #expect(JobFailure.classify(own) == own)
    }

    /// A full disk may be freed: retried (with the job's backoff) on the server and on a sensor alike.
    @Test func aFullDiskIsRetried() {
        let full = ExternalScannerError.diskFull(directory: "/var/lib/harborguard/cache", detail: "no space left on device")
        #expect(JobFailure.classify(full) == JobFailure(full.description, retryable: true))
        #expect(JobFailure.classify(ExternalScannerError.launch("no such file")).retryable == false)
        let storage = DatabaseError(resultCode: .SQLITE_FULL)
        #expect(JobFailure.classify(storage).retryable)
        #expect(JobFailure.classify(DatabaseError(resultCode: .SQLITE_ERROR)) == JobFailure("database error while scanning", retryable: true))
    }
}
