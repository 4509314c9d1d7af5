import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where the server's outgoing requests may go. One policy for every HTTP client the server
/// owns (registries, notification channels, the vulnerability-database feed):
///
/// - cloud metadata addresses (169.254.169.254, 169.254.170.2, 100.100.100.200, fd00:ec2::254)
///   are refused for every purpose, always;
/// - registries may be anywhere else, loopback and private networks included (self-hosted
///   registries are on private networks);
/// - notification channels and feeds may reach public addresses only, unless the operator
///   allows private targets (`serve --allow-private-targets`).
///
/// A host name is resolved once and every address it resolves to is checked (one refused
/// address refuses the host); the request then connects to a checked address
/// (`OutgoingHTTPClient`), so a DNS answer that changes between check and connect cannot
/// steer it elsewhere.
public struct OutgoingPolicy: Sendable, Hashable {
    /// Who makes the request.
    public enum Purpose: String, Sendable, Hashable, CaseIterable {
        case registry
        case notification
        case feed

        var noun: String {
            switch self {
            case .registry: "registries"
            case .notification: "notification channels"
            case .feed: "vulnerability-database feeds"
            }
        }
    }

    /// The kinds of address the policy tells apart.
    public enum AddressClass: String, Sendable, Hashable {
        case publicAddress = "public"
        case loopback
        case privateNetwork = "private"
        case linkLocal = "link-local"
        case unspecified
        /// Multicast, broadcast, documentation, benchmarking, reserved and other special ranges.
        case reserved
        case metadata
    }

    /// Allows loopback, private, link-local and other non-public addresses for notification
    /// channels and feeds. Metadata addresses stay refused.
    public var allowPrivateTargets: Bool

    public init(allowPrivateTargets: Bool = false) {
        self.allowPrivateTargets = allowPrivateTargets
    }

    /// Whether `purpose` may connect to an address of class `c`.
    public func permits(_ c: AddressClass, for purpose: Purpose) -> Bool {
        switch c {
        case .metadata: return false
        case .publicAddress: return true
        default: return purpose == .registry || allowPrivateTargets
        }
    }

    // MARK: - Addresses

    /// An IPv4 (4 bytes) or IPv6 (16 bytes) address.
    public struct Address: Sendable, Hashable, CustomStringConvertible {
        public let bytes: [UInt8]

        public init?(bytes: [UInt8]) {
            guard bytes.count == 4 || bytes.count == 16 else { return nil }
            self.bytes = bytes
        }

        /// Parses a literal the way `inet_pton` does (dotted quad or IPv6 text; brackets allowed
        /// around IPv6). Decimal, octal or hex IPv4 forms are not literals here: they are host
        /// names that the resolver turns into addresses, and are checked as such.
        public init?(literal: String) {
            var s = Substring(literal)
            if s.hasPrefix("["), s.hasSuffix("]") { s = s.dropFirst().dropLast() }
            let text = String(s)
            var v4 = in_addr()
            if inet_pton(AF_INET, text, &v4) == 1 {
                self.bytes = withUnsafeBytes(of: &v4) { Array($0) }
                return
            }
            var v6 = in6_addr()
            if inet_pton(AF_INET6, text, &v6) == 1 {
                self.bytes = withUnsafeBytes(of: &v6) { Array($0) }
                return
            }
            return nil
        }

        public var isIPv4: Bool { bytes.count == 4 }

        /// The canonical text (`inet_ntop`), without brackets.
        public var description: String {
            var buffer = [CChar](repeating: 0, count: 64)
            let family = isIPv4 ? AF_INET : AF_INET6
            let ok = bytes.withUnsafeBytes { raw in
                inet_ntop(family, raw.baseAddress, &buffer, socklen_t(buffer.count)) != nil
            }
            guard ok else { return "?" }
            return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
    }

    /// The class of an address. IPv4 embedded in IPv6 (mapped `::ffff:a.b.c.d`, NAT64
    /// `64:ff9b::/96`, 6to4 `2002::/16`) is classified as the IPv4 address it carries.
    public static func classify(_ address: Address) -> AddressClass {
        let b = address.bytes
        if b.count == 4 { return classifyV4(b[0], b[1], b[2], b[3]) }
        // IPv6
        if b.allSatisfy({ $0 == 0 }) { return .unspecified }
        if b[0..<15].allSatisfy({ $0 == 0 }) && b[15] == 1 { return .loopback }
        if b[0..<10].allSatisfy({ $0 == 0 }) && b[10] == 0xFF && b[11] == 0xFF {
            return classifyV4(b[12], b[13], b[14], b[15])  // ::ffff:a.b.c.d
        }
        if b[0..<12].allSatisfy({ $0 == 0 }) { return .reserved }  // ::a.b.c.d (deprecated IPv4-compatible) and ::/96
        if b[0] == 0x00, b[1] == 0x64, b[2] == 0xFF, b[3] == 0x9B {
            if b[4..<12].allSatisfy({ $0 == 0 }) { return classifyV4(b[12], b[13], b[14], b[15]) }  // NAT64 64:ff9b::/96
            if b[4] == 0x00, b[5] == 0x01 { return .privateNetwork }  // 64:ff9b:1::/48, local-use NAT64
        }
        if b[0] == 0x20, b[1] == 0x02 { return classifyV4(b[2], b[3], b[4], b[5]) }  // 6to4 2002::/16
        if b == metadataV6 { return .metadata }
        if b[0] & 0xFE == 0xFC { return .privateNetwork }  // fc00::/7 unique local
        if b[0] == 0xFE && b[1] & 0xC0 == 0x80 { return .linkLocal }  // fe80::/10
        if b[0] == 0xFE && b[1] & 0xC0 == 0xC0 { return .privateNetwork }  // fec0::/10 site-local (deprecated)
        if b[0] == 0xFF { return .reserved }  // multicast
        if b[0] == 0x20, b[1] == 0x01, b[2] == 0x0D, b[3] == 0xB8 { return .reserved }  // 2001:db8::/32 documentation
        if b[0] == 0x20, b[1] == 0x01, b[2] == 0x00, b[3] == 0x00 { return .reserved }  // 2001::/32 Teredo
        if b[0] == 0x01, b[1] == 0x00, b[2..<8].allSatisfy({ $0 == 0 }) { return .reserved }  // 100::/64 discard
        if b[0] & 0xE0 == 0x20 { return .publicAddress }  // 2000::/3 global unicast
        return .reserved
    }

    /// fd00:ec2::254, the AWS instance metadata service over IPv6.
    static let metadataV6: [UInt8] = [0xFD, 0x00, 0x0E, 0xC2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x54]

    static func classifyV4(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) -> AddressClass {
        switch (a, b, c, d) {
        case (169, 254, 169, 254), (169, 254, 170, 2), (100, 100, 100, 200): return .metadata
        case (0, _, _, _): return .unspecified
        case (127, _, _, _): return .loopback
        case (10, _, _, _), (192, 168, _, _): return .privateNetwork
        case (172, 16...31, _, _): return .privateNetwork
        case (100, 64...127, _, _): return .privateNetwork  // carrier-grade NAT, shared address space
        case (169, 254, _, _): return .linkLocal
        case (192, 0, 0, _), (192, 0, 2, _), (198, 51, 100, _), (203, 0, 113, _), (198, 18...19, _, _): return .reserved
        case (224...255, _, _, _): return .reserved  // multicast, reserved, broadcast
        default: return .publicAddress
        }
    }

    // MARK: - Checks

    /// Checks addresses a host resolved to: every one must be permitted.
    public func check(_ addresses: [Address], for purpose: Purpose) throws(TargetNotAllowed) {
        for a in addresses {
            let c = Self.classify(a)
            if !permits(c, for: purpose) { throw TargetNotAllowed(purpose: purpose, addressClass: c) }
        }
    }

    /// Resolves `host` (a literal is taken as is) and checks every address. Throws
    /// `TargetNotAllowed` for a refused address and `OutgoingResolutionFailed` when the name
    /// does not resolve.
    public func resolveAndCheck(host: String, for purpose: Purpose) async throws -> [Address] {
        let addresses = try await Self.resolve(host)
        try check(addresses, for: purpose)
        return addresses
    }

    /// Checks an absolute http(s) URL: `.refused` when its host is or resolves to a refused
    /// address, `.allowed` when every address is permitted, `.unresolved` when the name does
    /// not resolve now (the request itself checks again).
    public func precheck(url: String, for purpose: Purpose) async -> Precheck {
        guard let host = Self.host(of: url) else { return .unresolved }
        do {
            _ = try await resolveAndCheck(host: host, for: purpose)
            return .allowed
        } catch let e as TargetNotAllowed {
            return .refused(e)
        } catch {
            return .unresolved
        }
    }

    public enum Precheck: Sendable {
        case allowed
        case refused(TargetNotAllowed)
        case unresolved
    }

    /// The host of a URL as AsyncHTTPClient connects to it (IPv6 brackets removed).
    public static func host(of url: String) -> String? {
        guard let u = URL(string: url), let host = u.host, !host.isEmpty else { return nil }
        var h = Substring(host)
        if h.hasPrefix("[") { h = h.dropFirst() }
        if h.hasSuffix("]") { h = h.dropLast() }
        return String(h)
    }

    // MARK: - Resolution

    /// How long one resolution may take.
    static let resolveTimeout: Duration = .seconds(10)

    /// The addresses `host` resolves to (`getaddrinfo` through `Blocking.run`, bounded by
    /// `resolveTimeout` as a race of the lookup and a sleep, the loser cancelled); a literal
    /// address resolves to itself.
    public static func resolve(_ host: String) async throws -> [Address] {
        if let literal = Address(literal: host) { return [literal] }
        guard !host.isEmpty, host.utf8.count <= 253, !host.utf8.contains(0) else { throw OutgoingResolutionFailed() }
        return try await withThrowingTaskGroup(of: [Address].self) { group in
            group.addTask { try await Blocking.run(on: Blocking.resolverPool) { try getaddrinfoBlocking(host).get() } }
            group.addTask {
                try await Task.sleep(for: resolveTimeout)
                throw OutgoingResolutionFailed()
            }
            defer { group.cancelAll() }
            guard let first = try await group.next() else { throw OutgoingResolutionFailed() }
            return first
        }
    }

    static func getaddrinfoBlocking(_ host: String) -> Result<[Address], any Error> {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        #if canImport(Glibc)
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #else
        hints.ai_socktype = SOCK_STREAM
        #endif
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &list) == 0, let first = list else { return .failure(OutgoingResolutionFailed()) }
        defer { freeaddrinfo(first) }
        var out: [Address] = []
        var node: UnsafeMutablePointer<addrinfo>? = first
        while let n = node {
            if let sa = n.pointee.ai_addr {
                switch Int32(sa.pointee.sa_family) {
                case AF_INET:
                    let bytes = sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { p in
                        var a = p.pointee.sin_addr
                        return withUnsafeBytes(of: &a) { Array($0) }
                    }
                    if let a = Address(bytes: bytes), !out.contains(a) { out.append(a) }
                case AF_INET6:
                    let bytes = sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { p in
                        var a = p.pointee.sin6_addr
                        return withUnsafeBytes(of: &a) { Array($0) }
                    }
                    if let a = Address(bytes: bytes), !out.contains(a) { out.append(a) }
                default:
                    break
                }
            }
            node = n.pointee.ai_next
        }
        return out.isEmpty ? .failure(OutgoingResolutionFailed()) : .success(out)
    }
}

/// A request refused by the `OutgoingPolicy`. The description names the purpose and the kind
/// of address, never the address or what the host resolved to.
public struct TargetNotAllowed: Error, Sendable, Hashable, CustomStringConvertible {
    public let purpose: OutgoingPolicy.Purpose
    public let addressClass: OutgoingPolicy.AddressClass

    public var description: String {
        if addressClass == .metadata || purpose == .registry {
            return "target not allowed: cloud metadata addresses are never reached"
        }
        return "target not allowed: \(purpose.noun) may only reach public addresses (serve --allow-private-targets allows private ones)"
    }
}

/// A host name that did not resolve (the resolver's own message is not passed on).
public struct OutgoingResolutionFailed: Error, Sendable, Hashable, CustomStringConvertible {
    public init() {}
    public var description: String { "cannot resolve the host" }
}
