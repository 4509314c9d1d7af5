import Foundation
import Scan
@testable import Server
import Store
import Testing

/// Decoded policies are reused only while their stored text is the same.
@Suite struct PolicyMemoTests {
    @Test func anEditIsNeverServedStale() {
        let id = "pol_memo_\(UUID().uuidString)"
        var r = PolicyRecord(
            id: id, orgId: "org", name: "p", enabled: true, action: "fail", scope: "{}",
            rules: #"[{"type":"severity","level":"HIGH"}]"#, now: Date())
        let first = Policy.cached(r)
        #expect(first.rules == [.severity(level: .high, fixableOnly: false)])
        #expect(Policy.cached(r) == first)
        r.rules = #"[{"type":"kev"}]"#
        #expect(Policy.cached(r).rules == [.kev])
        r.action = "warn"
        #expect(Policy.cached(r).action == .warn)
        r.scope = #"{"repositories":["apps/*"]}"#
        #expect(Policy.cached(r).scope != first.scope)
        #expect(Policy.cached(r) == Policy(r))
    }
}
