import Foundation
import ParleyProtocol
import ParleyTestSupport
import Testing

@testable import ParleyServer

/// Living messages across two nodes on one PostgreSQL (§11): a change committed on one node reaches members
/// on the other as `update`s in revision order, and authorship holds on either node. (The suites written for
/// both storages, LivingMessageTests, LivingResumeTests and SearchTests, cover one node.)
@Suite(
    .enabled(
        if: TestPostgres.url != nil,
        "needs PARLEY_TEST_POSTGRES_URL (scripts/test starts a PostgreSQL)"
    )
)
struct PostgresLivingTests {
    @Test func changesOnOneNodeReachMembersOnAnother() async throws {
        let room = TestStorage.postgres.room("pgliving")
        try await withServer(TestStorage.postgres.setting, .set(\.ratePerSecond, 0)) { first in
            try await withServer(TestStorage.postgres.setting, .set(\.ratePerSecond, 0)) { second in
                let (alice, welcome) = try await first.join("room=\(room)&nick=alice")
                let (bob, _) = try await second.join("room=\(room)&nick=bob")
                #expect(welcome.rev == 0)
                try await alice.send("helo")
                let message = try await alice.nextMessage()
                #expect(try await bob.nextMessage() == message)

                // Alternating nodes, so each node's own commits interleave with the other's announcements.
                try await alice.send(.edit(id: message.id, text: "hello"))
                try await bob.send(.react(id: message.id, emoji: "👍"))
                try await alice.send(.react(id: message.id, emoji: "🎉"))
                try await bob.send(.unreact(id: message.id, emoji: "👍"))
                // A node that fetches another node's changes gets each changed message once, in its newest state:
                // a revision overtaken by a later change of the same message may be skipped, never reordered.
                for socket in [alice, bob] {
                    var revs: [Int64] = []
                    var last: ChatMessage?
                    while revs.last != 4 {
                        let (rev, state) = try await socket.nextUpdate()
                        revs.append(rev)
                        last = state
                    }
                    #expect(revs == revs.sorted() && Set(revs).count == revs.count)
                    #expect(last?.text == "hello" && last?.reactions == [Reaction(emoji: "🎉", nicks: ["alice"])])
                }

                // The author is the session, whichever node it is on (taking it over there closes `alice`);
                // nobody else may edit.
                try await bob.send(.edit(id: message.id, text: "mine now"))
                #expect(try await bob.nextError() == .forbidden)
                let (again, _) = try await second.join("room=\(room)&session=\(welcome.session)")
                try await again.send(.delete(id: message.id))
                for socket in [bob, again] {
                    let (rev, deleted) = try await socket.nextUpdate(after: 4)
                    #expect(rev == 5 && deleted.deleted == true && deleted.text == "")
                }
                let search = try await first.http("GET", "/api/rooms/\(room)/search?q=hello")
                #expect(search.status == 200 && (search.json["messages"] as? [Any])?.isEmpty == true)
            }
        }
    }
}
