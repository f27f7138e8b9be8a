import Foundation
import ParleyProtocol
import ParleyTestSupport
import Testing

@testable import ParleyServer

/// Follow-ups to room owners (§12) and files (§14) where the two meet, over real sockets.
@Suite struct RoomRulesFollowUpTests {
    @Test func anUploadDoesNotStartSlowModeItsMessageDoes() async throws {
        try await withServer { server in
            let (code, key, _) = try await RoomOwnerTests.createRoom(server)
            let (owner, _) = try await server.join("room=\(code)&nick=olga&key=\(key)")
            try await owner.send(.room(RoomChange(slowMode: 3600)))
            _ = try await owner.next { event -> Bool? in
                if case .room(let info) = event, info.slowMode == 3600 { return true }
                return nil
            }
            let uploaded = try await FileTests.upload(server, room: code)
            #expect(uploaded.status == 201)
            let id = try #require(FileTests.json(uploaded)["id"] as? String)
            let post = try await server.http("POST", "/api/rooms/\(code)/messages", body: #"{"nick":"web","text":"","attachments":["\#(id)"]}"#)
            #expect(post.status == 201)
            // The message started the interval: the next one waits.
            let again = try await server.http("POST", "/api/rooms/\(code)/messages", body: #"{"nick":"web","text":"more"}"#)
            #expect(again.status == 429)
        }
    }
}
