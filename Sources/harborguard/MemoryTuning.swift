import Foundation
import ServiceLifecycle

/// glibc's allocator settings for a long-running process.
///
/// glibc serves a request of 128 KiB or more with its own `mmap`, but each time such a
/// block is freed it raises that threshold to the block's size (up to 32 MiB). After the
/// first scan has freed a few multi-megabyte layer buffers, every buffer below that size
/// comes from the per-thread arenas instead, and arenas give memory back only from their
/// top: a long-lived object allocated after a burst of buffers pins the pages below it.
/// Under the soak (`make soak`: list endpoints at 64 connections while scans run) that cost
/// +25% RSS in a minute and +49% in five; with the threshold pinned the server idles 17 MB
/// smaller and grows 7% in the minute (README, "Hostile input, fuzzing and soak").
///
/// Setting the threshold explicitly turns the dynamic adjustment off. An operator's own
/// `MALLOC_MMAP_THRESHOLD_` or `GLIBC_TUNABLES` wins.
enum MemoryTuning {
    static let mmapThreshold: Int32 = 128 * 1024

    static func apply(environment: [String: String] = ProcessInfo.processInfo.environment) {
        #if os(Linux) && canImport(Glibc)
        guard environment["MALLOC_MMAP_THRESHOLD_"] == nil,
              !(environment["GLIBC_TUNABLES"] ?? "").contains("glibc.malloc.mmap_threshold")
        else { return }
        _ = glibcMallopt(mOptionMmapThreshold, mmapThreshold)
        #endif
    }

    /// Hands free arena pages back to the kernel every `interval` until cancelled.
    static func trimPeriodically(every interval: Duration = .seconds(30)) async {
        #if os(Linux) && canImport(Glibc)
        while (try? await Task.sleep(for: interval)) != nil {
            _ = glibcMallocTrim(0)
        }
        #endif
    }
}

/// The periodic trim as a `Service` of `serve`'s ServiceGroup: started with the server, ended
/// by its graceful shutdown (a loop outside the group would outlive the drain).
struct MemoryTrimService: Service {
    var interval: Duration = .seconds(30)

    func run() async throws {
        #if os(Linux) && canImport(Glibc)
        await cancelWhenGracefulShutdown { await MemoryTuning.trimPeriodically(every: interval) }
        #else
        try? await gracefulShutdown()
        #endif
    }
}

#if os(Linux) && canImport(Glibc)
/// `M_MMAP_THRESHOLD` from `<malloc.h>`, which the Glibc module does not import.
private let mOptionMmapThreshold: Int32 = -3

/// `int mallopt(int param, int value)` from `<malloc.h>`.
@_extern(c, "mallopt")
private func glibcMallopt(_ param: Int32, _ value: Int32) -> Int32

/// `int malloc_trim(size_t pad)` from `<malloc.h>`.
@_extern(c, "malloc_trim")
private func glibcMallocTrim(_ pad: Int) -> Int32
#endif
