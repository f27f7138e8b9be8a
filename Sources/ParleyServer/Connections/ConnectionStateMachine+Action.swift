import NIOCore

extension ConnectionStateMachine {
    /// What the handler or the writer does next.
    enum Action: Equatable {
        case none
        /// Hand this command to the connection, then report ``commandFinished()`` or ``commandWaiting()``.
        case run(String)
        case pauseReading
        case resumeReading
        /// Queue a pong with this payload in the outbox, where it counts against the outbound limit.
        case answerPing(ByteBuffer)
        /// Write a ping.
        case ping
        /// Close with this code as soon as the writer can; what is queued is dropped.
        case close(code: UInt16, reason: String)
        /// The client is done: stop reading, send what is queued, then our close with its code.
        case answerClose(code: UInt16)
        /// Write our close frame now, behind what the socket already holds.
        case writeClose(code: UInt16, reason: String)
        /// The socket takes bytes again: write what the outbox holds.
        case writeOutbox
        /// Close the socket, whatever is left unwritten.
        case drop
    }
}
