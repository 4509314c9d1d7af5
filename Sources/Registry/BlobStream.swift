import AsyncHTTPClient
import Crypto
public import NIOCore

/// A blob body as an `AsyncSequence` of buffers, hashed as it flows. Iterating to the end
/// throws `digestMismatch` or `sizeMismatch` when the content is not what was asked for,
/// so a consumer must treat what it read as untrusted until the loop ends without error.
/// Iterate it once.
public struct BlobStream: AsyncSequence, Sendable {
    public typealias Element = ByteBuffer
    public typealias Failure = RegistryError

    let body: HTTPClientResponse.Body
    /// The digest the content must hash to.
    public let digest: Digest
    /// The size the content must have, when known (descriptor size or Content-Length).
    public let expectedSize: Int64?

    public func makeAsyncIterator() -> Iterator {
        Iterator(inner: body.makeAsyncIterator(), digest: digest, expectedSize: expectedSize)
    }

    /// Iterates the verified chunks.
    public struct Iterator: AsyncIteratorProtocol {
        public typealias Failure = RegistryError
        var inner: HTTPClientResponse.Body.AsyncIterator
        let digest: Digest
        let expectedSize: Int64?
        var hasher: Hasher
        var received: Int64 = 0
        var finished = false

        enum Hasher {
            case sha256(SHA256)
            case sha512(SHA512)

            mutating func update(_ buffer: ByteBuffer) {
                buffer.withUnsafeReadableBytes { bytes in
                    switch self {
                    case var .sha256(h): h.update(bufferPointer: bytes); self = .sha256(h)
                    case var .sha512(h): h.update(bufferPointer: bytes); self = .sha512(h)
                    }
                }
            }

            func finalize() -> String {
                switch self {
                case let .sha256(h): h.finalize().hexString
                case let .sha512(h): h.finalize().hexString
                }
            }
        }

        init(inner: HTTPClientResponse.Body.AsyncIterator, digest: Digest, expectedSize: Int64?) {
            self.inner = inner
            self.digest = digest
            self.expectedSize = expectedSize
            self.hasher = digest.algorithm == .sha256 ? .sha256(SHA256()) : .sha512(SHA512())
        }

        public mutating func next() async throws(RegistryError) -> ByteBuffer? {
            guard !finished else { return nil }
            let chunk: ByteBuffer?
            do { chunk = try await inner.next() } catch {
                finished = true
                throw RegistryClient.classify(error)
            }
            guard let chunk else {
                finished = true
                if let expectedSize, received != expectedSize {
                    throw .sizeMismatch(expected: expectedSize, actual: received)
                }
                let actual = Digest(algorithm: digest.algorithm, hex: hasher.finalize())
                guard actual == digest else { throw .digestMismatch(expected: digest.description, actual: actual.description) }
                return nil
            }
            received += Int64(chunk.readableBytes)
            if let expectedSize, received > expectedSize {
                finished = true
                throw .sizeMismatch(expected: expectedSize, actual: received)
            }
            hasher.update(chunk)
            return chunk
        }
    }
}
