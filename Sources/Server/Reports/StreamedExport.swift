import Cron
import Dispatch
import Foundation
import GRDB
import Hummingbird
import HummingbirdCore
import NIOCore
import Store
import Synchronization

/// Streams a CSV export read in **one** read transaction (the file is one consistent
/// snapshot) to the response, in memory that does not grow with the export: rows are
/// formatted on the database reader's thread into 64 KiB chunks, handed to the response
/// writer through a producer with backpressure, and the reader waits (at most
/// ``stallLimit``) whenever the client is behind. A client that goes away ends the read.
enum StreamedExport {
    /// Chunks handed over at a time before the reader waits for the client.
    static let highWatermark = 8
    static let chunkSize = 64 * 1024
    /// A client that reads nothing for this long ends the export (it holds a reader).
    static let stallLimit: DispatchTimeInterval = .seconds(60)
    /// Exports running at once: each holds one of the database's readers while it runs.
    static let maximumConcurrent = 2
    private static let running = Mutex(0)

    struct Cancelled: Error, CustomStringConvertible {
        var description: String
    }

    /// Where an export's producer writes its lines (on the reader thread).
    final class Sink {
        fileprivate let channel: Channel
        private var buffer: [UInt8] = []

        fileprivate init(channel: Channel) {
            self.channel = channel
            buffer.reserveCapacity(StreamedExport.chunkSize + 4096)
        }

        func write(_ bytes: [UInt8]) throws {
            buffer.append(contentsOf: bytes)
            if buffer.count >= StreamedExport.chunkSize { try flush() }
        }

        func flush() throws {
            guard !buffer.isEmpty else { return }
            try channel.send(ByteBuffer(bytes: buffer))
            buffer.removeAll(keepingCapacity: true)
        }
    }

    fileprivate final class Delegate: NIOAsyncSequenceProducerDelegate, Sendable {
        struct State { var demand = false, terminated = false }
        let state = Mutex(State())
        let wake = DispatchSemaphore(value: 0)

        func produceMore() {
            state.withLock { $0.demand = true }
            wake.signal()
        }

        func didTerminate() {
            state.withLock { $0.terminated = true }
            wake.signal()
        }
    }

    fileprivate typealias Producer = NIOThrowingAsyncSequenceProducer<
        ByteBuffer, any Error, NIOAsyncSequenceProducerBackPressureStrategies.HighLowWatermark, Delegate
    >

    fileprivate struct Channel: Sendable {
        let source: Producer.Source
        let delegate: Delegate

        func send(_ chunk: ByteBuffer) throws {
            if delegate.state.withLock({ $0.terminated }) { throw Cancelled(description: "the client went away") }
            guard source.yield(chunk) == .stopProducing else { return }
            while true {
                let (go, gone) = delegate.state.withLock { s -> (Bool, Bool) in
                    if s.terminated { return (false, true) }
                    if s.demand { s.demand = false; return (true, false) }
                    return (false, false)
                }
                if gone { throw Cancelled(description: "the client went away") }
                if go { return }
                if delegate.wake.wait(timeout: .now() + StreamedExport.stallLimit) == .timedOut {
                    throw Cancelled(description: "the client read nothing for \(StreamedExport.stallLimit)")
                }
            }
        }
    }

    /// A `text/csv` attachment named `filename` whose lines `produce` writes, after `header`.
    /// 429 when ``maximumConcurrent`` exports are already running.
    static func csv(
        db: AppDatabase, filename: String, header: [String],
        produce: @escaping @Sendable (any SQLConnection, Sink) throws -> Void
    ) throws -> Response {
        let admitted = running.withLock { n -> Bool in
            guard n < maximumConcurrent else { return false }
            n += 1
            return true
        }
        guard admitted else {
            var retry = HTTPFields()
            retry[.retryAfter] = "5"
            throw APIError(
                .tooManyRequests, code: "RATE_LIMITED", message: "\(maximumConcurrent) exports are running; try again when one ends.",
                headers: retry)
        }
        let delegate = Delegate()
        let made = Producer.makeSequence(
            elementType: ByteBuffer.self,
            backPressureStrategy: .init(lowWatermark: 2, highWatermark: highWatermark),
            finishOnDeinit: true, delegate: delegate)
        let channel = Channel(source: made.source, delegate: delegate)
        let headerBytes = CSVLine.header(header)
        Task {
            defer { running.withLock { $0 -= 1 } }
            do {
                try await db.read { db in
                    let sink = Sink(channel: channel)
                    try sink.write(headerBytes)
                    try produce(db, sink)
                    try sink.flush()
                }
                channel.source.finish()
            } catch {
                // The status line is sent: a broken-off body (the connection closes) is how
                // the client learns the file is incomplete.
                channel.source.finish(error)
            }
        }
        var headers = HTTPFields()
        headers[.contentType] = "text/csv; charset=utf-8"
        headers[.contentDisposition] = "attachment; filename=\"\(filename)\""
        headers[.cacheControl] = "no-store"
        return Response(status: .ok, headers: headers, body: ResponseBody(asyncSequence: made.sequence))
    }
}
