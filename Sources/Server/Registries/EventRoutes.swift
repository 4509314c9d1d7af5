import Cron
import Crypto
import Foundation
import GRDB
import Hummingbird
import Logging
import NIOCore
import Registry
import Scan
import Synchronization
import Store

/// Limits of the push-event receiver (README, "Push events").
enum PushEventLimits {
    /// Entries in one notification; a request with more is answered 413 and nothing in it is applied.
    static let maxEntries = 100
    /// Requests per registry per minute (fixed window), counted once the webhook token is verified.
    static let requestsPerMinute = 60
    /// An event seen again within this window is a no-op.
    static let replayWindow: TimeInterval = 600
    /// One confirmation request (HEAD of a manifest) at most this long …
    static let confirmTimeout: Duration = .seconds(5)
    /// … all of a request's confirmations together at most this long …
    static let confirmBudget: Duration = .seconds(15)
    /// … and at most this many at once.
    static let confirmConcurrency = 4
    /// Targets per request whose tag may be asked again (0.2 + 0.4 + 0.8 s) while the
    /// registry links it; the rest are answered on the first look.
    static let tagRetries = 8
    /// Remembered events (all registries); beyond this, expired ones are pruned first, then all.
    static let replayMemory = 500_000
}

/// State the receiver keeps between requests: the per-registry rate limit and the events it
/// applied recently (in memory: a restart forgets them, and the registry's digest
/// confirmation still guards what is stored).
final class PushEventGuard: Sendable {
    let limiter = RateLimiter(limit: PushEventLimits.requestsPerMinute)
    private let seen = Mutex<[String: Date]>([:])  // event key → expiry

    init() {}

    /// Claims `key` for `window` seconds; false when it was claimed within the window (a replay).
    func claim(_ key: String, now: Date, window: TimeInterval = PushEventLimits.replayWindow) -> Bool {
        seen.withLock { map in
            if let expiry = map[key], expiry > now { return false }
            if map.count >= PushEventLimits.replayMemory {
                map = map.filter { $0.value > now }
                if map.count >= PushEventLimits.replayMemory { map.removeAll(keepingCapacity: true) }
            }
            map[key] = now.addingTimeInterval(window)
            return true
        }
    }

    /// Forgets claims of events that were not applied (rejected), so the registry may send them again.
    func release(_ keys: [String]) {
        guard !keys.isEmpty else { return }
        seen.withLock { map in for k in keys { map.removeValue(forKey: k) } }
    }

    /// The replay key of an event: its id when the format has one, else what it says.
    static func key(registryId: String, _ e: PushedTag) -> String {
        let raw = e.id.map { "id\u{0}\($0)" } ?? "ref\u{0}\(e.repository)\u{0}\(e.tag ?? "")\u{0}\(e.digest ?? "")"
        let hash = SHA256.hash(data: Data(raw.utf8)).hexString
        return "\(registryId):\(hash)"
    }
}

/// `POST /api/registries/{registryId}/events`: push notifications from the registry,
/// authenticated by the registry's webhook token (Bearer or `?token=`).
///
/// Nothing in a notification is trusted: every entry's repository, tag and digest must fit
/// the distribution grammar, and its digest must be confirmed by the registry itself (HEAD of
/// the manifest, with the registry's stored credentials) before it replaces a stored digest,
/// creates an image or queues a scan. A sensor registry is out of the server's reach: its
/// entries are not stored, a sync is queued for its sensor, which records what the registry
/// really holds. Bad entries are skipped and counted; the answer is 202 with the counts.
struct EventRoutes {
    let s: AppServices
    let crawler: Crawler
    let guardState: PushEventGuard

    func register(_ api: RouteTable) {
        api.post("/api/registries/{registryId}/events", receive)
    }

    struct Issue: Encodable, Sendable {
        var index: Int
        var field: String
        var message: String
    }

    /// What one request's entries came to.
    struct Tally {
        var accepted = 0, rejected = 0, duplicates = 0, enqueued = 0, skipped = 0
        var issues: [Issue] = []

        mutating func reject(_ e: PushedTag, _ field: String, _ message: String) {
            rejected += 1
            issues.append(Issue(index: e.index, field: field, message: message))
        }
    }

    @Sendable func receive(_ req: Request, _ ctx: AppRequestContext) async throws -> Response {
        let id = ctx.parameters.get("registryId") ?? ""
        var token = req.uri.queryParameters["token"].map(String.init)
        if let a = req.headers[.authorization] {
            let parts = a.split(separator: " ", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "bearer" { token = String(parts[1]) }
        }
        guard let token, Tokens.isWellFormed(token, prefix: Tokens.webhookPrefix) else { throw APIError.unauthorized }
        let stored: (RegistryRecord, Data)? = try await s.db.read { db in
            guard let registry = try RegistryRepository.registry(db, id: id), let hash = registry.webhookTokenHash
            else { return nil }
            return (registry, hash)
        }
        // Unknown registry and wrong token look the same to the caller.
        guard let (registry, hash) = stored, Tokens.constantTimeEquals(hash, Tokens.hash(token)) else {
            throw APIError.unauthorized
        }
        // Counted per registry once the token is verified: a stranger cannot spend a registry's budget.
        try guardState.limiter.hit("registry:\(registry.id)")
        if let ct = req.headers[.contentType]?.lowercased(), !(ct.hasPrefix("application/json") || ct.contains("+json")) {
            throw APIError.badRequest("Content-Type must be JSON (application/json or a +json type).")
        }
        let buffer: ByteBuffer
        do {
            buffer = try await req.body.collect(upTo: 1 << 20)
        } catch is NIOTooManyBytesError {
            throw APIError.payloadTooLarge
        }
        if let problem = StrictJSON.problem(in: buffer.readableBytesView) { throw APIError.badRequest(problem) }
        let body: JSONValue
        do {
            body = try JSONDecoder().decode(JSONValue.self, from: Data(buffer.readableBytesView))
        } catch {
            throw APIError.badRequest("The request body is not valid JSON.")
        }
        guard let parsed = PushEvents.parse(body) else {
            throw APIError.badRequest(
                "Unrecognised notification: expected a CNCF distribution, Harbor, GitHub, Docker Hub, Quay or JFrog push event.")
        }
        guard parsed.entries <= PushEventLimits.maxEntries else {
            throw APIError(
                .contentTooLarge, code: "PAYLOAD_TOO_LARGE",
                message: "At most \(PushEventLimits.maxEntries) events per request; this one has \(parsed.entries). Nothing was applied.")
        }
        let format = parsed.format
        let filter = try? TagFilter(include: registry.tagInclude, exclude: registry.tagExclude)
        let now = s.now

        // 1. Grammar, filters and replays; what is left needs the registry's word.
        var tally = Tally()
        var pending: [(event: PushedTag, key: String)] = []
        for e in parsed.tags {
            if let field = e.malformed { tally.reject(e, field, "Must be a string."); continue }
            if e.tag == nil && e.digest == nil { tally.reject(e, "tag", "Neither a tag nor a digest."); continue }
            let problems = ReceivedTag.problems(repository: e.repository, tag: e.tag, digest: e.digest)
            if let first = problems.first { tally.reject(e, first.field, first.message); continue }
            if let tag = e.tag, filter?.allows(tag) == false {
                tally.accepted += 1
                tally.skipped += 1
                continue
            }
            let key = PushEventGuard.key(registryId: registry.id, e)
            guard guardState.claim(key, now: now) else { tally.duplicates += 1; continue }
            pending.append((e, key))
        }

        // 2. Confirmation: each distinct (repository, tag, digest) once, bounded in time.
        let sensor = registry.scanMethod == .sensor
        var confirmed: [(event: PushedTag, digest: String)] = []
        var released: [String] = []
        if sensor {
            // The server cannot reach it: nothing unconfirmed is stored; its sensor's next sync records the truth.
            tally.accepted += pending.count
            tally.skipped += pending.count
        } else if !pending.isEmpty {
            let targets = Array(Set(pending.map { ConfirmTarget($0.event) }))
            let answers = await confirm(targets, registry: registry)
            for (e, key) in pending {
                switch answers[ConfirmTarget(e)] ?? .refused("The registry did not confirm the digest in time.") {
                case .confirmed(let digest):
                    confirmed.append((e, digest))
                case .refused(let why):
                    tally.reject(e, e.digest == nil ? "tag" : "digest", why)
                    released.append(key)
                }
            }
        }
        guardState.release(released)

        // 3. Apply what was confirmed, with one coalesced notification.
        let host = ScanRepository.host(ofRegistryURL: registry.url)
        let onPush = registry.schedule == .onPush
        let toApply = confirmed
        let requestSync = sensor && !pending.isEmpty
        let ip = ctx.remoteIP
        let (enqueued, skipped) = try await s.db.write { db -> (Int, Int) in
            var enqueued = 0, skipped = 0
            var newImages: [SyncStore.NewImage] = []
            for (e, digest) in toApply {
                if let tag = e.tag {
                    _ = try SyncStore.recordTag(
                        registry: registry, registryHost: host, repository: e.repository, tag: tag, digest: digest,
                        now: now, newImages: &newImages, in: db)
                }
                guard onPush else { skipped += 1; continue }
                let scan = ScanRequest(registryId: registry.id, repository: e.repository, tag: e.tag, digest: digest, trigger: "push")
                if try SyncStore.enqueueScan(scan, orgId: registry.orgId, now: now, registryHost: host, in: db).enqueued {
                    enqueued += 1
                } else {
                    skipped += 1
                }
            }
            if requestSync {
                _ = try JobStore.enqueue(
                    try NewJob(.sensorSync, SyncJobPayload(registryId: registry.id), orgId: registry.orgId, concurrencyKey: registry.id,
                           dedupeKey: "sync:\(registry.id)", maxAttempts: 3),
                    now: now, in: db)
            }
            try SyncStore.notifyNewImages(registry: registry, newImages, now: now, in: db)
            try AppServices.audit(
                db, org: registry.orgId, actor: "webhook:\(format.rawValue)", action: "registry.push_event",
                target: registry.id, ip: ip, now: now)
            return (enqueued, skipped)
        }
        tally.accepted += confirmed.count
        tally.enqueued += enqueued
        tally.skipped += skipped
        var metadata: Logger.Metadata = [
            "registry": "\(registry.id)", "format": "\(format.rawValue)", "accepted": "\(tally.accepted)",
            "rejected": "\(tally.rejected)", "duplicates": "\(tally.duplicates)", "enqueued": "\(tally.enqueued)",
        ]
        // The first problem, in the server's own words (never the value that was sent).
        if let first = tally.issues.first { metadata["firstIssue"] = "\(first.index).\(first.field): \(first.message)" }
        s.logger.info("push event", metadata: metadata)
        struct Accepted: Encodable {
            var registryId: String, format: String, events: Int, accepted: Int, rejected: Int, duplicates: Int
            var enqueued: Int, skipped: Int, syncQueued: Bool, issues: [Issue]
        }
        return try Reply.data(
            Accepted(
                registryId: registry.id, format: format.rawValue, events: parsed.tags.count, accepted: tally.accepted,
                rejected: tally.rejected, duplicates: tally.duplicates, enqueued: tally.enqueued, skipped: tally.skipped,
                syncQueued: requestSync, issues: tally.issues),
            status: .accepted)
    }

    // MARK: - Confirmation

    /// What is asked of the registry: the tag's current digest (compared with the event's),
    /// or whether the digest exists in the repository.
    struct ConfirmTarget: Hashable, Sendable {
        var repository: String
        var tag: String?
        var digest: String?

        init(_ e: PushedTag) {
            repository = e.repository
            tag = e.tag
            digest = e.digest
        }
    }

    enum Answer: Sendable {
        /// The digest the registry holds for the entry.
        case confirmed(String)
        case refused(String)
    }

    /// Asks the registry about each target with its stored credentials: at most
    /// `confirmConcurrency` at once, each within `confirmTimeout`, all within `confirmBudget`.
    /// Once the registry cannot be reached, the rest are not tried.
    func confirm(_ targets: [ConfirmTarget], registry: RegistryRecord) async -> [ConfirmTarget: Answer] {
        let client: RegistryClient
        do {
            let credentials = try await s.registryCredentials(registry.id)
            client = try crawler.confirmationClient(registry, credentials: credentials, timeout: PushEventLimits.confirmTimeout)
        } catch {
            s.logger.warning("push event: no registry client", metadata: ["registry": "\(registry.id)", "error": "\(error)"])
            return Dictionary(uniqueKeysWithValues: targets.map { ($0, .refused("The registry could not be asked to confirm the digest.")) })
        }
        var answers: [ConfirmTarget: Answer] = [:]
        await withTaskGroup(of: (ConfirmTarget, Answer, Bool)?.self) { group in
            group.addTask {
                try? await Task.sleep(for: PushEventLimits.confirmBudget)
                return nil
            }
            let retries = Allowance(PushEventLimits.tagRetries)
            var queue = targets.makeIterator()
            var running = 0
            var unreachable = false
            func next() {
                guard !unreachable, let t = queue.next() else { return }
                running += 1
                group.addTask { await Self.ask(client, t, retries: retries) }
            }
            for _ in 0..<PushEventLimits.confirmConcurrency { next() }
            while running > 0, let item = await group.next() {
                guard let (target, answer, fatal) = item else { break }  // the budget ran out
                running -= 1
                answers[target] = answer
                if fatal { unreachable = true }
                next()
            }
            group.cancelAll()
            if unreachable {
                for t in targets where answers[t] == nil {
                    answers[t] = .refused("The registry could not be reached to confirm the digest.")
                }
            }
        }
        return answers
    }

    /// A count shared by one request's confirmations.
    final class Allowance: Sendable {
        private let left: Mutex<Int>
        init(_ n: Int) { left = Mutex(n) }
        /// Takes one; false when none is left.
        func take() -> Bool {
            left.withLock { n in
                guard n > 0 else { return false }
                n -= 1
                return true
            }
        }
    }

    /// The tag's digest, asked again after 0.2, 0.4 and 0.8 s while the registry has no such tag.
    static func retryTag(
        _ client: RegistryClient, _ repo: Repository, _ ref: ManifestReference
    ) async throws(RegistryError) -> Registry.Digest {
        var last = RegistryError.notFound("tag")
        for delay in [200, 400, 800] {
            try? await Task.sleep(for: .milliseconds(delay))
            if Task.isCancelled { throw .timeout("confirmation budget") }
            do throws(RegistryError) {
                return try await client.resolveDigest(repo, reference: ref)
            } catch .notFound(let m) {
                last = .notFound(m)
            }
        }
        throw last
    }

    /// One HEAD (a few when a pushed tag is not linked yet); `fatal` when the registry itself is out of reach (the rest would fail alike).
    static func ask(_ client: RegistryClient, _ t: ConfirmTarget, retries: Allowance) async -> (ConfirmTarget, Answer, Bool)? {
        do throws(RegistryError) {
            let repo = try Repository(t.repository)
            if let tag = t.tag {
                let ref = ManifestReference.tag(try Tag(tag))
                let actual: Registry.Digest
                do throws(RegistryError) {
                    actual = try await client.resolveDigest(repo, reference: ref)
                } catch .notFound(let m) {
                    guard let digest = t.digest, retries.take() else { throw RegistryError.notFound(m) }
                    // The distribution registry notifies before it links the tag: when the
                    // pushed manifest exists, the tag gets a few moments to appear.
                    _ = try await client.resolveDigest(repo, reference: .digest(try Registry.Digest(digest)))
                    actual = try await Self.retryTag(client, repo, ref)
                }
                if let claimed = t.digest, claimed != actual.description {
                    return (t, .refused("The registry holds another digest for this tag."), false)
                }
                return (t, .confirmed(actual.description), false)
            }
            guard let digest = t.digest else { return (t, .refused("Neither a tag nor a digest."), false) }
            let actual = try await client.resolveDigest(repo, reference: .digest(try Registry.Digest(digest)))
            return (t, .confirmed(actual.description), false)
        } catch {
            switch error {
            case .notFound: return (t, .refused("The registry has no such manifest."), false)
            case .digestMismatch: return (t, .refused("The registry holds another digest."), false)
            case .authFailed: return (t, .refused("The registry refused the stored credentials."), true)
            case .unreachable, .timeout, .tlsError, .rateLimited, .invalidConfiguration:
                return (t, .refused("The registry could not be reached to confirm the digest."), true)
            default: return (t, .refused("The registry did not confirm the digest."), false)
            }
        }
    }
}
