import Crypto
import Foundation
import Registry

extension VulnDBUpdater {
    // MARK: Local mirror

    /// The mirror's archive of a documented ecosystem (`update` refuses any other name first).
    static func mirrorFile(_ dir: URL, _ ecosystem: String) -> URL {
        dir.appendingPathComponent(ecosystem, isDirectory: true).appendingPathComponent("all.zip")
    }

    /// A mirror's archive, hashed in place (it is imported from where it lies).
    static func mirrorArchive(_ file: URL, limit: Int64) throws -> FetchResult {
        guard FileManager.default.fileExists(atPath: file.path) else { return .notFound }
        let size = (try FileManager.default.attributesOfItem(atPath: file.path)[.size] as? NSNumber)?.int64Value ?? 0
        guard size <= limit else { throw VulnDBUpdateError.tooLarge(limit: limit, url: file.path) }
        let handle = try FileHandle(forReadingFrom: file)
        defer { try? handle.close() }
        var hasher = SHA256()
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty { hasher.update(data: chunk) }
        return .archive(Fetched(file: file, temporary: false, bytes: size, sha256: hex(hasher.finalize())))
    }

    static func hex(_ digest: SHA256.Digest) -> String {
        digest.hexString
    }

    /// Runs blocking work (hashing, decoding, the import's SQLite transaction) off the
    /// cooperative thread pool; waited for even when cancelled, so no import outlives its job.
    static func offload<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await Blocking.run(abandonOnCancel: false, work)
    }
}
