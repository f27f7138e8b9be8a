import ParleyProtocol
import ParleyTestSupport
import Testing

/// The test client's own reads, where a lost frame would make other tests fail or pass by chance.
@Suite struct RawSocketTests {
    /// A frame that arrives as a short window ends is returned by that poll or the next, never dropped: the
    /// expired-token test polls like this and once saw the connection end without the close frame before it.
    @Test func pollingWithShortWindowsLosesNoFrame() async throws {
        try await withServer(.set(\.ratePerSecond, 0)) { server in
            let (bob, _) = try await server.join("room=poll&nick=bob")
            let (eve, _) = try await server.join("room=poll&nick=eve")
            _ = try await bob.next()  // eve's join
            let count = 400
            let sending = Task {
                for n in 1...count {
                    try await bob.send(.message(text: "m\(n)", clientID: "c\(n)"))
                    try await Task.sleep(for: .microseconds(300))
                }
            }
            var received = 0
            var quiet = 0
            // Ends when every message came, or after a second with nothing.
            while received < count, quiet < 1000 {
                guard let frame = try await eve.frame(within: .milliseconds(1)) else {
                    quiet += 1
                    continue
                }
                quiet = 0
                if frame.opcode == 0x1, frame.text.contains(#""type":"message""#) { received += 1 }
            }
            try await sending.value
            #expect(received == count)
        }
    }
}
