import NIOCore
import Synchronization

/// Bytes from the socket, parsed into the HTTP response head and then WebSocket frames.
final class Inbox: Sendable {
    private struct State {
        var buffer: [UInt8] = []
        var ended = false
        /// Bumped on every change, so a waiter never sleeps through data that arrived after its look.
        var version = 0
        var waiter: CheckedContinuation<Void, any Error>?
    }

    private let state = Mutex(State())

    func append(_ bytes: ByteBuffer) {
        let waiter = state.withLock { state in
            state.buffer += bytes.readableBytesView
            state.version += 1
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    func end() {
        let waiter = state.withLock { state in
            state.ended = true
            state.version += 1
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// Waits until `parse` can take something from the buffer.
    private func take<T>(_ parse: (inout [UInt8], Bool) throws -> T?) async throws -> T {
        // Without a deadline, only a value or an error ends the wait.
        try await take(until: nil, parse)!
    }

    /// Waits until `parse` can take something from the buffer, or until `deadline` (then nil). Only this task
    /// parses, so nothing is taken from the buffer unless it is returned.
    private func take<T>(until deadline: ContinuousClock.Instant?, _ parse: (inout [UInt8], Bool) throws -> T?) async throws -> T? {
        while true {
            let (value, ended, seen) = try state.withLock { state in (try parse(&state.buffer, state.ended), state.ended, state.version) }
            if let value { return value }
            if ended { throw RawSocket.Failure.closed(code: nil, reason: "connection ended") }
            guard let deadline else {
                try await change(after: seen)
                continue
            }
            if deadline <= .now { return nil }
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await self.change(after: seen) }
                group.addTask { try await Task.sleep(until: deadline) }
                try await group.next()
                group.cancelAll()
            }
        }
    }

    /// Returns once the buffer changed after version `seen`.
    private func change(after seen: Int) async throws {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let resumeNow = state.withLock { state in
                    if state.version != seen || Task.isCancelled { return true }
                    state.waiter = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { state in
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume(throwing: CancellationError())
        }
        try Task.checkCancellation()
    }

    func readHTTPResponse() async throws -> (Int, String) {
        try await take { buffer, ended in
            let separator: [UInt8] = [13, 10, 13, 10]
            guard let end = buffer.firstRange(of: separator) else { return nil }
            let head = String(decoding: buffer[..<end.lowerBound], as: UTF8.self)
            let status = Int(head.split(separator: " ").dropFirst().first ?? "") ?? 0
            var length = 0
            for line in head.split(separator: "\r\n") where line.lowercased().hasPrefix("content-length:") {
                length = Int(line.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) ?? 0
            }
            if status == 101 { length = 0 }
            guard buffer.count >= end.upperBound + length else { return ended ? (status, "") : nil }
            let body = String(decoding: buffer[end.upperBound..<end.upperBound + length], as: UTF8.self)
            buffer.removeFirst(end.upperBound + length)
            return (status, body)
        }
    }

    func nextFrame() async throws -> RawSocket.Frame {
        // Without a deadline, only a frame or an error ends the wait.
        try await nextFrame(until: nil)!
    }

    /// The next whole frame, or nil when none came by `deadline`.
    func nextFrame(until deadline: ContinuousClock.Instant?) async throws -> RawSocket.Frame? {
        try await take(until: deadline) { buffer, _ in
            guard buffer.count >= 2 else { return nil }
            var length = Int(buffer[1] & 0x7f)
            var offset = 2
            if length == 126 {
                guard buffer.count >= 4 else { return nil }
                length = Int(buffer[2]) << 8 | Int(buffer[3])
                offset = 4
            } else if length == 127 {
                guard buffer.count >= 10 else { return nil }
                length = buffer[2..<10].reduce(0) { $0 << 8 | Int($1) }
                offset = 10
            }
            guard buffer.count >= offset + length else { return nil }
            let frame = RawSocket.Frame(fin: buffer[0] & 0x80 != 0, opcode: buffer[0] & 0x0f, payload: Array(buffer[offset..<offset + length]))
            buffer.removeFirst(offset + length)
            return frame
        }
    }
}

final class Collector: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    let inbox: Inbox

    init(inbox: Inbox) {
        self.inbox = inbox
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        inbox.append(unwrapInboundIn(data))
    }

    func channelInactive(context: ChannelHandlerContext) {
        inbox.end()
    }
}
