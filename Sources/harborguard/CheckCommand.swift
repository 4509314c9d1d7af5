import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import Registry
import Scan

/// `harborguard check IMAGE --server URL`: asks the server whether an image may ship
/// (`POST /api/policy/check`), for CI pipelines.
struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check an image against the server's policies (the CI gate): pass, warn or fail.",
        discussion: """
            Asks the server (POST /api/policy/check) for the verdict of the image's latest scan, evaluated now with the \
            exceptions in force now; the server resolves a tag through the registry and scans the digest when it has no \
            scan of it yet, and this command asks again until --wait seconds are spent.
            Exit status: 0 pass or warn, 3 fail (and warn with --fail-on warn), 1 an error (server unreachable, key \
            refused, registry error, the scan still pending after --wait), 64 bad arguments.
            The API key needs role ci or above (--api-key or HARBORGUARD_API_KEY; prefer the environment in CI).
            JUnit: one test case per policy rule (classname: the policy), each violation a failure; warn-action \
            violations are failures only with --fail-on warn, otherwise listed in the test case's system-out.
            """)

    enum Format: String, ExpressibleByArgument, CaseIterable { case table, json, junit }
    enum FailOn: String, ExpressibleByArgument, CaseIterable {
        case fail, warn
        var report: CheckReport.FailOn { self == .warn ? .warn : .fail }
    }

    @OptionGroup var global: GlobalOptions
    @Argument(help: "Image reference: host[:port]/repo:tag or host[:port]/repo@sha256:…") var image: String
    @Option(help: "The appliance's base URL, e.g. https://harborguard.example.com.") var server: String
    @Option(help: "API key with role ci or above (or HARBORGUARD_API_KEY).") var apiKey: String?
    @Option(help: "Seconds to wait for the server to scan an image it has not scanned yet (0-86400).") var wait: Int = 600
    @Option(help: "Output: table, json (the server's answer) or junit (JUnit XML).") var format: Format = .table
    @Option(help: "Write the report here instead of standard output.") var output: String?
    @Option(help: "The verdict from which the check exits 3: fail, or warn to fail on warnings too.")
    var failOn: FailOn = .fail
    @Flag(help: "Do not verify the server's TLS certificate.") var insecure = false

    func validate() throws {
        guard let u = URLComponents(string: server), ["http", "https"].contains(u.scheme ?? ""), u.host?.isEmpty == false else {
            throw ValidationError("--server must be an http(s) URL")
        }
        if wait < 0 || wait > 86_400 { throw ValidationError("--wait must be 0-86400 seconds") }
        do { _ = try ImageReference(image) } catch { throw ValidationError("not an image reference: \(error)") }
    }

    func run() async throws {
        guard let key = apiKey ?? ProcessInfo.processInfo.environment["HARBORGUARD_API_KEY"], !key.isEmpty else {
            fail("an API key is needed: --api-key or HARBORGUARD_API_KEY", code: CheckReport.usage)
        }
        var tls = TLSConfiguration.makeClientConfiguration()
        if insecure { tls.certificateVerification = .none }
        var config = HTTPClient.Configuration(tlsConfiguration: tls, redirectConfiguration: .disallow)
        config.timeout = .init(connect: .seconds(10))
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
        let outcome = await CheckClient(base: server.hasSuffix("/") ? String(server.dropLast()) : server, key: key, http: http)
            .check(image: image, wait: wait)
        try? await http.shutdown()
        switch outcome {
        case .failure(let message):
            fail(message, code: CheckReport.error)
        case .success(let (result, raw)):
            let report: String
            switch format {
            case .table: report = CheckReport.table(result)
            case .junit: report = CheckReport.junit(result, failOn: failOn.report)
            case .json: report = raw
            }
            if let output {
                do {
                    try Data(report.utf8).write(to: URL(fileURLWithPath: output))
                } catch {
                    fail("cannot write \(output): \(error.localizedDescription)", code: CheckReport.error)
                }
                print("\(result.image): \(result.verdict) (\(result.violations.count) violations); report in \(output)")
            } else {
                FileHandle.standardOutput.write(Data(report.utf8))
            }
            let code = CheckReport.exitCode(verdict: result.verdict, failOn: failOn.report)
            if code != 0 { throw ExitCode(code) }
        }
    }
}

/// The check's conversation with the server: POSTs until a verdict comes or the wait is spent.
struct CheckClient: Sendable {
    enum Outcome: Sendable {
        case success((CheckResult, String))
        /// One line for stderr.
        case failure(String)
    }

    let base: String
    let key: String
    let http: HTTPClient
    /// The longest wait asked of the server in one request (proxies cut long requests).
    static let requestWait = 60

    func check(image: String, wait: Int) async -> Outcome {
        let deadline = ContinuousClock.now + .seconds(wait)
        var last: String?
        while true {
            let remaining = max(0, Int((deadline - ContinuousClock.now).components.seconds))
            let ask = min(remaining, Self.requestWait)
            let answer: (status: Int, body: Data, retryAfter: Int?)
            do {
                answer = try await post(image: image, wait: ask)
            } catch {
                return .failure("cannot reach the server at \(base): \(Self.describe(error))")
            }
            switch answer.status {
            case 200:
                guard let object = try? JSONSerialization.jsonObject(with: answer.body) as? [String: Any], let data = object["data"],
                      let dataJSON = try? JSONSerialization.data(withJSONObject: data, options: [.prettyPrinted, .sortedKeys]),
                      let result = try? JSONDecoder().decode(CheckResult.self, from: dataJSON)
                else { return .failure("the server's answer is not a check verdict") }
                return .success((result, String(decoding: dataJSON, as: UTF8.self) + "\n"))
            case 202:
                let pending = (try? JSONSerialization.jsonObject(with: answer.body) as? [String: Any])?["data"] as? [String: Any]
                last = "scan \(pending?["scanId"] as? String ?? "?") is \(pending?["status"] as? String ?? "pending")"
            case 429 where ContinuousClock.now < deadline:
                last = "the server's scan rate limit was reached"
                try? await Task.sleep(for: .seconds(min(max(answer.retryAfter ?? 5, 1), max(remaining, 1))))
            default:
                return .failure("the server answered \(answer.status): \(Self.errorMessage(answer.body))")
            }
            if ContinuousClock.now >= deadline {
                return .failure("still pending after --wait \(wait) s: \(last ?? "no verdict yet"); run the check again later")
            }
            if ask == 0 { try? await Task.sleep(for: .seconds(1)) }
        }
    }

    func post(image: String, wait: Int) async throws -> (status: Int, body: Data, retryAfter: Int?) {
        var req = HTTPClientRequest(url: base + "/api/policy/check")
        req.method = .POST
        req.headers.add(name: "X-API-Key", value: key)
        req.headers.add(name: "Content-Type", value: "application/json")
        req.headers.add(name: "User-Agent", value: "harborguard-check/\(ProductVersion.current)")
        let body = try JSONSerialization.data(withJSONObject: ["image": image, "wait": wait], options: [.sortedKeys])
        req.body = .bytes(ByteBuffer(bytes: body))
        let r = try await http.execute(req, timeout: .seconds(Int64(wait) + 60))
        let buffer = try await r.body.collect(upTo: 32 << 20)
        return (Int(r.status.code), Data(buffer.readableBytesView), r.headers.first(name: "Retry-After").flatMap { Int($0) })
    }

    /// `CODE: message` from the API's error envelope, on one line.
    static func errorMessage(_ body: Data) -> String {
        guard let e = (try? JSONSerialization.jsonObject(with: body) as? [String: Any])?["error"] as? [String: Any] else {
            return "no API error in the answer"
        }
        var text = "\(e["code"] as? String ?? "ERROR"): \(e["message"] as? String ?? "")"
        if let issues = e["issues"] as? [[String: Any]], !issues.isEmpty {
            text += " " + issues.map { "\($0["path"] as? String ?? ""): \($0["message"] as? String ?? "")" }.joined(separator: "; ")
        }
        return text.split(whereSeparator: \.isNewline).joined(separator: " ")
    }

    static func describe(_ error: any Error) -> String {
        String(describing: error).split(whereSeparator: \.isNewline).joined(separator: " ")
    }
}

