import Foundation
import KefuSystemd
import KefuTestSupport
import Testing

struct MessageIDDocTests {
    /// deploy/message-ids.md is what operators read; every id must be in it.
    @Test func everyIDIsDocumented() throws {
        let url = packageRoot.appendingPathComponent("deploy/message-ids.md")
        let text = try String(contentsOf: url, encoding: .utf8)
        for (name, id) in SystemdMessageID.all {
            #expect(text.contains(id), "\(name) (\(id)) missing from deploy/message-ids.md")
        }
    }
}
