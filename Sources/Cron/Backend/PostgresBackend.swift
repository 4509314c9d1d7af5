public import Foundation
public import Logging
#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO

/// A PostgreSQL server behind the SQL layer. Transactions run their synchronous body on a
/// thread of their own (never an event loop or the cooperative pool) holding one pooled
/// connection, so code written for SQLite's synchronous transactions runs unchanged.
///
/// Writes are `SERIALIZABLE` by default and rerun on a serialization failure or deadlock
/// (SQLSTATE 40001/40P01), which gives the single-writer semantics the SQLite code assumes.
public final class PostgreSQLDatabase: SQLDatabase {
    public let target: PostgresTarget
    public var dialect: SQLDialect { .postgres }
    let pool: PostgresConnectionPool
    let threads: NIOThreadPool
    let logger: Logger
    /// Reruns of a write before its conflict (a deadlock, say) is reported.
    static let maxRetries = 20
    /// The transaction advisory lock every default (`.serializable`) write takes.
    static let writerLockKey = 0x6867_7772_6974  // "hgwrit"

    /// Opens a pool of up to `connections` connections (none is made until first used).
    public init(url: String, connections: Int = 8, logger: Logger = Logger(label: "harborguard.postgres")) throws {
        target = try PostgresTarget(url: url)
        let group = MultiThreadedEventLoopGroup.singleton
        pool = PostgresConnectionPool(target: target, group: group, limit: max(1, connections), logger: logger.forPostgresDriver)
        threads = NIOThreadPool(numberOfThreads: max(1, connections))
        threads.start()
        self.logger = logger.forPostgresDriver
    }

    deinit {
        threads.shutdownGracefully { _ in }
    }

    /// Closes every idle connection (in-flight transactions finish first).
    public func close() async {
        await pool.close()
    }

    public func read<T: Sendable>(_ body: @escaping @Sendable (any SQLConnection) throws -> T) async throws -> T {
        try await transaction(begin: "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", retry: false, body)
    }

    public func write<T: Sendable>(
        isolation: SQLIsolation, _ body: @escaping @Sendable (any SQLConnection) throws -> T
    ) async throws -> T {
        switch isolation {
        // One writer at a time across every node, as SQLite has it: the transaction takes the
        // writers' advisory lock first, and in READ COMMITTED its statements see what every
        // earlier writer committed (a SERIALIZABLE snapshot would be taken before the lock is
        // granted, and concurrent SERIALIZABLE writers conflicted into rerun storms).
        case .serializable:
            try await transaction(
                begin: "BEGIN ISOLATION LEVEL READ COMMITTED; SELECT pg_advisory_xact_lock(\(Self.writerLockKey))", retry: true, body)
        case .readCommitted: try await transaction(begin: "BEGIN ISOLATION LEVEL READ COMMITTED", retry: true, body)
        }
    }

    /// Runs `body` on a connection outside any transaction (session-level statements such as
    /// advisory locks are the caller's to pair).
    public func withConnection<T: Sendable>(_ body: @escaping @Sendable (any SQLConnection) throws -> T) async throws -> T {
        let connection = try await pool.checkout()
        do {
            let logger = self.logger
            let result = try await threads.runIfActive {
                let c = PostgresSQLConnection(connection: connection, logger: logger)
                let value = try body(c)
                c.hooks.run()
                return value
            }
            await pool.checkin(connection)
            return result
        } catch {
            await pool.checkin(connection)
            throw Self.map(error)
        }
    }

    func transaction<T: Sendable>(
        begin: String, retry: Bool, _ body: @escaping @Sendable (any SQLConnection) throws -> T
    ) async throws -> T {
        var attempt = 0
        while true {
            let connection = try await pool.checkout()
            let logger = self.logger
            do {
                let result = try await threads.runIfActive { () throws -> T in
                    let c = PostgresSQLConnection(connection: connection, logger: logger)
                    try c.execute(begin)
                    do {
                        let value = try body(c)
                        try c.execute("COMMIT")
                        c.hooks.run()
                        return value
                    } catch {
                        _ = try? c.execute("ROLLBACK")
                        throw error
                    }
                }
                await pool.checkin(connection)
                return result
            } catch {
                await pool.checkin(connection)
                let mapped = Self.map(error)
                if retry, attempt < Self.maxRetries, let e = mapped as? SQLDatabaseError, e.isRetryableConflict {
                    attempt += 1
                    // Back off a little, with jitter, so conflicting writers stop colliding.
                    try await Task.sleep(nanoseconds: UInt64.random(in: 1_000_000...(5_000_000 * UInt64(attempt))))
                    continue
                }
                throw mapped
            }
        }
    }

    /// The SQL layer's view of a driver error: statement failures keep PostgreSQL's SQLSTATE,
    /// anything that means "no usable connection" becomes `unavailable`.
    static func map(_ error: any Error) -> any Error {
        if let e = error as? SQLDatabaseError { return e }
        if let e = error as? PSQLError {
            if let info = e.serverInfo {
                let state = info[.sqlState]
                // Connection exceptions, a server shutting down or starting up, too many
                // connections: the database, not the statement.
                if let state, state.hasPrefix("08") || ["57P01", "57P02", "57P03", "53300"].contains(state) {
                    return SQLDatabaseError.unavailable("\(state): \(info[.message] ?? "\(e.code)")")
                }
                return SQLDatabaseError.statement(sqlState: state, message: info[.message] ?? "\(e.code)")
            }
            return SQLDatabaseError.unavailable("\(e.code)")
        }
        if error is NIOConnectionError || error is IOError || error is ChannelError {
            return SQLDatabaseError.unavailable("\(error)")
        }
        return error
    }
}

/// One connection inside a transaction, used from a thread pool thread (blocking waits on
/// the connection's event loop are allowed there).
struct PostgresSQLConnection: SQLConnection {
    let connection: PostgresConnection
    let logger: Logger
    let hooks = CommitHooks()
    var dialect: SQLDialect { .postgres }

    func afterCommit(_ action: @escaping @Sendable () -> Void) {
        hooks.actions.append(action)
    }

    @discardableResult
    func execute(_ sql: String, _ arguments: [any SQLBindable]) throws -> Int {
        if arguments.isEmpty {
            // The extended protocol takes one statement at a time; scripts are split.
            var changed = 0
            for statement in splitSQLStatements(sql) {
                let result = try run(PostgresQuery(unsafeSQL: statement))
                changed += result.metadata.rows ?? 0
            }
            return changed
        }
        return try run(try query(for: sql, arguments)).metadata.rows ?? 0
    }

    func query(_ sql: String, _ arguments: [any SQLBindable]) throws -> [SQLRow] {
        let result = try run(try query(for: sql, arguments))
        var rows: [SQLRow] = []
        rows.reserveCapacity(result.rows.count)
        var columns: [String]?
        for row in result.rows {
            var values: [SQLValue] = []
            values.reserveCapacity(row.count)
            var names: [String] = []
            for cell in row {
                values.append(try Self.value(cell))
                if columns == nil { names.append(cell.columnName) }
            }
            if columns == nil { columns = names }
            rows.append(SQLRow(columns: columns ?? [], values: values))
        }
        return rows
    }

    /// A server-side cursor read a thousand rows at a time: an export of any size holds one
    /// batch in memory (the caller is inside a transaction, where cursors live).
    func each(_ sql: String, _ arguments: [any SQLBindable], _ body: (SQLRow) throws -> Void) throws {
        let cursor = "hg_each_\(UInt32.random(in: 0...UInt32.max))"
        _ = try run(try query(for: "DECLARE \(cursor) NO SCROLL CURSOR FOR \(sql)", arguments))
        defer { _ = try? run(PostgresQuery(unsafeSQL: "CLOSE \(cursor)")) }
        while true {
            let rows = try query("FETCH 1000 FROM \(cursor)", [])
            if rows.isEmpty { return }
            for row in rows { try body(row) }
        }
    }

    func run(_ query: PostgresQuery) throws -> PostgresQueryResult {
        do {
            return try connection.query(query, logger: logger).wait()
        } catch {
            throw PostgreSQLDatabase.map(error)
        }
    }

    func query(for sql: String, _ arguments: [any SQLBindable]) throws -> PostgresQuery {
        var binds = PostgresBindings(capacity: arguments.count)
        for a in arguments {
            switch a.sqlValue {
            case .null: binds.appendNull()
            case .integer(let i): binds.append(i)
            case .real(let d): binds.append(d)
            case .text(let s): binds.append(s)
            case .blob(let b): binds.append(ByteBuffer(bytes: b))
            }
        }
        return PostgresQuery(unsafeSQL: postgresPlaceholders(sql), binds: binds)
    }

    static func value(_ cell: PostgresCell) throws -> SQLValue {
        guard cell.bytes != nil else { return .null }
        switch cell.dataType {
        case .int2: return .integer(Int64(try cell.decode(Int16.self)))
        case .int4: return .integer(Int64(try cell.decode(Int32.self)))
        case .int8: return .integer(try cell.decode(Int64.self))
        case .float4: return .real(Double(try cell.decode(Float.self)))
        case .float8: return .real(try cell.decode(Double.self))
        case .bool: return .integer(try cell.decode(Bool.self) ? 1 : 0)
        case .bytea: return .blob(try cell.decode(Data.self))
        case .numeric:
            // SUM over BIGINT is NUMERIC (sent in its binary form): whole numbers come back
            // as integers, as SQLite's SUM gives them.
            let d = try cell.decode(Decimal.self)
            var rounded = d
            var source = d
            NSDecimalRound(&rounded, &source, 0, .plain)
            if rounded == d, let i = Int64(exactly: NSDecimalNumber(decimal: d).int64Value), Decimal(i) == d { return .integer(i) }
            return .real(NSDecimalNumber(decimal: d).doubleValue)
        default: return .text(try cell.decode(String.self))
        }
    }
}

/// What runs after one transaction attempt commits (a rerun attempt starts with none).
final class CommitHooks {
    var actions: [@Sendable () -> Void] = []
    func run() {
        for a in actions { a() }
        actions = []
    }
}

/// Splits a script into statements at semicolons outside literals, identifiers, comments and
/// `$$` bodies.
public func splitSQLStatements(_ sql: String) -> [String] {
    var out: [String] = []
    var current = ""
    var it = Array(sql.unicodeScalars)[...]
    func flush() {
        let s = current.trimmingCharacters(in: .whitespacesAndNewlines)
        if !s.isEmpty { out.append(s) }
        current = ""
    }
    while let c = it.popFirst() {
        switch c {
        case "'", "\"":
            current.unicodeScalars.append(c)
            while let d = it.popFirst() {
                current.unicodeScalars.append(d)
                if d == c {
                    if it.first == c { current.unicodeScalars.append(it.removeFirst()) } else { break }
                }
            }
        case "-" where it.first == "-":
            while let d = it.popFirst(), d != "\n" {}
            current += "\n"
        case "$" where it.first == "$":
            // A dollar-quoted body (a function's): copied whole, semicolons and all.
            current += "$$"
            it.removeFirst()
            while let d = it.popFirst() {
                current.unicodeScalars.append(d)
                if d == "$", it.first == "$" {
                    current.unicodeScalars.append(it.removeFirst())
                    break
                }
            }
        case ";":
            flush()
        default:
            current.unicodeScalars.append(c)
        }
    }
    flush()
    return out
}

/// Where a PostgreSQL database is, parsed from `postgres://USER[:PASSWORD]@HOST[:PORT]/DB?sslmode=…`
/// (libpq's URL form; `postgresql://` too). The password never appears in `description`.
public struct PostgresTarget: Sendable, CustomStringConvertible {
    public enum SSLMode: String, Sendable, CaseIterable {
        case disable, prefer, require
        case verifyCA = "verify-ca"
        case verifyFull = "verify-full"
    }

    public var host: String
    public var port: Int
    public var user: String
    public var password: String?
    public var database: String
    public var sslMode: SSLMode
    /// PEM file of the CAs to trust (`sslrootcert`), else the system's.
    public var rootCertificate: String?
    public var connectTimeout: TimeInterval

    public init(url: String) throws {
        guard let c = URLComponents(string: url), let scheme = c.scheme, ["postgres", "postgresql"].contains(scheme) else {
            throw SQLDatabaseError.badURL("expected postgres://USER@HOST:PORT/DATABASE?sslmode=…")
        }
        guard let host = c.host, !host.isEmpty else { throw SQLDatabaseError.badURL("no host") }
        guard let user = c.user, !user.isEmpty else { throw SQLDatabaseError.badURL("no user (postgres://USER@HOST/DATABASE)") }
        let db = String(c.path.drop(while: { $0 == "/" }))
        guard !db.isEmpty, !db.contains("/") else { throw SQLDatabaseError.badURL("no database name (postgres://USER@HOST/DATABASE)") }
        self.host = host
        self.port = c.port ?? 5432
        guard (1...65535).contains(port) else { throw SQLDatabaseError.badURL("port \(port) is out of range") }
        self.user = user.removingPercentEncoding ?? user
        self.password = c.password.map { $0.removingPercentEncoding ?? $0 }
        self.database = db.removingPercentEncoding ?? db
        self.sslMode = .prefer
        self.rootCertificate = nil
        self.connectTimeout = 10
        for item in c.queryItems ?? [] {
            switch item.name {
            case "sslmode":
                guard let v = item.value, let mode = SSLMode(rawValue: v) else {
                    throw SQLDatabaseError.badURL(
                        "sslmode must be one of \(SSLMode.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                sslMode = mode
            case "sslrootcert":
                rootCertificate = item.value
            case "connect_timeout":
                guard let v = item.value, let s = Int(v), s > 0 else { throw SQLDatabaseError.badURL("connect_timeout must be whole seconds") }
                connectTimeout = TimeInterval(s)
            case "password":
                password = item.value
            case "application_name":
                break
            default:
                throw SQLDatabaseError.badURL("unknown parameter \(item.name) (known: sslmode, sslrootcert, connect_timeout, password)")
            }
        }
    }

    public var description: String {
        "postgres://\(user)@\(host):\(port)/\(database)?sslmode=\(sslMode.rawValue)"
    }

    /// The driver's configuration (TLS as libpq's `sslmode` means it).
    func configuration() throws -> PostgresConnection.Configuration {
        let tls: PostgresConnection.Configuration.TLS
        switch sslMode {
        case .disable:
            tls = .disable
        case .prefer, .require:
            // libpq's prefer/require encrypt without checking the server's certificate.
            var t = TLSConfiguration.makeClientConfiguration()
            t.certificateVerification = .none
            let context = try NIOSSLContext(configuration: t)
            tls = sslMode == .prefer ? .prefer(context) : .require(context)
        case .verifyCA, .verifyFull:
            var t = TLSConfiguration.makeClientConfiguration()
            t.certificateVerification = sslMode == .verifyFull ? .fullVerification : .noHostnameVerification
            if let file = rootCertificate { t.trustRoots = .file(file) }
            tls = .require(try NIOSSLContext(configuration: t))
        }
        var config = PostgresConnection.Configuration(
            host: host, port: port, username: user, password: password, database: database, tls: tls)
        config.options.connectTimeout = .seconds(Int64(connectTimeout))
        return config
    }
}

extension PostgresTarget {
    /// A connection of its own (outside any pool) for a session that mostly waits: the leader
    /// lock's, the invalidation listener's. Its socket probes an idle peer after 5 s, every
    /// 2 s, 3 times, so a partitioned peer ends the session in about 11 s.
    func connectKeepingAlive(logger: Logger) async throws -> PostgresConnection {
        let config = try configuration()
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(Int64(connectTimeout)))
            .channelOption(ChannelOptions.socketOption(.so_keepalive), value: 1)
            .channelOption(ChannelOptions.socket(SocketOptionLevel(IPPROTO_TCP), SocketOptionName(TCP_KEEPIDLE)), value: 5)
            .channelOption(ChannelOptions.socket(SocketOptionLevel(IPPROTO_TCP), SocketOptionName(TCP_KEEPINTVL)), value: 2)
            .channelOption(ChannelOptions.socket(SocketOptionLevel(IPPROTO_TCP), SocketOptionName(TCP_KEEPCNT)), value: 3)
            .connect(host: host, port: port).get()
        let established = PostgresConnection.Configuration(
            establishedChannel: channel, tls: config.tls, username: config.username, password: config.password,
            database: config.database)
        return try await PostgresConnection.connect(on: channel.eventLoop, configuration: established, id: 0, logger: logger).get()
    }
}

/// Up to `limit` connections, handed out one transaction at a time; a caller waits when all
/// are busy. A closed connection is dropped and replaced on the next checkout.
actor PostgresConnectionPool {
    let target: PostgresTarget
    let group: any EventLoopGroup
    let limit: Int
    let logger: Logger
    var idle: [PostgresConnection] = []
    var open = 0
    var waiters: [CheckedContinuation<Void, Never>] = []
    var nextID = 0
    var closed = false

    init(target: PostgresTarget, group: any EventLoopGroup, limit: Int, logger: Logger) {
        self.target = target
        self.group = group
        self.limit = limit
        self.logger = logger
    }

    func checkout() async throws -> PostgresConnection {
        while true {
            if closed { throw SQLDatabaseError.unavailable("the connection pool is closed") }
            while let c = idle.popLast() {
                if !c.isClosed { return c }
                open -= 1
            }
            if open < limit {
                open += 1
                nextID += 1
                do {
                    let config = try target.configuration()
                    return try await PostgresConnection.connect(
                        on: group.next(), configuration: config, id: nextID, logger: logger
                    ).get()
                } catch {
                    open -= 1
                    resumeOne()
                    throw PostgreSQLDatabase.map(error)
                }
            }
            await withCheckedContinuation { waiters.append($0) }
        }
    }

    deinit {
        for c in idle { Self.closeKeepingAlive(c) }
    }

    /// Closes `connection`, holding a reference until its channel is down (the driver asserts
    /// that a connection is closed before it is released).
    nonisolated static func closeKeepingAlive(_ connection: PostgresConnection) {
        let closing: EventLoopFuture<Void> = connection.close()
        closing.whenComplete { _ in withExtendedLifetime(connection) {} }
    }

    func checkin(_ connection: PostgresConnection) {
        if connection.isClosed || closed {
            open -= 1
            if !connection.isClosed { Self.closeKeepingAlive(connection) }
        } else {
            idle.append(connection)
        }
        resumeOne()
    }

    func close() {
        closed = true
        for c in idle { Self.closeKeepingAlive(c) }
        open -= idle.count
        idle = []
        for w in waiters { w.resume() }
        waiters = []
    }

    private func resumeOne() {
        if !waiters.isEmpty { waiters.removeFirst().resume() }
    }
}

extension Logger {
    /// The logger handed to the PostgreSQL driver: never below `info`. At debug and trace the
    /// driver logs every protocol message, rows included, and rows hold sealed secrets,
    /// password hashes and tokens' hashes: `--log-level trace` must not put them in a log.
    public var forPostgresDriver: Logger {
        var l = self
        if l.logLevel < .info { l.logLevel = .info }
        return l
    }
}
