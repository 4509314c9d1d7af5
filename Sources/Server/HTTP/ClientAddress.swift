import Foundation
import HTTPTypes
import Hummingbird
#if canImport(Glibc)
import Glibc
import Store
#endif

/// An IPv4 or IPv6 address as its 4 or 16 bytes (IPv4-mapped IPv6 addresses are IPv4).
public struct IPAddress: Hashable, Sendable, CustomStringConvertible {
    public let bytes: [UInt8]

    /// Parses `1.2.3.4`, `::1`, `fe80::1%eth0` (zone dropped), `[::1]`, `1.2.3.4:8080`, `[::1]:8080`.
    public init?(_ text: some StringProtocol) {
        var s = String(text).trimmingCharacters(in: .whitespaces)
        if s.hasPrefix("[") {
            guard let close = s.firstIndex(of: "]") else { return nil }
            s = String(s[s.index(after: s.startIndex)..<close])
        } else if s.filter({ $0 == ":" }).count == 1, s.contains(".") {
            s = String(s[..<s.firstIndex(of: ":")!])  // IPv4 with a port
        }
        if let zone = s.firstIndex(of: "%") { s = String(s[..<zone]) }
        guard !s.isEmpty, s.utf8.count <= 45 else { return nil }
        var v4 = in_addr()
        if inet_pton(AF_INET, s, &v4) == 1 {
            bytes = withUnsafeBytes(of: &v4) { Array($0) }
            return
        }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, s, &v6) == 1 else { return nil }
        let b = withUnsafeBytes(of: &v6) { Array($0) }
        if b[0..<10].allSatisfy({ $0 == 0 }) && b[10] == 0xFF && b[11] == 0xFF {
            bytes = Array(b[12..<16])
        } else {
            bytes = b
        }
    }

    public var description: String {
        if bytes.count == 4 { return bytes.map(String.init).joined(separator: ".") }
        var v6 = in6_addr()
        withUnsafeMutableBytes(of: &v6) { raw in for i in 0..<16 { raw[i] = bytes[i] } }
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        guard inet_ntop(AF_INET6, &v6, &buffer, socklen_t(buffer.count)) != nil else { return "?" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// An address range: `10.0.0.0/8`, `fd00::/8`, or one address (`192.0.2.7`, `::1`).
public struct IPNetwork: Sendable, Equatable, CustomStringConvertible {
    public let address: IPAddress
    public let prefixLength: Int

    public init?(_ text: some StringProtocol) {
        let parts = text.trimmingCharacters(in: .whitespaces).split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = IPAddress(parts[0]) else { return nil }
        let bits = address.bytes.count * 8
        var length = bits
        if parts.count == 2 {
            guard let n = Int(parts[1]), (0...128).contains(n) else { return nil }
            // An IPv4-mapped IPv6 prefix (::ffff:10.0.0.0/104) counts from the IPv4 part.
            length = String(parts[0]).contains(":") && bits == 32 ? n - 96 : n
            guard (0...bits).contains(length) else { return nil }
        }
        self.address = address
        prefixLength = length
    }

    public func contains(_ other: IPAddress) -> Bool {
        guard other.bytes.count == address.bytes.count else { return false }
        var left = prefixLength
        for i in 0..<address.bytes.count where left > 0 {
            let take = min(8, left)
            let mask: UInt8 = take == 8 ? 0xFF : ~(0xFF >> UInt8(take))
            if address.bytes[i] & mask != other.bytes[i] & mask { return false }
            left -= take
        }
        return true
    }

    public var description: String { "\(address)/\(prefixLength)" }

    /// Parses `--trusted-proxy` values: each may hold several comma-separated entries.
    public static func parseList(_ values: [String]) throws -> [IPNetwork] {
        var out: [IPNetwork] = []
        for value in values {
            for item in value.split(separator: ",") where !item.trimmingCharacters(in: .whitespaces).isEmpty {
                guard let n = IPNetwork(item) else {
                    throw ClientAddressError(description: "'\(item.trimmingCharacters(in: .whitespaces))' is not an IP address or CIDR range")
                }
                out.append(n)
            }
        }
        return out
    }
}

public struct ClientAddressError: Error, CustomStringConvertible {
    public var description: String
}

/// The client's address: the connection's peer, or, when the peer is a trusted proxy
/// (`serve --trusted-proxy`), the right-most address in `X-Forwarded-For` that is not a
/// trusted proxy. A client cannot choose its address by sending the header itself: the
/// header is read only from a trusted peer, and only the hops trusted proxies appended count.
public enum ClientAddress {
    public static func resolve(peer: String?, forwardedFor: [String], trusted: [IPNetwork]) -> String? {
        guard let peer, let peerAddress = IPAddress(peer) else { return peer }
        guard isTrusted(peerAddress, trusted) else { return peerAddress.description }
        var client = peerAddress
        let hops = forwardedFor.flatMap { $0.split(separator: ",") }
        for hop in hops.reversed() {
            // A hop that is not an address ends the walk: the last trusted proxy is the answer.
            guard let address = IPAddress(hop) else { break }
            client = address
            if !isTrusted(address, trusted) { break }
        }
        return client.description
    }

    static func isTrusted(_ a: IPAddress, _ trusted: [IPNetwork]) -> Bool {
        trusted.contains { $0.contains(a) }
    }
}
