import Foundation
import Registry
import Scan
import Store

/// What a sensor's result carries, once decoded: the operations of `SensorService` take these.
extension SensorService {
    struct SyncInput: Sendable {
        var tags: [DiscoveredTag] = []
        var failedRepositories: [String] = []
        var repositories: Int?
        /// Entries skipped because a value does not fit the distribution grammar.
        var rejected = 0
        /// The first few of them (`tags[3].repository`, `failedRepositories[0]`).
        var issues: [ValidationIssue] = []

        mutating func reject(_ path: String, _ message: String) {
            rejected += 1
            if issues.count < 20 { issues.append(ValidationIssue(path, message)) }
        }
    }

    struct ScanInput: Sendable {
        var report: ImageScanReport
        var scanners: [ScannerRunRecord]?
    }
}

/// Decoding a result's body (`POST /api/sensor/jobs/{jobId}/result`) into the inputs above.
extension SensorRoutes {
    /// A sync result. A malformed shape (a missing field, a wrong type, an unknown field) is
    /// a 400 for the whole result; an entry whose repository, tag or digest does not fit the
    /// grammar (`ReceivedTag`) is skipped and counted, never stored.
    static func syncInput(_ r: inout ObjectReader) -> SensorService.SyncInput {
        var input = SensorService.SyncInput()
        switch r.object["tags"] {
        case nil:
            r.fail("tags", "Required.")
        case .array(let items)?:
            if items.count > 1_000_000 { r.fail("tags", "At most 1000000 tags."); break }
            input.tags.reserveCapacity(items.count)
            for (i, item) in items.enumerated() {
                guard case .object(let o) = item else { r.fail("tags[\(i)]", "Expected an object."); continue }
                var t = ObjectReader(o, prefix: "tags[\(i)]")
                t.rejectUnknown(allowed: SensorResult.tagFields)
                let repo = t.string("repository", required: true, minLength: 1, maxLength: 65_536)
                let tag = t.string("tag", required: true, minLength: 1, maxLength: 65_536)
                let digest = t.string("digest", required: true, minLength: 1, maxLength: 65_536)
                let ok = t.issues.isEmpty
                r.absorb(t)
                if r.issues.count > 20 { return input }
                guard ok, let repo, let tag, let digest else { continue }
                if let problem = ReceivedTag.problems(repository: repo, tag: tag, digest: digest).first {
                    input.reject("tags[\(i)].\(problem.field)", problem.message)
                    continue
                }
                input.tags.append(DiscoveredTag(repository: repo, tag: tag, digest: digest))
            }
        case .some:
            r.fail("tags", "Expected an array.")
        }
        for (i, repo) in (r.stringArray("failedRepositories", maxCount: 100_000) ?? []).enumerated() {
            if ReceivedTag.isRepository(repo) {
                input.failedRepositories.append(repo)
            } else {
                input.reject("failedRepositories[\(i)]", ReceivedTag.repositoryMessage)
            }
        }
        if let v = r.object["repositories"] {
            if case .number(let n) = v, n == n.rounded(), n >= 0 { input.repositories = Int(n) } else {
                r.fail("repositories", "Must be a non-negative integer.")
            }
        }
        return input
    }

    static func scanInput(_ r: inout ObjectReader) -> SensorService.ScanInput? {
        var scanners: [ScannerRunRecord]?
        if let v = r.object["scanners"], v != .null {
            guard case .array(let items) = v, items.count <= 10 else {
                r.fail("scanners", "Expected an array of at most 10 scanner runs.")
                return nil
            }
            var runs: [ScannerRunRecord] = []
            for (i, item) in items.enumerated() {
                guard case .object(let o) = item else { r.fail("scanners[\(i)]", "Expected an object."); continue }
                var s = ObjectReader(o, prefix: "scanners[\(i)]")
                s.rejectUnknown(allowed: ["name", "status", "version", "durationMs", "error"])
                let name = s.enumValue("name", ScannerName.self, required: true)
                let status = s.string("status", required: true)
                if let status, !["ok", "failed", "unavailable"].contains(status) {
                    s.fail("status", "Must be one of: ok, failed, unavailable.")
                }
                let version = s.string("version", maxLength: 200)
                let error = s.string("error", maxLength: 4000)
                var ms = 0
                if let d = s.object["durationMs"] {
                    if case .number(let n) = d, n >= 0, n < 1e12 { ms = Int(n) } else { s.fail("durationMs", "Must be a non-negative number.") }
                }
                let ok = s.issues.isEmpty
                r.absorb(s)
                if ok, let name, let status {
                    runs.append(ScannerRunRecord(name: name.rawValue, status: status, version: version, durationMs: ms, error: error))
                }
            }
            scanners = runs
        }
        guard let value = r.object["report"] else {
            r.fail("report", "Required.")
            return nil
        }
        let report: ImageScanReport
        do {
            report = try JSONDecoder().decode(ImageScanReport.self, from: try JSONEncoder().encode(value))
        } catch let DecodingError.keyNotFound(key, ctx) {
            r.fail("report." + (ctx.codingPath.map(\.stringValue) + [key.stringValue]).joined(separator: "."), "Required.")
            return nil
        } catch let DecodingError.typeMismatch(_, ctx), let DecodingError.valueNotFound(_, ctx), let DecodingError.dataCorrupted(ctx) {
            r.fail("report" + ctx.codingPath.map { "." + $0.stringValue }.joined(), "Invalid value.")
            return nil
        } catch {
            r.fail("report", "Not an image scan report.")
            return nil
        }
        if !ReceivedTag.isDigest(report.digest) { r.fail("report.digest", ReceivedTag.digestMessage) }
        if !ReceivedTag.isDigest(report.manifestDigest) { r.fail("report.manifestDigest", ReceivedTag.digestMessage) }
        if Platform(parsing: report.platform) == nil { r.fail("report.platform", "Expected os/arch[/variant].") }
        if report.packages.count > 500_000 { r.fail("report.packages", "At most 500000 packages.") }
        return SensorService.ScanInput(report: report, scanners: scanners)
    }
}
