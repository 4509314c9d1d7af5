import Cron
import Foundation
import GRDB
import Registry
import Store

/// The registry object of the API (the seed's fields plus insecure, hasCredentials,
/// health.score/lastError, webhookUrl; one-time secrets only on create).
struct RegistryDTO: Encodable {
    struct Scanning: Encodable {
        var schedule: String
        var scanners: [String]
        var tagInclude: String?
        var tagExclude: String?

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(schedule, forKey: .schedule)
            try c.encode(scanners, forKey: .scanners)
            try c.encode(tagInclude, forKey: .tagInclude)
            try c.encode(tagExclude, forKey: .tagExclude)
        }
        enum CodingKeys: String, CodingKey { case schedule, scanners, tagInclude, tagExclude }
    }

    struct Health: Encodable {
        var status: String
        var lastSyncAt: String?
        var score: Int
        var lastError: String?

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(status, forKey: .status)
            try c.encode(lastSyncAt, forKey: .lastSyncAt)
            try c.encode(score, forKey: .score)
            try c.encode(lastError, forKey: .lastError)
        }
        enum CodingKeys: String, CodingKey { case status, lastSyncAt, score, lastError }
    }

    var id: String
    var name: String
    var provider: String
    var url: String?
    var scanMethod: String
    var scanning: Scanning
    var imageCount: Int
    var health: Health
    var insecure: Bool
    var hasCredentials: Bool
    var webhookUrl: String
    var sensorApiKey: String?
    var webhookToken: String?
    /// Only in an update's answer, true when the update dropped the stored credentials.
    var credentialsDropped: Bool?
    var createdAt: String
    var updatedAt: String

    init(
        _ r: RegistryRecord, baseURL: String, sensorApiKey: String? = nil, webhookToken: String? = nil,
        credentialsDropped: Bool = false
    ) {
        id = r.id
        name = r.name
        provider = r.provider.rawValue
        url = r.url.isEmpty ? nil : r.url
        scanMethod = r.scanMethod.rawValue
        scanning = Scanning(
            schedule: r.schedule.rawValue, scanners: r.scanners, tagInclude: r.tagInclude, tagExclude: r.tagExclude)
        imageCount = r.imageCount
        health = Health(
            status: r.healthStatus.rawValue, lastSyncAt: r.lastSyncAt.map(Timestamp.format), score: r.healthScore,
            lastError: r.healthLastError)
        insecure = r.insecure
        hasCredentials = r.hasCredentials
        webhookUrl = "\(baseURL)/api/registries/\(r.id)/events"
        self.sensorApiKey = sensorApiKey
        self.webhookToken = webhookToken
        self.credentialsDropped = credentialsDropped ? true : nil
        createdAt = Timestamp.format(r.createdAt)
        updatedAt = Timestamp.format(r.updatedAt)
    }

    enum CodingKeys: String, CodingKey {
        case id, name, provider, url, scanMethod, scanning, imageCount, health, insecure, hasCredentials, webhookUrl,
            sensorApiKey, webhookToken, credentialsDropped, createdAt, updatedAt
    }

    /// The same document as `encode(to:)` with sorted keys, written without JSONEncoder.
    func write(to w: inout JSONWriter) {
        w.beginObject()
        w.field("createdAt", createdAt)
        if let credentialsDropped { w.field("credentialsDropped", credentialsDropped) }
        w.field("hasCredentials", hasCredentials)
        w.beginObject("health")
        w.field("lastError", health.lastError)
        w.field("lastSyncAt", health.lastSyncAt)
        w.field("score", health.score)
        w.field("status", health.status)
        w.endObject()
        w.field("id", id)
        w.field("imageCount", imageCount)
        w.field("insecure", insecure)
        w.field("name", name)
        w.field("provider", provider)
        w.field("scanMethod", scanMethod)
        w.beginObject("scanning")
        w.field("scanners", scanning.scanners)
        w.field("schedule", scanning.schedule)
        w.field("tagExclude", scanning.tagExclude)
        w.field("tagInclude", scanning.tagInclude)
        w.endObject()
        if let sensorApiKey { w.field("sensorApiKey", sensorApiKey) }
        w.field("updatedAt", updatedAt)
        w.field("url", url)
        if let webhookToken { w.field("webhookToken", webhookToken) }
        w.field("webhookUrl", webhookUrl)
        w.endObject()
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(name, forKey: .name)
        try c.encode(provider, forKey: .provider)
        try c.encode(url, forKey: .url)
        try c.encode(scanMethod, forKey: .scanMethod)
        try c.encode(scanning, forKey: .scanning)
        try c.encode(imageCount, forKey: .imageCount)
        try c.encode(health, forKey: .health)
        try c.encode(insecure, forKey: .insecure)
        try c.encode(hasCredentials, forKey: .hasCredentials)
        try c.encode(webhookUrl, forKey: .webhookUrl)
        try c.encodeIfPresent(sensorApiKey, forKey: .sensorApiKey)
        try c.encodeIfPresent(webhookToken, forKey: .webhookToken)
        try c.encodeIfPresent(credentialsDropped, forKey: .credentialsDropped)
        try c.encode(createdAt, forKey: .createdAt)
        try c.encode(updatedAt, forKey: .updatedAt)
    }
}
