public import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Finds executables by name on a search path. Injectable so tests can point scans at a
/// directory of their own (or at nothing at all).
public struct BinaryLocator: Sendable {
    /// Directories searched in order.
    public var searchPath: [String]

    public init(searchPath: [String]) {
        self.searchPath = searchPath
    }

    /// The process's own `PATH`.
    public static func fromEnvironment() -> BinaryLocator {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        return BinaryLocator(searchPath: path.split(separator: ":").map(String.init).filter { !$0.isEmpty })
    }

    /// The first executable regular file called `name`; nil when there is none. Names with
    /// a slash are refused: only bare tool names are looked up.
    public func locate(_ name: String) -> URL? {
        guard !name.isEmpty, !name.contains("/") else { return nil }
        for dir in searchPath {
            let candidate = URL(fileURLWithPath: dir).appendingPathComponent(name)
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: candidate.path, isDirectory: &isDir), !isDir.boolValue,
               FileManager.default.isExecutableFile(atPath: candidate.path)
            {
                return candidate
            }
        }
        return nil
    }
}

/// Why an external scanner produced no usable report.
public enum ExternalScannerError: Error, Sendable, CustomStringConvertible, Equatable {
    case launch(String)
    case timeout(seconds: Double, stderr: String)
    case exit(status: Int32, stderr: String)
    case signal(Int32, stderr: String)
    case outputTooLarge(limit: Int)
    case parse(scanner: String, detail: String)
    case layout(String)
    /// The disk under the layout is full (ENOSPC): unlike a scanner's own failure this
    /// fails the scan, since the appliance itself cannot do the work it was asked to.
    case diskFull(directory: String, detail: String)
    case cancelled

    public var description: String {
        func tail(_ s: String) -> String { s.isEmpty ? "" : ": \(s)" }
        switch self {
        case let .launch(m): return "could not start: \(m)"
        case let .timeout(s, err): return "timed out after \(Self.seconds(s)) and was stopped\(tail(err))"
        case let .exit(status, err): return "exited with status \(status)\(tail(err))"
        case let .signal(sig, err): return "killed by signal \(sig)\(tail(err))"
        case let .outputTooLarge(limit): return "wrote more than \(limit) bytes of output and was stopped"
        case let .parse(scanner, detail): return "\(scanner) output is not a \(scanner) JSON report: \(detail)"
        case let .layout(m): return "could not write the OCI layout: \(m)"
        case let .diskFull(dir, detail):
            return "disk full (ENOSPC) in \(dir): the OCI layout for the external scanners could not be written (\(detail)); free space there and scan again"
        case .cancelled: return "cancelled"
        }
    }

    var isTimeout: Bool {
        if case .timeout = self { return true }
        return false
    }

    static func seconds(_ s: Double) -> String {
        s == s.rounded() ? "\(Int(s))s" : String(format: "%.1fs", s)
    }
}

/// What a finished child process left.
struct ProcessOutput: Sendable {
    var stdout: Data
    /// The last bytes of standard error, as text.
    var stderrTail: String
    var status: Int32
}

/// Runs one external tool with `Foundation.Process`: standard input closed, standard output
/// collected up to a cap, the tail of standard error kept for error messages, and a
/// deadline after which the whole process group gets SIGTERM, then SIGKILL two seconds
/// later. Foundation starts the child as the leader of its own process group, so wrapper
/// scripts (pyenv shims, `sh -c`) and the real binary they start are stopped together.
enum ScannerProcess {
    static let defaultStdoutLimit = 256 << 20
    static let stderrTailBytes = 4096
    static let killGrace: Duration = .seconds(2)

    static func run(
        _ executable: URL, arguments: [String], environment: [String: String], directory: URL? = nil,
        timeout: Duration, stdoutLimit: Int = defaultStdoutLimit
    ) async throws(ExternalScannerError) -> ProcessOutput {
        let cancel = CancelFlag()
        let result: Result<ProcessOutput, ExternalScannerError> = await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                // A thread of its own: the wait may last minutes and must not hold a
                // cooperative-pool thread.
                let thread = Thread {
                    continuation.resume(returning: runBlocking(
                        executable, arguments: arguments, environment: environment, directory: directory,
                        timeout: timeout, stdoutLimit: stdoutLimit, cancel: cancel))
                }
                thread.start()
            }
        } onCancel: {
            cancel.set()
        }
        return try result.get()
    }

    final class CancelFlag: Sendable {
        private let value = Mutex(false)
        func set() { value.withLock { $0 = true } }
        var isSet: Bool { value.withLock { $0 } }
    }

    static func runBlocking(
        _ executable: URL, arguments: [String], environment: [String: String], directory: URL?,
        timeout: Duration, stdoutLimit: Int, cancel: CancelFlag
    ) -> Result<ProcessOutput, ExternalScannerError> {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.environment = environment
        if let directory { process.currentDirectoryURL = directory }
        let out = Pipe()
        let err = Pipe()
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = out
        process.standardError = err
        do { try process.run() } catch {
            return .failure(.launch("\(executable.path): \(error.localizedDescription)"))
        }
        let pid = process.processIdentifier
        func signalGroup(_ sig: Int32) {
            // The group first (wrappers and their children), then the child itself in case
            // it left the group.
            _ = kill(-pid, sig)
            _ = kill(pid, sig)
        }
        try? out.fileHandleForWriting.close()
        try? err.fileHandleForWriting.close()
        let outFD = out.fileHandleForReading.fileDescriptor
        let errFD = err.fileHandleForReading.fileDescriptor
        var stdout = Data()
        var stderr = Data()
        var outOpen = true
        var errOpen = true
        var timedOut = false
        var overflow = false
        var cancelled = false
        var terminatedAt: ContinuousClock.Instant?
        var killed = false
        var exitedAt: ContinuousClock.Instant?
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        let bufferSize = 64 * 1024
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: bufferSize, alignment: 1)
        defer { buffer.deallocate() }

        while outOpen || errOpen || process.isRunning {
            let now = clock.now
            if terminatedAt == nil {
                if now >= deadline { timedOut = true }
                if cancel.isSet { cancelled = true }
                if timedOut || cancelled || overflow {
                    signalGroup(overflow ? SIGKILL : SIGTERM)
                    terminatedAt = now
                }
            } else if !killed, let t = terminatedAt, now - t >= killGrace {
                signalGroup(SIGKILL)
                killed = true
            }
            if exitedAt == nil && !process.isRunning { exitedAt = now }
            // A grandchild that outlives the tool may hold the pipes open: stop waiting
            // for end of file shortly after the tool itself exited.
            if let e = exitedAt, now - e >= killGrace {
                if !killed { signalGroup(SIGKILL); killed = true }
                break
            }
            var fds: [pollfd] = []
            if outOpen { fds.append(pollfd(fd: outFD, events: Int16(POLLIN), revents: 0)) }
            if errOpen { fds.append(pollfd(fd: errFD, events: Int16(POLLIN), revents: 0)) }
            if fds.isEmpty {
                usleep(20_000)
                continue
            }
            let ready = poll(&fds, nfds_t(fds.count), 100)
            guard ready > 0 else { continue }
            for p in fds where p.revents != 0 {
                let n = read(p.fd, buffer, bufferSize)
                if n <= 0 {
                    if n < 0 && (errno == EINTR || errno == EAGAIN) { continue }
                    if p.fd == outFD { outOpen = false } else { errOpen = false }
                    continue
                }
                let bytes = UnsafeRawBufferPointer(start: buffer, count: n)
                if p.fd == outFD {
                    if stdout.count + n > stdoutLimit {
                        overflow = true
                    } else {
                        stdout.append(contentsOf: bytes)
                    }
                } else {
                    stderr.append(contentsOf: bytes)
                    if stderr.count > 4 * stderrTailBytes { stderr = stderr.suffix(stderrTailBytes) }
                }
            }
        }
        process.waitUntilExit()
        try? out.fileHandleForReading.close()
        try? err.fileHandleForReading.close()
        let tail = Self.tail(stderr)
        if overflow { return .failure(.outputTooLarge(limit: stdoutLimit)) }
        if cancelled { return .failure(.cancelled) }
        if timedOut {
            let c = timeout.components
            return .failure(.timeout(seconds: Double(c.seconds) + Double(c.attoseconds) / 1e18, stderr: tail))
        }
        if process.terminationReason == .uncaughtSignal {
            return .failure(.signal(process.terminationStatus, stderr: tail))
        }
        return .success(ProcessOutput(stdout: stdout, stderrTail: tail, status: process.terminationStatus))
    }

    /// The last few lines of standard error, trimmed, on one line.
    static func tail(_ data: Data) -> String {
        let text = String(decoding: data.suffix(stderrTailBytes), as: UTF8.self)
        let lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        let joined = lines.suffix(5).joined(separator: " | ")
        return joined.count > 600 ? String(joined.suffix(600)) : joined
    }

    /// The environment a scanner sees: nothing of harborguard's own (no registry
    /// credentials, no tokens), only locale, time zone, TLS trust and proxy settings, a
    /// `PATH`, and a `HOME` / `TMPDIR` / XDG directories inside the scan's work directory,
    /// so no user configuration (e.g. `~/.docker/config.json`) is read.
    static func environment(home: URL, path: String?, extra: [String: String]) -> [String: String] {
        let inherited = ProcessInfo.processInfo.environment
        var env: [String: String] = [:]
        for key in ["LANG", "LC_ALL", "LC_CTYPE", "TZ", "SSL_CERT_FILE", "SSL_CERT_DIR",
                    "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy"] {
            if let v = inherited[key] { env[key] = v }
        }
        env["PATH"] = path ?? inherited["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        env["HOME"] = home.path
        env["TMPDIR"] = home.appendingPathComponent("tmp").path
        env["XDG_CONFIG_HOME"] = home.appendingPathComponent(".config").path
        env["XDG_CACHE_HOME"] = home.appendingPathComponent(".cache").path
        env["DOCKER_CONFIG"] = home.appendingPathComponent(".docker").path
        for (k, v) in extra { env[k] = v }
        return env
    }
}
