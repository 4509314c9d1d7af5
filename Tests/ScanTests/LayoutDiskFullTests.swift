import Foundation
import NIOCore
import Registry
import Scan
import Testing

/// The OCI layout tells a full disk (ENOSPC) apart from other write failures: a full disk
/// fails the scan, a scanner's own trouble does not. `/dev/full` answers every write with
/// ENOSPC, so a blob path linked to it is a full disk without mounting anything.
@Suite struct LayoutDiskFullTests {
    static func layout() throws -> (OCILayoutWriter, URL) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hg-layout-\(UUID().uuidString)")
        return (try OCILayoutWriter(directory: dir), dir)
    }

    static func stream(_ data: Data) -> AsyncStream<ByteBuffer> {
        AsyncStream { c in
            c.yield(ByteBuffer(bytes: data.prefix(data.count / 2)))
            c.yield(ByteBuffer(bytes: data.dropFirst(data.count / 2)))
            c.finish()
        }
    }

    @Test func aBlobWrittenToAFullDiskIsReportedAsDiskFull() async throws {
        let (layout, dir) = try Self.layout()
        defer { try? FileManager.default.removeItem(at: dir) }
        let bytes = Data(repeating: 7, count: 64 << 10)
        let digest = Digest.sha256(of: bytes)
        let url = layout.blobURL(digest)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: url.path, withDestinationPath: "/dev/full")
        var seen = 0
        for try await chunk in layout.tee(Self.stream(bytes), digest: digest) { seen += chunk.readableBytes }
        #expect(seen == bytes.count)  // the native pass still gets every byte
        #expect(layout.diskFull)
        #expect(layout.error?.contains(String(cString: strerror(ENOSPC))) == true, "\(layout.error ?? "")")
        #expect(!layout.contains(digest))
        let e = ExternalScannerError.diskFull(directory: dir.path, detail: layout.error ?? "")
        #expect(e.description.hasPrefix("disk full (ENOSPC) in \(dir.path)"))
    }

    @Test func anotherWriteFailureIsNotDiskFull() async throws {
        let (layout, dir) = try Self.layout()
        defer { try? FileManager.default.removeItem(at: dir) }
        let bytes = Data(repeating: 9, count: 1024)
        let digest = Digest.sha256(of: bytes)
        // A directory where the blob file should be: open(2) fails with EISDIR.
        try FileManager.default.createDirectory(at: layout.blobURL(digest), withIntermediateDirectories: true)
        for try await _ in layout.tee(Self.stream(bytes), digest: digest) {}
        #expect(layout.error != nil)
        #expect(!layout.diskFull)
    }
}
