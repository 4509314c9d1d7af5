import Server
import Store
import Testing

@Suite struct HostAllowListTests {
    @Test func publicHostLocalhostAndAddressesPass() throws {
        let list = try #require(HostAllowList(publicURL: "https://HG.example.com/base/"))
        #expect(list.host == "hg.example.com" && list.port == 443)
        for ok in ["hg.example.com", "HG.EXAMPLE.COM", "hg.example.com:443", "hg.example.com.", "localhost", "localhost:8080",
                   "127.0.0.1", "127.0.0.1:8080", "[::1]", "[::1]:8080", "10.1.2.3:80", "[fd00::1]:443"] {
            #expect(list.permits(authority: ok), "\(ok)")
        }
        for bad in ["evil.example.com", "hg.example.com:8443", "hg.example.com.evil.net", "example.com", "xhg.example.com",
                    "hg.example.com:", "hg.example.com:99999", "", ":443", "[::1", "::1", "hg.example.com:443:1",
                    "localhost.evil.net"] {
            #expect(!list.permits(authority: bad), "\(bad)")
        }
    }

    @Test func explicitPortAndBadURLs() throws {
        let list = try #require(HostAllowList(publicURL: "http://hg.internal:8080"))
        #expect(list.permits(authority: "hg.internal:8080") && list.permits(authority: "hg.internal"))
        #expect(!list.permits(authority: "hg.internal:80"))
        #expect(HostAllowList(publicURL: "not a url") == nil)
        #expect(HostAllowList(publicURL: "ftp://hg.example.com") == nil)
        #expect(HostAllowList(publicURL: "/relative") == nil)
    }
}
