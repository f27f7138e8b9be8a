import Synchronization

/// Closed loop, one room: the messages still on their way to some member, and the credits that let each
/// of the room's publishers send its next message. A message completes when every member has received it.
final class InFlightWindow: Sendable {
    private struct Pending {
        var remaining: Int
        var sentAt: Int64
    }

    private let pending = Mutex([Int: Pending]())
    private let credits: [AsyncStream<Void>.Continuation]
    /// Publisher `p` of the room sends each time its stream yields.
    let creditStreams: [AsyncStream<Void>]
    let recipients: Int

    /// - Parameters:
    ///   - publishers: the room's publishers; message `seq` belongs to publisher `seq % publishers`.
    ///   - window: messages in flight per publisher.
    ///   - recipients: members that must receive a message for it to complete.
    init(publishers: Int, window: Int, recipients: Int) {
        var streams: [AsyncStream<Void>] = []
        var continuations: [AsyncStream<Void>.Continuation] = []
        for _ in 0..<publishers {
            let (stream, continuation) = AsyncStream.makeStream(of: Void.self)
            for _ in 0..<window { continuation.yield() }
            streams.append(stream)
            continuations.append(continuation)
        }
        creditStreams = streams
        credits = continuations
        self.recipients = recipients
    }

    /// Called just before message `seq` is written.
    func sending(seq: Int, at time: Int64) {
        pending.withLock { $0[seq] = Pending(remaining: recipients, sentAt: time) }
    }

    /// One member received message `seq`; the last one gives its publisher a credit.
    func delivered(seq: Int) {
        let complete = pending.withLock { pending -> Bool in
            guard var message = pending[seq] else { return false }
            message.remaining -= 1
            if message.remaining > 0 {
                pending[seq] = message
                return false
            }
            pending[seq] = nil
            return true
        }
        if complete { credits[seq % credits.count].yield() }
    }

    /// Gives up messages sent before `cutoff` and returns their credits; returns how many were given up.
    func expire(sentBefore cutoff: Int64) -> Int {
        let expired = pending.withLock { pending -> [Int] in
            let old = pending.filter { $0.value.sentAt < cutoff }.map(\.key)
            for seq in old { pending[seq] = nil }
            return old
        }
        for seq in expired { credits[seq % credits.count].yield() }
        return expired.count
    }

    /// Ends every publisher's credit stream.
    func finish() {
        for credit in credits { credit.finish() }
    }
}
