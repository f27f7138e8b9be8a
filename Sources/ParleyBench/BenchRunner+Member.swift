import HummingbirdWSClient
import Logging
import NIOCore
import ParleyClient

extension BenchRunner {
    /// The largest message accepted from the server, fragments joined.
    static let maxMessageBytes = 1 << 20

    /// One member's connection, from dial to close. Never throws: failures go to the coordinator (before
    /// `welcome`) or to the tally (after).
    func runMember(room: Int, member: Int, context: BenchContext, joins: AsyncStream<JoinEvent>.Continuation) async {
        let welcomed = Latch<Void>()
        let code = plan.roomCode(room)
        let who = "member \(plan.nick(member)) of room \(code)"
        var problem: String?
        do {
            let closeFrame = try await Self.connect(plan: plan, room: room, member: member, logger: logger) { inbound, outbound in
                try await serve(
                    inbound: inbound,
                    outbound: outbound,
                    reader: MemberReader(room: room, roomCode: code, member: member),
                    context: context,
                    welcomed: welcomed,
                    joins: joins
                )
            }
            if context.stop.value == nil {
                problem = "closed by the server" + (closeFrame.map { " (\($0.summary))" } ?? "")
            }
        } catch is CancellationError {
            problem = nil
        } catch let error as WebSocketClientError where error == .webSocketUpgradeFailed {
            problem = "the server refused the WebSocket upgrade (too many connections from this address?)"
        } catch {
            if context.stop.value == nil, !Task.isCancelled { problem = "\(error)" }
        }
        if welcomed.value == nil {
            let reason = problem ?? (Task.isCancelled ? "cancelled" : "closed before welcome")
            joins.yield(.failed(BenchError(kind: .joinFailed, message: "\(who): \(reason)")))
        } else if let problem {
            context.connectionError("\(who): \(problem)")
        }
    }

    /// Reads every frame until the connection closes; the publisher (if this member is one) sends beside it,
    /// and a closer ends the connection when the run stops.
    private func serve(
        inbound: WebSocketInboundStream,
        outbound: WebSocketOutboundWriter,
        reader: MemberReader,
        context: BenchContext,
        welcomed: Latch<Void>,
        joins: AsyncStream<JoinEvent>.Continuation
    ) async throws {
        var reader = reader
        defer {
            reader.finish()
            context.collect(reader)
        }
        let perRoom = plan.publishersInRoom
        let publisher =
            reader.member < perRoom
            ? Publisher(context: context, room: reader.room, index: reader.member, globalIndex: reader.room * perRoom + reader.member)
            : nil
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                guard await context.stop.wait() != nil else { return }
                try? await outbound.close(.normalClosure, reason: nil)
            }
            var partial: ByteBuffer?
            for try await frame in inbound {
                guard let message = Self.assemble(frame, into: &partial) else { continue }
                let now = context.clock.now()
                let scanned = message.withUnsafeReadableBytes { FrameScanner.scan($0) }
                context.received(reader.receive(scanned, at: now, window: context.window), room: reader.room)
                if case .welcome = scanned, welcomed.value == nil {
                    welcomed.open()
                    joins.yield(.joined)
                    if let publisher { group.addTask { await publisher.run(outbound) } }
                }
            }
            group.cancelAll()
        }
    }

    /// Opens member `member` of room `room` on its server (idle and measuring members alike) and runs
    /// `handler` until the connection closes; returns the server's close frame.
    static func connect(
        plan: BenchPlan,
        room: Int,
        member: Int,
        logger: Logger,
        handler: @escaping @Sendable (WebSocketInboundStream, WebSocketOutboundWriter) async throws -> Void
    ) async throws -> WebSocketCloseFrame? {
        var configuration = WebSocketClientConfiguration()
        configuration.maxFrameSize = maxMessageBytes
        configuration.closeTimeout = .seconds(2)
        return try await WebSocketClient.connect(
            url: plan.endpoint(room: room, member: member).webSocketURL(room: plan.roomCode(room), nick: plan.nick(member)),
            configuration: configuration,
            logger: logger
        ) { inbound, outbound, _ in try await handler(inbound, outbound) }
    }

    /// A whole message from one frame or several fragments; `nil` while fragments are still coming.
    static func assemble(_ frame: WebSocketDataFrame, into partial: inout ByteBuffer?) -> ByteBuffer? {
        switch frame.opcode {
        case .text, .binary:
            if frame.fin { return frame.data }
            partial = frame.data
            return nil
        case .continuation:
            guard var buffer = partial else { return nil }
            partial = nil
            var data = frame.data
            guard buffer.readableBytes + data.readableBytes <= maxMessageBytes else { return nil }
            buffer.writeBuffer(&data)
            if frame.fin { return buffer }
            partial = buffer
            return nil
        }
    }
}
