import Foundation
import Testing

@testable import Scan

/// ``BinarySpool``: where executables go while they stream. The ELF magic decides whether a
/// file is written (even when it arrives split across chunks), one file is reused for every
/// executable, and a directory it cannot write gives a reason instead of a crash.
@Suite struct BinarySpoolTests {
    func feed(_ spool: BinarySpool, _ bytes: [UInt8], chunk: Int) {
        var start = 0
        while start < bytes.count {
            let end = min(start + chunk, bytes.count)
            bytes[start..<end].withUnsafeBytes { spool.feed($0) }
            start = end
        }
    }

    @Test(arguments: [1, 3, 4, 7, 4096])
    func elfFilesReadBackAsWrittenAtAnyChunkSize(_ chunk: Int) throws {
        let spool = BinarySpool()
        let elf: [UInt8] = [0x7F, 0x45, 0x4C, 0x46] + (0..<10_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        spool.begin()
        feed(spool, elf, chunk: chunk)
        let source = try #require(spool.source)
        #expect(source.count == elf.count)
        #expect(source.read(0, elf.count) == elf)
        #expect(source.read(9_990, 100) == Array(elf[9_990...]))
        // The next file reuses the spool: a shorter one is not followed by the last one's tail.
        let short: [UInt8] = [0x7F, 0x45, 0x4C, 0x46, 1, 2, 3]
        spool.begin()
        feed(spool, short, chunk: chunk)
        #expect(spool.source?.read(0, 100) == short)
    }

    @Test func otherFilesAreNotWritten() {
        let spool = BinarySpool()
        spool.begin()
        feed(spool, Array("#!/bin/sh\necho hello\n".utf8), chunk: 2)
        #expect(spool.isELF == false && spool.source == nil && spool.failure == nil)
    }

    @Test func anUnwritableDirectoryIsAReasonNotACrash() {
        let spool = BinarySpool(directory: "/nonexistent-\(UUID().uuidString)")
        spool.begin()
        feed(spool, [0x7F, 0x45, 0x4C, 0x46, 0, 0, 0], chunk: 4096)
        #expect(spool.source == nil)
        #expect(spool.failure?.contains("cannot create a temporary file") == true)
    }
}
