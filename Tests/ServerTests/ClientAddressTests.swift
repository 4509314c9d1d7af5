import Foundation
@testable import Server
@testable import Store
import Testing

/// The pieces behind `--trusted-proxy` and the strict-JSON duplicate check, on their own.
struct ClientAddressTests {
    @Test func networksParseAndMatch() throws {
        let ten = try #require(IPNetwork("10.0.0.0/8"))
        #expect(ten.contains(try #require(IPAddress("10.200.3.4"))))
        #expect(!ten.contains(try #require(IPAddress("11.0.0.1"))))
        #expect(!ten.contains(try #require(IPAddress("fd00::1"))))
        // An IPv4-mapped IPv6 peer is the IPv4 address; so is a mapped prefix.
        #expect(ten.contains(try #require(IPAddress("::ffff:10.1.1.1"))))
        #expect(try #require(IPNetwork("::ffff:10.0.0.0/104")).contains(try #require(IPAddress("10.9.9.9"))))
        #expect(try #require(IPNetwork("fd00::/8")).contains(try #require(IPAddress("fd12:3456::1"))))
        #expect(try #require(IPNetwork("192.0.2.7")).contains(try #require(IPAddress("192.0.2.7"))))
        #expect(!(try #require(IPNetwork("192.0.2.7"))).contains(try #require(IPAddress("192.0.2.8"))))
        #expect(try #require(IPNetwork("0.0.0.0/0")).contains(try #require(IPAddress("203.0.113.1"))))
        for bad in ["10.0.0.0/33", "fd00::/129", "x", "1.2.3.4/-1", "1.2.3.4/", "", "300.1.1.1", "::/abc"] {
            #expect(IPNetwork(bad) == nil, "\(bad)")
        }
        #expect(try IPNetwork.parseList(["127.0.0.1, 10.0.0.0/8", "fd00::/8"]).count == 3)
        #expect(throws: ClientAddressError.self) { try IPNetwork.parseList(["127.0.0.1,nope"]) }
        // Ports and brackets as proxies write them.
        #expect(IPAddress("198.51.100.1:8443")?.description == "198.51.100.1")
        #expect(IPAddress("[2001:db8::1]:443")?.description == "2001:db8::1")
    }

    @Test func theRightMostUntrustedHopIsTheClient() throws {
        let trusted = try IPNetwork.parseList(["127.0.0.1", "10.0.0.0/8"])
        func resolve(_ peer: String, _ xff: [String]) -> String? {
            ClientAddress.resolve(peer: peer, forwardedFor: xff, trusted: trusted)
        }
        // An untrusted peer's header is ignored.
        #expect(resolve("203.0.113.9", ["1.1.1.1"]) == "203.0.113.9")
        #expect(resolve("127.0.0.1", []) == "127.0.0.1")
        #expect(resolve("127.0.0.1", ["6.6.6.6, 198.51.100.3, 10.0.0.2"]) == "198.51.100.3")
        #expect(resolve("127.0.0.1", ["6.6.6.6", "198.51.100.3"]) == "198.51.100.3")  // two header lines, in order
        #expect(resolve("127.0.0.1", ["10.0.0.5, 10.0.0.2"]) == "10.0.0.5")  // all trusted: the left-most
        #expect(resolve("127.0.0.1", ["198.51.100.3, garbage"]) == "127.0.0.1")  // the walk stops at garbage
        #expect(resolve("127.0.0.1", ["198.51.100.3, garbage, 10.0.0.9"]) == "10.0.0.9")
        #expect(resolve("::ffff:127.0.0.1", ["198.51.100.4"]) == "198.51.100.4")
        #expect(ClientAddress.resolve(peer: nil, forwardedFor: ["1.1.1.1"], trusted: trusted) == nil)
    }

    @Test func duplicateMemberNamesAreFound() {
        func problem(_ s: String) -> String? { StrictJSON.problem(in: Array(s.utf8)) }
        #expect(problem(#"{"a":1,"a":2}"#)?.contains(#""a" twice"#) == true)
        #expect(problem(#"{"a":1,"\u0061":2}"#) != nil)
        #expect(problem(#"{"x":{"b":[{"c":1,"c":2}]}}"#)?.contains(#""c""#) == true)
        #expect(problem(#"{"a":{"a":1},"b":{"a":2}}"#) == nil)  // the same name in different objects
        #expect(problem(#"[{"a":1},{"a":2}]"#) == nil)
        #expect(problem(#"{"a":"x,\"a\":1","b":["a","a"]}"#) == nil)  // names inside strings and arrays are values
        #expect(problem(#"{"a\"b":1,"a\"b":2}"#) != nil)
        #expect(problem(#"{"":1,"":2}"#) != nil)
        #expect(problem(#"{"a":1,}"#)?.contains("trailing comma") == true)
    }
}
