import Foundation
import Scan
import Testing

/// Full-size timing, off by default: `HARBORGUARD_BENCH=1 swift test -c release
/// -Xswiftc -enable-testing --filter VulnDBBenchmark` (optionally
/// `HARBORGUARD_BENCH_RECORDS` / `HARBORGUARD_BENCH_PACKAGES`). Prints one JSON line.
@Suite("VulnDB benchmark")
struct VulnDBBenchmarkTests {
    static var enabled: Bool { ProcessInfo.processInfo.environment["HARBORGUARD_BENCH"] == "1" }

    @Test("import and match at full size", .enabled(if: VulnDBBenchmarkTests.enabled))
    func fullSize() throws {
        let env = ProcessInfo.processInfo.environment
        let records = env["HARBORGUARD_BENCH_RECORDS"].flatMap(Int.init) ?? 200_000
        let packages = env["HARBORGUARD_BENCH_PACKAGES"].flatMap(Int.init) ?? 5_000
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vulndb-bench")
        defer { try? FileManager.default.removeItem(at: dir) }
        let result = try VulnDBBenchmark.run(records: records, packages: packages, workDirectory: dir)
        let line = String(decoding: try JSONEncoder().encode(result), as: UTF8.self)
        print("VULNDB_BENCH \(line)")
        #expect(result.findings > 0)
    }
}
