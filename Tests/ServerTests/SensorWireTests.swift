import Cron
import Foundation
import Scan
import Server
import Store
import Testing

/// The sensor protocol's types, shared by `serve` and `harborguard sensor`: the JSON each
/// end writes, byte for byte, and the request fields the server accepts.
@Suite struct SensorWireTests {
    static func text(_ value: some Encodable, _ encoder: JSONEncoder = JSONCoding.encoder) throws -> String {
        String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    static func keys(_ value: some Encodable) throws -> Set<String> {
        let object = try JSONSerialization.jsonObject(with: try JSONCoding.encoder.encode(value)) as? [String: Any]
        return Set(object?.keys.map { $0 } ?? [])
    }

    @Test func answersAsTheServerWritesThem() throws {
        let expires = try #require(Timestamp.parse("2026-01-02T03:04:05Z"))
        let target = SensorClaimedJob.RegistryTarget(id: "reg_1", url: "https://registry.example.test", provider: "DOCKER_REGISTRY", insecure: false)
        let sync = SensorClaimedJob(
            id: "job_1", type: SensorJobType(.sensorSync)!, attempt: 1, payload: .init(registry: target, includeTags: "^v"),
            leaseExpiresAt: expires)
        let syncText = #"{"attempt":1,"id":"job_1","leaseExpiresAt":"2026-01-02T03:04:05Z","payload":{"includeTags":"^v","#
            + #""registry":{"id":"reg_1","insecure":false,"provider":"DOCKER_REGISTRY","url":"https://registry.example.test"}},"type":"sync"}"#
        #expect(try Self.text(sync) == syncText)
        let scan = SensorClaimedJob(
            id: "job_2", type: SensorJobType(.sensorScan)!, attempt: 2,
            payload: .init(registry: target, scanId: "scn_1", repository: "team/app", tag: "1.0", platform: "linux/amd64", scanners: ["native"]),
            leaseExpiresAt: expires)
        let scanText = #"{"attempt":2,"id":"job_2","leaseExpiresAt":"2026-01-02T03:04:05Z","payload":{"platform":"linux/amd64","#
            + #""registry":{"id":"reg_1","insecure":false,"provider":"DOCKER_REGISTRY","url":"https://registry.example.test"},"#
            + #""repository":"team/app","scanId":"scn_1","scanners":["native"],"tag":"1.0"},"type":"scan"}"#
        #expect(try Self.text(scan) == scanText)
        #expect(SensorJobType(.scan) == nil && SensorJobType(.notify) == nil)

        // The sensor reads them back, an unknown job type included.
        let claim = try SensorProtocol.decoder.decode(
            SensorReply<[SensorClaimedJob]>.self, from: Data(#"{"data":[\#(syncText),\#(scanText)]}"#.utf8)).data
        #expect(claim == [sync, scan])
        let future = try SensorProtocol.decoder.decode(SensorClaimedJob.self, from: Data(syncText.replacingOccurrences(of: #""type":"sync""#, with: #""type":"gc""#).utf8))
        #expect(future.type.rawValue == "gc")

        #expect(try Self.text(SensorHeartbeatReply(registryId: "reg_1", pollIntervalSeconds: 10)) == #"{"pollIntervalSeconds":10,"registryId":"reg_1"}"#)
        #expect(try Self.text(SensorRenewed(id: "job_1", leaseExpiresAt: expires)) == #"{"id":"job_1","leaseExpiresAt":"2026-01-02T03:04:05Z"}"#)
        #expect(try Self.text(SensorReleased(id: "job_1", status: "queued")) == #"{"id":"job_1","status":"queued"}"#)
        #expect(try Self.text(SensorResultReply(jobId: "job_1", status: "succeeded", recorded: false, scanId: "scn_1"))
            == #"{"jobId":"job_1","recorded":false,"scanId":"scn_1","status":"succeeded"}"#)
    }

    @Test func requestsAsTheSensorWritesThem() throws {
        let e = SensorProtocol.encoder
        #expect(try Self.text(SensorHeartbeat(name: "edge", version: "1.2.3", hostname: "edge-1"), e)
            == #"{"hostname":"edge-1","name":"edge","version":"1.2.3"}"#)
        #expect(try Self.text(SensorClaimRequest(max: 2, leaseSeconds: 60), e) == #"{"leaseSeconds":60,"max":2}"#)
        #expect(try Self.text(SensorRenewRequest(leaseSeconds: 60), e) == #"{"leaseSeconds":60}"#)
        #expect(try Self.text(SensorResult.failure("boom", retryable: true), e) == #"{"error":"boom","retryable":true,"status":"failed"}"#)
    }

    /// The fields the server accepts are the members of the types the sensor sends.
    @Test func acceptedFieldsAreTheTypesMembers() throws {
        #expect(try Self.keys(SensorHeartbeat(name: "a", version: "b", hostname: "c")) == SensorHeartbeat.fields)
        #expect(try Self.keys(SensorClaimRequest(max: 1, leaseSeconds: 60)) == SensorClaimRequest.fields)
        #expect(try Self.keys(SensorRenewRequest(leaseSeconds: 60)) == SensorRenewRequest.fields)
        let sync = SensorResult(
            status: "succeeded", error: "e", retryable: false, attempt: 1,
            tags: [.init(repository: "r", tag: "t", digest: "d")], failedRepositories: [], repositories: 1)
        #expect(try Self.keys(sync) == SensorResult.commonFields.union(SensorResult.syncFields))
        #expect(try Self.keys(SensorResult.TagEntry(repository: "r", tag: "t", digest: "d")) == SensorResult.tagFields)
        let run = ScannerRunRecord(name: "native", status: "ok", version: nil, durationMs: 1, error: nil)
        #expect(try Self.keys(SensorResult(status: "failed", scanners: [run])) == ["status", "scanners"])
        #expect(SensorResult.scanFields == ["report", "scanners"])
    }
}
