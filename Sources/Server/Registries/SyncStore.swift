public import Cron
public import Foundation
import GRDB
public import Store

/// One tag as a registry reports it.
public struct DiscoveredTag: Sendable, Hashable {
    public var repository: String
    public var tag: String
    public var digest: String

    public init(repository: String, tag: String, digest: String) {
        self.repository = repository
        self.tag = tag
        self.digest = digest
    }
}

/// What applying a sync changed.
public struct SyncOutcome: Sendable, Hashable, Codable {
    public var repositories: Int
    public var tags: Int
    public var newTags: Int
    public var changedTags: Int
    public var removedTags: Int
    public var removedImages: Int
    public var scansEnqueued: Int
}

/// What enqueueing a scan did.
public struct ScanEnqueueResult: Sendable, Hashable {
    public var scanId: String
    public var jobId: String
    /// True when a new scan was queued or the queued one retargeted; false when an
    /// identical scan of the tag was already queued or running.
    public var enqueued: Bool
}

public enum SyncStore {
    /// Replaces what is recorded for `registryId` with `discovered` in one transaction:
    /// new images and tags are inserted, changed digests updated, vanished tags and images
    /// removed. A scan is enqueued for each new or changed digest when the schedule is
    /// `on_push` or the tag was never scanned (at most one active scan per tag).
    public static func apply(
        _ discovered: [DiscoveredTag], registry: RegistryRecord, registryHost: String, now: Date, in db: any SQLConnection
    ) throws -> SyncOutcome {
        let existingImages = try ImageRepository.imageIds(db, registryId: registry.id)  // repository → image id
        struct Known { var digest: String; var scanned: Bool }
        var existingTags: [String: [String: Known]] = [:]  // image id → tag → known
        for t in try ImageRepository.knownTags(db, registryId: registry.id) {
            existingTags[t.imageId, default: [:]][t.name] = Known(digest: t.digest, scanned: t.scanned)
        }
        var byRepo: [String: [DiscoveredTag]] = [:]
        for d in discovered { byRepo[d.repository, default: []].append(d) }
        var outcome = SyncOutcome(
            repositories: byRepo.count, tags: discovered.count, newTags: 0, changedTags: 0, removedTags: 0,
            removedImages: 0, scansEnqueued: 0)
        var toScan: [ScanRequest] = []
        var newImages: [NewImage] = []
        for (repo, tags) in byRepo.sorted(by: { $0.key < $1.key }) {
            let imageId = try existingImages[repo]
                ?? insertImage(registry: registry, registryHost: registryHost, repository: repo, now: now, newImages: &newImages, in: db)
            var known = existingTags[imageId] ?? [:]
            for t in tags {
                let prior = known.removeValue(forKey: t.tag)
                if let prior, prior.digest == t.digest { continue }
                if prior == nil {
                    outcome.newTags += 1
                    try ImageRepository.insertTag(db, imageId: imageId, tag: t.tag, digest: t.digest, now: now)
                } else {
                    outcome.changedTags += 1
                    try ImageRepository.updateTagDigest(db, imageId: imageId, tag: t.tag, digest: t.digest, now: now)
                }
                if registry.schedule == .onPush || prior?.scanned != true {
                    toScan.append(.init(
                        registryId: registry.id, repository: repo, tag: t.tag, digest: t.digest,
                        trigger: registry.schedule == .onPush ? "push" : "schedule"))
                }
            }
            for (gone, _) in known {
                outcome.removedTags += 1
                try ImageRepository.deleteTag(db, imageId: imageId, tag: gone)
            }
            try ImageRepository.refreshAggregates(db, imageId: imageId, now: now)
        }
        for (repo, id) in existingImages where byRepo[repo] == nil {
            outcome.removedImages += 1
            outcome.removedTags += existingTags[id]?.count ?? 0
            try ImageRepository.deleteImage(db, id: id)
        }
        // One `new_image` delivery per channel for the whole sync, however many repositories appeared.
        try notifyNewImages(registry: registry, newImages, now: now, in: db)
        for scan in toScan {
            if try enqueueScan(scan, orgId: registry.orgId, now: now, registryHost: registryHost, in: db).enqueued {
                outcome.scansEnqueued += 1
            }
        }
        try ImageRepository.refreshImageCount(db, registryId: registry.id)
        return outcome
    }

    /// Enqueues a scan of the tag's current digest: a new scan and job, or the tag's queued
    /// scan retargeted to the new digest. At most one queued or running scan per tag and
    /// platform (the jobs table's unique dedupe index enforces it).
    @discardableResult
    public static func enqueueScan(
        _ request: ScanRequest, orgId: String, now: Date, registryHost: String? = nil, in db: any SQLConnection
    ) throws -> ScanEnqueueResult {
        var scan = request
        scan.scanId = scan.scanId ?? IDs.make("scn")
        // A sensor registry is out of the server's reach: its sensor claims `sensor_scan` jobs.
        let sensor = try RegistryRepository.scanMethod(db, id: scan.registryId) == .sensor
        scan.origin = sensor ? "sensor" : "cloud"
        // Sorted keys: the payload is compared to the queued job's to tell a retarget from a repeat.
        let kind = TypedJobKind.scan(sensor: sensor)
        let (job, created) = try JobStore.enqueue(
            try NewJob(kind, scan, orgId: orgId, concurrencyKey: scan.registryId, dedupeKey: scan.dedupeKey),
            now: now, in: db)
        if created {
            try ScanRepository.insertScan(
                id: scan.scanId!, request: scan, orgId: orgId, jobId: job.id, registryHost: registryHost, now: now, in: db)
            return ScanEnqueueResult(scanId: scan.scanId!, jobId: job.id, enqueued: true)
        }
        var existing = (try? kind.payload(of: job)) ?? scan
        if existing.scanId == nil {
            // A job queued before scans had rows: give it one now.
            existing.scanId = scan.scanId
            try ScanRepository.insertScan(
                id: scan.scanId!, request: existing, orgId: orgId, jobId: job.id, registryHost: registryHost, now: now, in: db)
        }
        let existingId = existing.scanId!
        guard job.status == .queued, existing.digest != scan.digest || existing.scanners != scan.scanners else {
            try writePayload(existing, jobId: job.id, in: db)
            return ScanEnqueueResult(scanId: existingId, jobId: job.id, enqueued: false)
        }
        var retargeted = scan
        retargeted.scanId = existingId
        try writePayload(retargeted, jobId: job.id, in: db)
        let host = try registryHost
            ?? RegistryRepository.url(db, id: scan.registryId).map(ScanRepository.host(ofRegistryURL:))
            ?? ""
        try ScanRepository.retarget(existingId, to: scan, host: host, in: db)
        return ScanEnqueueResult(scanId: existingId, jobId: job.id, enqueued: true)
    }

    static func writePayload(_ request: ScanRequest, jobId: String, in db: any SQLConnection) throws {
        let payload = String(decoding: try JSONCoding.encoder.encode(request), as: UTF8.self)
        try JobStore.setPayload(payload, jobId: jobId, in: db)
    }

    /// An image a sync, scan or push created (for the coalesced `new_image` notification).
    public struct NewImage: Sendable, Hashable {
        public var id: String
        public var fullName: String
    }

    /// At most this many images are named in one coalesced `new_image` body.
    static let namedImagesLimit = 50

    /// One `new_image` notification for all of `images` (nothing when empty). A single image
    /// gets the body it always had; several get one body that counts and names them, so one
    /// request or sync never fans out into a delivery per image.
    static func notifyNewImages(registry: RegistryRecord, _ images: [NewImage], now: Date, in db: any SQLConnection) throws {
        guard let first = images.first else { return }
        if images.count == 1 {
            try Notifications.emit(
                .newImage, orgId: registry.orgId, severity: "info", title: "New image: \(first.fullName)",
                message: "Registry \(registry.name) has a new repository \(first.fullName).",
                fields: ["imageId": first.id, "registryId": registry.id, "image": first.fullName], now: now, in: db)
            return
        }
        let named = images.prefix(namedImagesLimit)
        var list = named.map(\.fullName).joined(separator: ", ")
        if images.count > named.count { list += " and \(images.count - named.count) more" }
        try Notifications.emit(
            .newImage, orgId: registry.orgId, severity: "info", title: "\(images.count) new images in \(registry.name)",
            message: "Registry \(registry.name) has \(images.count) new repositories: \(list).",
            fields: [
                "registryId": registry.id, "imageCount": "\(images.count)",
                "images": named.map(\.fullName).joined(separator: ","), "imageIds": named.map(\.id).joined(separator: ","),
            ],
            now: now, in: db)
    }
}

extension SyncStore {
    /// Records one tag (from a scan); true when the tag is new or its digest changed.
    public static func recordTag(
        registry: RegistryRecord, registryHost: String, repository: String, tag: String, digest: String, now: Date,
        in db: any SQLConnection
    ) throws -> Bool {
        var created: [NewImage] = []
        let changed = try recordTag(
            registry: registry, registryHost: registryHost, repository: repository, tag: tag, digest: digest, now: now,
            newImages: &created, in: db)
        try notifyNewImages(registry: registry, created, now: now, in: db)
        return changed
    }

    /// A new image row for a repository first seen; appended to `newImages` for the one
    /// coalesced `new_image` notification.
    static func insertImage(
        registry: RegistryRecord, registryHost: String, repository: String, now: Date, newImages: inout [NewImage], in db: any SQLConnection
    ) throws -> String {
        let id = IDs.make("img")
        let fullName = "\(registryHost)/\(repository)"
        try ImageRepository.insertImage(
            db, id: id, orgId: registry.orgId, registryId: registry.id, name: repository, fullName: fullName, now: now)
        newImages.append(NewImage(id: id, fullName: fullName))
        return id
    }

    /// Records one tag (from a confirmed push event); an image it creates is appended to
    /// `newImages` for the caller's one coalesced notification. True when the tag is new or
    /// its digest changed.
    public static func recordTag(
        registry: RegistryRecord, registryHost: String, repository: String, tag: String, digest: String, now: Date,
        newImages: inout [NewImage], in db: any SQLConnection
    ) throws -> Bool {
        let imageId = try ImageRepository.imageId(db, registryId: registry.id, repository: repository)
            ?? insertImage(registry: registry, registryHost: registryHost, repository: repository, now: now, newImages: &newImages, in: db)
        if try ImageRepository.tagDigest(db, imageId: imageId, tag: tag) == digest { return false }
        try ImageRepository.upsertTag(db, imageId: imageId, tag: tag, digest: digest, now: now)
        try ImageRepository.refreshAggregates(db, imageId: imageId, now: now)
        try ImageRepository.refreshImageCount(db, registryId: registry.id)
        return true
    }
}
