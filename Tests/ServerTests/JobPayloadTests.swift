import Cron
import Foundation
import GRDB
import Logging
import Server
import Store
import Testing

/// The typed job layer reads and writes exactly what the `jobs` table held before it: an
/// upgrade with jobs still queued runs them.
@Suite struct JobPayloadTests {
    /// A queue holding one job as an earlier version enqueued it: a type string and payload text.
    static func job(_ type: String, _ payload: String) throws -> Job {
        let queue = try DatabaseQueue()
        var migrator = DatabaseMigrator()
        JobStore.registerMigrations(&migrator)
        try migrator.migrate(queue)
        return try queue.write { db in try JobStore.enqueue(NewJob(type: type, payload: payload), now: Date(), in: db).job }
    }

    @Test func kindsAreTheStoredTypeStrings() throws {
        #expect(JobKind.allCases.map(\.rawValue) == ["sync", "scan", "vulndb_update", "rematch", "notify", "sensor_sync", "sensor_scan", "notify_flush"])
        #expect(JobKind.types(JobKind.sensorKinds) == ["sensor_sync", "sensor_scan"])
        #expect(try Self.job("vulndb_update", "{}").kind == .vulndbUpdate)
        #expect(try Self.job("cleanup", "{}").kind == nil)
    }

    /// Payload strings as earlier versions wrote them decode, and what this version writes
    /// for the same values is the same text, byte for byte.
    @Test func todaysPayloadsDecodeAndEncodeTheSame() throws {
        let sync = #"{"registryId":"reg_0123"}"#
        for kind in [TypedJobKind.sync, .sensorSync] {
            #expect(try kind.payload(of: try Self.job(kind.kind.rawValue, sync)) == SyncJobPayload(registryId: "reg_0123"))
            #expect(try kind.encode(SyncJobPayload(registryId: "reg_0123")) == sync)
        }
        #expect(TypedJobKind.sync(.sensor).kind == .sensorSync && TypedJobKind.sync(.cloud).kind == .sync)

        let digest = "sha256:" + String(repeating: "a", count: 64)
        let scan = #"{"digest":"\#(digest)","origin":"sensor","platform":"linux/arm64","registryId":"reg_0123","#
            + #""repository":"team/app","scanId":"scn_1","scanners":["native","trivy"],"tag":"1.0","trigger":"push"}"#
        let request = ScanRequest(
            registryId: "reg_0123", repository: "team/app", tag: "1.0", digest: digest, trigger: "push", scanId: "scn_1",
            platform: "linux/arm64", scanners: ["native", "trivy"], origin: "sensor")
        for kind in [TypedJobKind.scan, .sensorScan] {
            #expect(try kind.payload(of: try Self.job(kind.kind.rawValue, scan)) == request)
            #expect(try kind.encode(request) == scan)
        }
        // A scan queued before scans had rows: no scanId, no origin.
        let old = #"{"registryId":"reg_0123","repository":"team/app","tag":"latest","trigger":"manual"}"#
        let decodedOld = try TypedJobKind.scan.payload(of: try Self.job("scan", old))
        #expect(decodedOld == ScanRequest(registryId: "reg_0123", repository: "team/app", tag: "latest", digest: nil, trigger: "manual"))
        #expect(try TypedJobKind.scan.encode(decodedOld) == old)

        let rematch = #"{"orgId":"org_1","reason":"vulndb update: npm, PyPI"}"#
        #expect(try TypedJobKind.rematch.payload(of: try Self.job("rematch", rematch)) == RematchJobPayload(orgId: "org_1", reason: "vulndb update: npm, PyPI"))
        #expect(try TypedJobKind.rematch.encode(RematchJobPayload(orgId: "org_1", reason: "vulndb update: npm, PyPI")) == rematch)
        #expect(try TypedJobKind.rematch.encode(RematchJobPayload(reason: "db import")) == #"{"reason":"db import"}"#)

        let update = #"{"ecosystems":["npm","PyPI"],"url":"https://osv.example.test/v1/"}"#
        let updatePayload = VulnDBUpdateJobPayload(url: "https://osv.example.test/v1/", ecosystems: ["npm", "PyPI"])
        #expect(try TypedJobKind.vulndbUpdate.payload(of: try Self.job("vulndb_update", update)) == updatePayload)
        #expect(try TypedJobKind.vulndbUpdate.encode(updatePayload) == update)
        #expect(try TypedJobKind.vulndbUpdate.encode(VulnDBUpdateJobPayload()) == "{}")

        let notify = #"{"deliveryId":"dlv_0123"}"#
        #expect(try TypedJobKind.notify.payload(of: try Self.job("notify", notify)) == NotifyJobPayload(deliveryId: "dlv_0123"))
        #expect(try TypedJobKind.notify.encode(NotifyJobPayload(deliveryId: "dlv_0123")) == notify)

        let new = try NewJob(.sensorSync, SyncJobPayload(registryId: "reg_0123"), concurrencyKey: "reg_0123", maxAttempts: 3)
        #expect(new.type == "sensor_sync" && new.payload == sync && new.maxAttempts == 3)
    }

    /// A payload that does not decode fails its job for good, as before; rematch and
    /// vulnerability-database updates run with their defaults instead, as before.
    @Test func malformedPayloads() throws {
        for (kind, name) in [(TypedJobKind.scan, "scan"), (.sensorScan, "sensor_scan")] {
            #expect(throws: PermanentJobError.self) { try kind.payload(of: try Self.job(name, #"{"registryId":1}"#)) }
        }
        do {
            _ = try TypedJobKind.sync.payload(of: try Self.job("sync", "not json"))
            Issue.record("decoded")
        } catch {
            #expect("\(error)" == "malformed sync payload")
        }
        do {
            _ = try TypedJobKind.notify.payload(of: try Self.job("notify", "{}"))
            Issue.record("decoded")
        } catch {
            #expect("\(error)" == "malformed notify payload")
        }
        #expect(try TypedJobKind.rematch.payload(of: try Self.job("rematch", "not json")) == RematchJobPayload())
        #expect(try TypedJobKind.vulndbUpdate.payload(of: try Self.job("vulndb_update", #"{"url":7}"#)) == VulnDBUpdateJobPayload())
    }

    /// The handler table runs each kind's handler with its payload decoded.
    @Test func handlersGetTypedPayloads() async throws {
        var handlers = JobHandlers()
        handlers.handle(.sync) { _, payload in payload.registryId }
        handlers.handle(.notify) { _, payload in payload.deliveryId }
        #expect(Set(handlers.table.keys) == ["sync", "notify"])
        let store = JobStore(writer: try DatabaseQueue())
        let context = JobContext(job: try Self.job("sync", #"{"registryId":"reg_9"}"#), store: store, logger: .init(label: "test"))
        #expect(try await handlers.table["sync"]!(context) == "reg_9")
        let bad = JobContext(job: try Self.job("notify", "[]"), store: store, logger: .init(label: "test"))
        await #expect(throws: PermanentJobError.self) { try await handlers.table["notify"]!(bad) }
    }
}
