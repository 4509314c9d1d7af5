import Cron
import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Scan
import Server
import Store
import Testing

/// The sensor protocol through the router: who may call it, what a claim hands out, and
/// what results record.
@Suite struct SensorProtocolTests {
    static let digestA = "sha256:" + String(repeating: "a", count: 64)
    static let digestB = "sha256:" + String(repeating: "b", count: 64)
    static let config = "sha256:" + String(repeating: "c", count: 64)

    /// A fixture with the sensor registry populated, a second sensor registry, and one OSV
    /// record for `tar` on Debian 12 in the server's database.
    static func make() async throws -> (Fixture, otherSensorKey: String, otherRegistry: String) {
        var f = try await Fixture.make()
        try await f.populate()
        let owner = f.keys[.owner]!
        let other = try await f.test { c in
            let r = try await c.json(.post, "/api/registries", key: owner, body: [
                "name": "sensor-2", "provider": "DOCKER_REGISTRY", "url": "https://other.example.test", "scanMethod": "sensor",
            ])
            #expect(r.status == .created)
            return (r.data["sensorApiKey"] as? String ?? "", r.data["id"] as? String ?? "")
        }
        var record = OSVRecord(id: "DEBIAN-CVE-2099-0001", modified: "2024-01-01T00:00:00Z")
        record.aliases = ["CVE-2099-0001"]
        record.summary = "tar: remote code execution (test)"
        record.severity = [OSVSeverity(type: "CVSS_V3", score: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H")]
        record.affected = [OSVAffected(
            package: OSVPackage(ecosystem: "Debian:12", name: "tar"),
            ranges: [OSVRange(type: "ECOSYSTEM", events: [OSVEvent(.introduced, "0"), OSVEvent(.fixed, "1.35+dfsg-3")])])]
        _ = try f.services.vulnDB!.import(records: [record], source: "test")
        return (f, other.0, other.1)
    }

    static func syncTags(_ digest: String = digestA) -> [[String: Any]] {
        [
            ["repository": "team/app", "tag": "1.0", "digest": digest],
            ["repository": "team/app", "tag": "latest", "digest": digest],
            ["repository": "team/db", "tag": "16", "digest": digestB],
        ]
    }

    /// A scan report as the sensor posts it: a Debian 12 inventory, plus a finding that claims
    /// to be native (dropped) and one from an external scanner (kept).
    static func report(packages extra: Int = 0) -> [String: Any] {
        var packages: [[String: Any]] = [
            ["name": "tar", "version": "1.34+dfsg-1.2", "type": "deb", "purl": "pkg:deb/debian/tar@1.34+dfsg-1.2?distro=debian-12",
             "sourceName": "tar", "sourceVersion": "1.34+dfsg-1.2"],
            ["name": "bash", "version": "5.2.15-2", "type": "deb", "purl": "pkg:deb/debian/bash@5.2.15-2?distro=debian-12"],
        ]
        for i in 0..<extra {
            packages.append([
                "name": "pkg-\(i)-" + String(repeating: "x", count: 200), "version": "1.0.\(i)", "type": "deb",
                "purl": "pkg:deb/debian/pkg-\(i)@1.0.\(i)",
            ])
        }
        func finding(_ id: String, _ sources: [String]) -> [String: Any] {
            ["vulnerabilityId": id, "aliases": [String](), "severity": "CRITICAL", "cvss": 9.8,
             "package": ["name": "bash", "version": "5.2.15-2", "type": "deb", "purl": "pkg:deb/debian/bash@5.2.15-2"],
             "fixedVersion": NSNull(), "fixState": "unknown", "title": "claimed", "references": [String](), "sources": sources,
             "advisoryIds": [String]()]
        }
        return [
            "reference": "internal.example.test/team/app:1.0", "digest": digestA, "manifestDigest": digestA,
            "platform": "linux/amd64", "os": ["family": "debian", "version": "12"],
            "layers": [["digest": config, "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "compressedBytes": 100,
                        "uncompressedBytes": 300, "entries": 3, "cached": false]],
            "packages": packages,
            "findings": [finding("CVE-2099-9999", ["native"]), finding("CVE-2099-7777", ["trivy"])],
            "notes": [String](), "durationMs": 42,
        ]
    }

    func claim(_ c: any TestClientProtocol, _ key: String, max: Int = 10) async throws -> [[String: Any]] {
        let r = try await c.json(.post, "/api/sensor/jobs/claim", key: key, body: ["max": max])
        #expect(r.status == .ok, "\(r.raw)")
        return r.body["data"] as? [[String: Any]] ?? []
    }

    @Test func onlyTheRegistrysSensorKeyWorksAndOnlyOnItsOwnJobs() async throws {
        let (f, otherKey, _) = try await Self.make()
        let fx = f
        try await f.test { c in
            let sync = try await c.json(.post, "/api/registries/\(fx.sensorRegistry)/sync", key: fx.keys[.admin]!)
            #expect(sync.status == .accepted)
            let jobId = sync.data["jobId"] as? String ?? ""
            // Ordinary keys of any role, PATs and sessions are refused.
            for role in Role.allCases {
                for path in ["/api/sensor/heartbeat", "/api/sensor/jobs/claim", "/api/sensor/jobs/\(jobId)/result"] {
                    let r = try await c.json(.post, path, key: fx.keys[role]!, body: ["status": "failed"])
                    #expect(r.status == .forbidden, "\(role) \(path)")
                }
            }
            do { let r = try await c.json(.post, "/api/sensor/jobs/claim", key: fx.patDeveloper, body: [:]); #expect(r.status == .forbidden) }
            do { let r = try await c.json(.post, "/api/sensor/jobs/claim", body: [:]); #expect(r.status == .unauthorized) }

            // Another registry's sensor sees none of these jobs.
            #expect(try await claim(c, otherKey).isEmpty)
            for action in ["result", "renew", "release"] {
                let r = try await c.json(.post, "/api/sensor/jobs/\(jobId)/\(action)", key: otherKey, body: ["status": "failed"])
                #expect(r.status == .notFound, "\(action): \(r.raw)")
            }

            // Its own sensor gets the job, with where to sync and never a credential.
            let jobs = try await claim(c, fx.sensorKey)
            #expect(jobs.count == 1)
            let job = jobs.first ?? [:]
            #expect(job["id"] as? String == jobId && job["type"] as? String == "sync" && job["attempt"] as? Int == 1)
            let payload = job["payload"] as? [String: Any] ?? [:]
            let registry = payload["registry"] as? [String: Any] ?? [:]
            #expect(registry["url"] as? String == "https://internal.example.test" && registry["id"] as? String == fx.sensorRegistry)
            #expect(job["leaseExpiresAt"] as? String != nil)
            // Leased: not handed out twice; the other sensor still cannot post for it.
            #expect(try await claim(c, fx.sensorKey).isEmpty)
            do {
                let r = try await c.json(.post, "/api/sensor/jobs/\(jobId)/result", key: otherKey, body: ["status": "succeeded", "tags": [Any]()])
                #expect(r.status == .notFound)
            }
            // A renew extends the lease; a release hands the job back, and a result for it is then refused.
            do {
                let r = try await c.json(.post, "/api/sensor/jobs/\(jobId)/renew", key: fx.sensorKey, body: ["leaseSeconds": 120])
                #expect(r.status == .ok && r.data["leaseExpiresAt"] as? String != nil)
            }
            do { let r = try await c.json(.post, "/api/sensor/jobs/\(jobId)/release", key: fx.sensorKey); #expect(r.status == .ok) }
            do { let r = try await c.json(.post, "/api/sensor/jobs/\(jobId)/renew", key: fx.sensorKey); #expect(r.status == .conflict) }
            do {
                let r = try await c.json(.post, "/api/sensor/jobs/\(jobId)/result", key: fx.sensorKey, body: ["status": "succeeded", "tags": [Any]()])
                #expect(r.status == .conflict)
                #expect(r.errorCode == "CONFLICT")
            }
            // Released without counting the attempt.
            let again = try await claim(c, fx.sensorKey)
            #expect(again.first?["attempt"] as? Int == 1)
            // A result for an attempt the server did not hand out is refused.
            do {
                let r = try await c.json(.post, "/api/sensor/jobs/\(jobId)/result", key: fx.sensorKey,
                                         body: ["status": "succeeded", "tags": [Any](), "attempt": 7])
                #expect(r.status == .conflict)
            }
            do { let r = try await c.json(.post, "/api/sensor/jobs/job_nope/result", key: fx.sensorKey, body: ["status": "failed"]); #expect(r.status == .notFound) }
        }
    }

    @Test func aSyncResultRecordsTagsAndQueuesSensorScansThenAScanResultIsMatchedByTheServer() async throws {
        let (f, _, _) = try await Self.make()
        let fx = f
        try await f.test { c in
            let sync = try await c.json(.post, "/api/registries/\(fx.sensorRegistry)/sync", key: fx.keys[.admin]!)
            let jobId = sync.data["jobId"] as? String ?? ""
            _ = try await claim(c, fx.sensorKey)
            let r = try await c.json(.post, "/api/sensor/jobs/\(jobId)/result", key: fx.sensorKey, body: [
                "status": "succeeded", "tags": Self.syncTags(), "repositories": 2, "attempt": 1,
            ])
            #expect(r.status == .ok, "\(r.raw)")
            #expect(r.data["recorded"] as? Bool == true)
            #expect((r.data["sync"] as? [String: Any])?["scansEnqueued"] as? Int == 3)
            // Posted again (the sensor never saw the answer): 200, nothing recorded twice.
            let again = try await c.json(.post, "/api/sensor/jobs/\(jobId)/result", key: fx.sensorKey, body: [
                "status": "succeeded", "tags": Self.syncTags(), "attempt": 1,
            ])
            #expect(again.status == .ok && again.data["recorded"] as? Bool == false)

            let reg = try await c.json(.get, "/api/registries/\(fx.sensorRegistry)", key: fx.keys[.viewer]!)
            #expect(reg.data["imageCount"] as? Int == 2)
            #expect((reg.data["health"] as? [String: Any])?["status"] as? String == "healthy")
            let images = try await c.json(.get, "/api/images?registryId=\(fx.sensorRegistry)", key: fx.keys[.viewer]!)
            #expect(Set((images.body["data"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }) == ["team/app", "team/db"])
            let job = try await c.json(.get, "/api/jobs/\(jobId)", key: fx.keys[.viewer]!)
            #expect(job.data["status"] as? String == "succeeded")

            // The scans are sensor scans, queued for the sensor and never for the server.
            let scans = try await c.json(.get, "/api/scans?registryId=\(fx.sensorRegistry)", key: fx.keys[.viewer]!)
            let rows = scans.body["data"] as? [[String: Any]] ?? []
            #expect(rows.count == 3 && rows.allSatisfy { $0["origin"] as? String == "sensor" && $0["status"] as? String == "queued" })
            let claimed = try await claim(c, fx.sensorKey, max: 10)
            #expect(claimed.count == 3 && claimed.allSatisfy { $0["type"] as? String == "scan" })
            let app = claimed.first { ($0["payload"] as? [String: Any])?["tag"] as? String == "1.0" } ?? [:]
            let payload = app["payload"] as? [String: Any] ?? [:]
            #expect(payload["repository"] as? String == "team/app" && payload["digest"] as? String == Self.digestA)
            #expect(payload["platform"] as? String == "linux/amd64")
            let scanId = payload["scanId"] as? String ?? ""
            do {
                let s = try await c.json(.get, "/api/scans/\(scanId)", key: fx.keys[.viewer]!)
                #expect(s.data["status"] as? String == "running")
            }

            // The scan result: the server's own database finds tar; the "native" claim is dropped, trivy's kept.
            let appJob = app["id"] as? String ?? ""
            let body: JSONBody = ["status": "succeeded", "report": Self.report(), "attempt": 1,
                                  "scanners": [["name": "native", "status": "ok", "version": "sensor-test", "durationMs": 42],
                                               ["name": "trivy", "status": "ok", "version": "0.50.0", "durationMs": 900]]]
            let posted = try await c.json(.post, "/api/sensor/jobs/\(appJob)/result", key: fx.sensorKey, body: body)
            #expect(posted.status == .ok, "\(posted.raw)")
            #expect(posted.data["recorded"] as? Bool == true && posted.data["scanId"] as? String == scanId)
            let twice = try await c.json(.post, "/api/sensor/jobs/\(appJob)/result", key: fx.sensorKey, body: body)
            #expect(twice.status == .ok && twice.data["recorded"] as? Bool == false)

            let scan = try await c.json(.get, "/api/scans/\(scanId)", key: fx.keys[.viewer]!)
            #expect(scan.data["status"] as? String == "completed")
            #expect(scan.data["origin"] as? String == "sensor")
            #expect(scan.data["packageCount"] as? Int == 2)
            #expect((scan.data["counts"] as? [String: Any])?["critical"] as? Int == 2)
            #expect((scan.data["scanners"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String } == ["native", "trivy"])
            let findings = try await c.json(.get, "/api/scans/\(scanId)/findings", key: fx.keys[.viewer]!)
            let list = findings.body["data"] as? [[String: Any]] ?? []
            #expect(Set(list.compactMap { $0["vulnerabilityId"] as? String }) == ["CVE-2099-0001", "CVE-2099-7777"])
            let tar = list.first { $0["vulnerabilityId"] as? String == "CVE-2099-0001" } ?? [:]
            #expect(tar["sources"] as? [String] == ["native"] && tar["fixedVersion"] as? String == "1.35+dfsg-3")
            #expect(findings.body["meta"].flatMap { ($0 as? [String: Any])?["total"] as? Int } == 2)
            // The tag points at the scan.
            let img = (images.body["data"] as? [[String: Any]] ?? []).first { $0["name"] as? String == "team/app" }
            let detail = try await c.json(.get, "/api/images/\(img?["id"] as? String ?? "")", key: fx.keys[.viewer]!)
            let tag = (detail.data["tags"] as? [[String: Any]] ?? []).first { $0["name"] as? String == "1.0" }
            #expect(tag?["lastScanId"] as? String == scanId)

            // A failed scan: not retryable → the scan fails with the sensor's error.
            let db = claimed.first { ($0["payload"] as? [String: Any])?["repository"] as? String == "team/db" } ?? [:]
            let failed = try await c.json(.post, "/api/sensor/jobs/\(db["id"] as? String ?? "")/result", key: fx.sensorKey, body: [
                "status": "failed", "error": "manifest unknown", "retryable": false,
            ])
            #expect(failed.status == .ok && failed.data["status"] as? String == "failed")
            let dbScan = try await c.json(
                .get, "/api/scans/\(((db["payload"] as? [String: Any])?["scanId"] as? String) ?? "")", key: fx.keys[.viewer]!)
            #expect(dbScan.data["status"] as? String == "failed" && dbScan.data["error"] as? String == "manifest unknown")
        }
    }

    @Test func malformedResultsAre400AndLargeReportsFit() async throws {
        let (f, _, _) = try await Self.make()
        let fx = f
        try await f.test { c in
            let sync = try await c.json(.post, "/api/registries/\(fx.sensorRegistry)/sync", key: fx.keys[.admin]!)
            let syncJob = sync.data["jobId"] as? String ?? ""
            _ = try await claim(c, fx.sensorKey)
            let path = "/api/sensor/jobs/\(syncJob)/result"
            for (body, issue): (JSONBody, String) in [
                (["tags": [Any]()], "status"),
                (["status": "done", "tags": [Any]()], "status"),
                (["status": "succeeded"], "tags"),
                (["status": "succeeded", "tags": [Any](), "bogus": 1], "bogus"),
                (["status": "succeeded", "tags": [["repository": "a", "tag": "1", "digest": Self.digestA, "x": 1]]], "tags[0].x"),
                (["status": "succeeded", "tags": [["repository": "a", "tag": "1"]]], "tags[0].digest"),
                (["status": "succeeded", "tags": "all"], "tags"),
                (["status": "succeeded", "tags": [Any](), "attempt": "one"], "attempt"),
            ] {
                let r = try await c.json(.post, path, key: fx.sensorKey, body: body)
                #expect(r.status == .badRequest, "\(body.value)")
                #expect(r.issuePaths.contains(issue), "\(body.value): \(r.issuePaths)")
            }
            do { let r = try await c.json(.post, path, key: fx.sensorKey, rawBody: "{not json"); #expect(r.errorCode == "BAD_REQUEST") }
            do { let r = try await c.json(.post, path, key: fx.sensorKey, rawBody: "[]"); #expect(r.errorCode == "BAD_REQUEST") }
            // Still leased after all that: the good result lands. Entries whose repository,
            // tag or digest break the grammar are skipped and counted, never stored.
            do {
                let bad: [[String: Any]] = [
                    ["repository": "a", "tag": "1", "digest": "md5:x"],
                    ["repository": "UPPER", "tag": "1", "digest": Self.digestA],
                    ["repository": String(repeating: "a", count: 5000), "tag": "1", "digest": Self.digestA],
                    ["repository": "a", "tag": "-x", "digest": Self.digestA],
                ]
                let r = try await c.json(
                    .post, path, key: fx.sensorKey, body: ["status": "succeeded", "tags": Self.syncTags() + bad])
                #expect(r.status == .ok)
                #expect(r.data["rejected"] as? Int == 4, "\(r.raw)")
                let n = Self.syncTags().count
                #expect((r.data["issues"] as? [[String: Any]])?.compactMap { $0["path"] as? String }
                    == ["tags[\(n)].digest", "tags[\(n + 1)].repository", "tags[\(n + 2)].repository", "tags[\(n + 3)].tag"])
                let imgs = try await c.json(.get, "/api/images?registryId=\(fx.sensorRegistry)", key: fx.keys[.viewer]!)
                let names = (imgs.body["data"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
                #expect(!names.contains("UPPER") && !names.contains { $0.count > 255 })
            }
            let scans = try await claim(c, fx.sensorKey, max: 10)
            let scanJob = scans.first?["id"] as? String ?? ""
            let scanPath = "/api/sensor/jobs/\(scanJob)/result"
            var badDigest = Self.report()
            badDigest["manifestDigest"] = "latest"
            var noPackages = Self.report()
            noPackages.removeValue(forKey: "packages")
            for (body, issue): (JSONBody, String) in [
                (["status": "succeeded"], "report"),
                (["status": "succeeded", "report": "x"], "report"),
                (["status": "succeeded", "report": badDigest], "report.manifestDigest"),
                (["status": "succeeded", "report": noPackages], "report.packages"),
                (["status": "succeeded", "report": Self.report(), "tags": [Any]()], "tags"),
                (["status": "succeeded", "report": Self.report(), "scanners": [["name": "clair", "status": "ok"]]], "scanners[0].name"),
            ] {
                let r = try await c.json(.post, scanPath, key: fx.sensorKey, body: body)
                #expect(r.status == .badRequest, "\(issue)")
                #expect(r.issuePaths.contains(issue), "\(issue): \(r.issuePaths) \(r.raw)")
            }
            // Over 1 MiB (the API's usual cap) but under the sensor's 32 MiB: accepted.
            let big: JSONBody = ["status": "succeeded", "report": Self.report(packages: 6000)]
            let size = try JSONSerialization.data(withJSONObject: big.value).count
            #expect(size > 1 << 20)
            let r = try await c.json(.post, scanPath, key: fx.sensorKey, body: big)
            #expect(r.status == .ok, "\(r.raw.prefix(300))")
            let scanId = (scans.first?["payload"] as? [String: Any])?["scanId"] as? String ?? ""
            let scan = try await c.json(.get, "/api/scans/\(scanId)", key: fx.keys[.viewer]!)
            #expect(scan.data["packageCount"] as? Int == 6002)
            // Over 32 MiB: 413.
            let huge = "{\"status\":\"succeeded\",\"report\":\"" + String(repeating: "x", count: 33 << 20) + "\"}"
            let tooBig = try await c.json(.post, "/api/sensor/jobs/\(scans.last?["id"] as? String ?? "")/result", key: fx.sensorKey, rawBody: huge)
            #expect(tooBig.status == .contentTooLarge)
            #expect(tooBig.errorCode == "PAYLOAD_TOO_LARGE")
            // Heartbeats and claims are validated too.
            for body: JSONBody in [["name": "s", "version": "1"], ["name": "", "version": "1", "hostname": "h"],
                                   ["name": "s", "version": "1", "hostname": "h", "extra": true]] {
                let r = try await c.json(.post, "/api/sensor/heartbeat", key: fx.sensorKey, body: body)
                #expect(r.status == .badRequest, "\(body.value)")
            }
            for body: JSONBody in [["max": 0], ["max": 11], ["max": 1.5], ["leaseSeconds": 5], ["limit": 1]] {
                let r = try await c.json(.post, "/api/sensor/jobs/claim", key: fx.sensorKey, body: body)
                #expect(r.status == .badRequest, "\(body.value)")
            }
        }
    }

    @Test func sensorStatusFollowsHeartbeatsAndAnOfflineSensorMakesItsRegistryUnhealthy() async throws {
        let (f, _, _) = try await Self.make()
        let fx = f
        try await f.test { c in
            let viewer = fx.keys[.viewer]!
            let path = "/api/registries/\(fx.sensorRegistry)/sensor-status"
            do {
                let r = try await c.json(.get, path, key: viewer)
                #expect(r.status == .ok && r.data["status"] as? String == "never_connected")
                #expect((r.data["jobs"] as? [String: Any])?["queued"] as? Int == 0)
            }
            do {
                let r = try await c.json(.get, "/api/registries/\(fx.registryA)/sensor-status", key: viewer)
                #expect(r.data["status"] as? String == "not_applicable" && r.data["scanMethod"] as? String == "cloud")
            }
            do { let r = try await c.json(.get, path, key: fx.sensorKey); #expect(r.status == .forbidden) }
            do { let r = try await c.json(.get, "/api/registries/\(fx.registryB)/sensor-status", key: viewer); #expect(r.status == .notFound) }

            let beat = try await c.json(.post, "/api/sensor/heartbeat", key: fx.sensorKey, body: [
                "name": "dc1-sensor", "version": "1.2.3", "hostname": "scanner01",
            ])
            #expect(beat.status == .ok)
            #expect(beat.data["registryId"] as? String == fx.sensorRegistry && (beat.data["pollIntervalSeconds"] as? Int ?? 0) > 0)
            do {
                let r = try await c.json(.get, path, key: viewer)
                #expect(r.data["status"] as? String == "online")
                #expect(r.data["name"] as? String == "dc1-sensor" && r.data["version"] as? String == "1.2.3")
                #expect((r.data["sensor"] as? [String: Any])?["hostname"] as? String == "scanner01")
                #expect(r.data["lastHeartbeatAt"] as? String != nil)
            }
            // A job in hand: scanning; the queue counts show.
            _ = try await c.json(.post, "/api/registries/\(fx.sensorRegistry)/sync", key: fx.keys[.admin]!)
            do {
                let r = try await c.json(.get, path, key: viewer)
                #expect((r.data["jobs"] as? [String: Any])?["queued"] as? Int == 1)
            }
            _ = try await claim(c, fx.sensorKey)
            do {
                let r = try await c.json(.get, path, key: viewer)
                #expect(r.data["status"] as? String == "scanning")
                #expect((r.data["jobs"] as? [String: Any])?["running"] as? Int == 1)
            }
            // Three minutes without a heartbeat: offline, and the registry unhealthy.
            let past = Timestamp.format(Date().addingTimeInterval(-180))
            try await fx.services.db.writer.write { db in
                try db.execute(sql: "UPDATE sensors SET last_heartbeat_at = ? WHERE registry_id = ?", arguments: [past, fx.sensorRegistry])
            }
            do {
                let r = try await c.json(.get, path, key: viewer)
                #expect(r.data["status"] as? String == "offline")
                let reg = try await c.json(.get, "/api/registries/\(fx.sensorRegistry)", key: viewer)
                let health = reg.data["health"] as? [String: Any] ?? [:]
                #expect(health["status"] as? String == "unhealthy")
                #expect((health["lastError"] as? String ?? "").hasPrefix("Sensor offline"))
            }
            // Back: online, and the outage's error is gone.
            _ = try await c.json(.post, "/api/sensor/heartbeat", key: fx.sensorKey, body: ["name": "dc1-sensor", "version": "1.2.4", "hostname": "scanner01"])
            do {
                let r = try await c.json(.get, path, key: viewer)
                #expect(r.data["status"] as? String != "offline" && r.data["version"] as? String == "1.2.4")
                let reg = try await c.json(.get, "/api/registries/\(fx.sensorRegistry)", key: viewer)
                let health = reg.data["health"] as? [String: Any] ?? [:]
                #expect(health["status"] as? String == "unknown" && health["lastError"] is NSNull)
            }
        }
    }

    @Test func theSchedulerMarksSilentSensorsOffline() async throws {
        let (f, _, _) = try await Self.make()
        let fx = f
        try await f.test { c in
            let r = try await c.json(.post, "/api/sensor/heartbeat", key: fx.sensorKey, body: ["name": "s", "version": "1", "hostname": "h"])
            #expect(r.status == .ok)
        }
        let settings = SensorSettings()
        let (now, later) = (Date(), Date().addingTimeInterval(121))
        let counts = try await f.services.db.writer.write { db in
            (try settings.markOffline(now: now, in: db), try settings.markOffline(now: later, in: db),
             try settings.markOffline(now: later, in: db),
             try String.fetchOne(db, sql: "SELECT health_status FROM registries WHERE id = ?", arguments: [fx.sensorRegistry]))
        }
        #expect(counts.0 == 0 && counts.1 == 1 && counts.2 == 0 && counts.3 == "unhealthy")
    }
}
