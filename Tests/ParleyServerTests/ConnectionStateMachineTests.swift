import NIOCore
import Testing

@testable import ParleyServer

/// ``ConnectionStateMachine`` without sockets: each rule of a connection's life, driven by a fake clock.
@Suite struct ConnectionStateMachineTests {
    typealias Machine = ConnectionStateMachine

    static let timeouts = Machine.Timeouts(ping: .seconds(30), idle: .seconds(60), write: .seconds(30), close: .seconds(3))
    /// The fake clock's zero.
    static let start = NIODeadline.uptimeNanoseconds(1_000_000_000_000)

    /// The fake clock `seconds` after the machine was made.
    func at(_ seconds: Int64) -> NIODeadline { Self.start + .seconds(seconds) }

    /// A machine whose member has joined and whose socket is being read.
    func serving() -> Machine {
        var machine = Machine(timeouts: Self.timeouts, now: Self.start)
        #expect(machine.joined() == .resumeReading)
        return machine
    }

    // MARK: commands

    @Test func commandsWaitForWelcomeThenRunInOrder() {
        var machine = Machine(timeouts: Self.timeouts, now: Self.start)
        #expect(machine.textReceived("a", outboxOpen: true) == .none)
        #expect(machine.textReceived("b", outboxOpen: true) == .none)
        #expect(machine.joined() == .run("a"))
        #expect(machine.commandFinished() == .run("b"))
        #expect(machine.commandFinished() == .resumeReading)
    }

    @Test func aCommandThatWaitsForStoragePausesReadingUntilItFinishes() {
        var machine = serving()
        #expect(machine.textReceived("history", outboxOpen: true) == .run("history"))
        #expect(machine.commandWaiting() == .pauseReading)
        // Frames NIO had already read are held, in order.
        #expect(machine.textReceived("next", outboxOpen: true) == .none)
        #expect(machine.commandFinished() == .run("next"))
        #expect(machine.commandFinished() == .resumeReading)
    }

    @Test func noCommandRunsOnceACloseIsDecided() {
        var machine = serving()
        // The outbox decided (a room cut the member off): a command could be stored but never acknowledged.
        #expect(machine.textReceived("late", outboxOpen: false) == .none)
        #expect(machine.frameRefused(code: 1007, reason: "bad") == .close(code: 1007, reason: "bad"))
        #expect(machine.textReceived("later", outboxOpen: true) == .none)
        // One close is enough.
        #expect(machine.frameRefused(code: 1003, reason: "binary") == .none)
    }

    @Test func commandsHeldBehindABusyOneAreDroppedOnceACloseIsDecided() {
        var machine = serving()
        #expect(machine.textReceived("first", outboxOpen: true) == .run("first"))
        #expect(machine.commandWaiting() == .pauseReading)
        #expect(machine.textReceived("held", outboxOpen: true) == .none)
        #expect(machine.frameRefused(code: 1009, reason: "message too large") == .close(code: 1009, reason: "message too large"))
        // The busy one finishes; the held one is never run.
        #expect(machine.commandFinished() != .run("held"))
    }

    @Test func aRefusedJoinReadsOnlyForTheClientsAnswer() {
        var machine = Machine(timeouts: Self.timeouts, now: Self.start)
        #expect(machine.joinRefused() == .resumeReading)
        #expect(machine.textReceived("a", outboxOpen: true) == .none)
        #expect(machine.closeTaken(code: 1011, reason: "storage unavailable") == .writeClose(code: 1011, reason: "storage unavailable"))
        #expect(machine.closeReceived(code: 1011) == .drop)
    }

    // MARK: the client's close

    @Test func theClientsCloseIsAnsweredWithItsCodeAfterItsCommands() {
        var machine = serving()
        #expect(machine.textReceived("history", outboxOpen: true) == .run("history"))
        #expect(machine.commandWaiting() == .pauseReading)
        #expect(machine.closeReceived(code: 4000) == .none)
        #expect(machine.commandFinished() == .answerClose(code: 4000))
        // Our close answers the client's: once it is written, the socket closes.
        #expect(machine.closeTaken(code: 4000, reason: "") == .writeClose(code: 4000, reason: ""))
        #expect(machine.closeWritten() == .drop)
    }

    @Test func aShutTCPSideIsAnsweredLikeACloseWith1000() {
        var machine = serving()
        #expect(machine.inputClosed() == .answerClose(code: 1000))
        // Anything further from the client ends it.
        #expect(machine.inputClosed() == .drop)
    }

    @Test func theAnswerToOurCloseCompletesTheHandshake() {
        var machine = serving()
        #expect(machine.closeTaken(code: 1008, reason: "slow consumer") == .writeClose(code: 1008, reason: "slow consumer"))
        #expect(machine.closeReceived(code: 1008) == .drop)
        #expect(machine.tick(now: at(100), pendingBytes: 0) == .none)
    }

    // MARK: pings from the client

    @Test func aPingIsAnsweredThroughTheOutbox() {
        var machine = serving()
        let payload = ByteBuffer(string: "are you there")
        #expect(machine.pingReceived(payload: payload) == .answerPing(payload))
    }

    @Test func pingsAreNotAnsweredWhileFramesWaitForTheSocket() {
        var machine = serving()
        #expect(machine.writabilityChanged(writable: false) == .none)
        #expect(machine.pingReceived(payload: ByteBuffer()) == .none)
        #expect(machine.writabilityChanged(writable: true) == .writeOutbox)
        #expect(machine.pingReceived(payload: ByteBuffer()) == .answerPing(ByteBuffer()))
    }

    @Test func atMostSoManyPongsWaitForTheWriter() {
        var machine = serving()
        for _ in 0..<Machine.maxPongsWaiting {
            #expect(machine.pingReceived(payload: ByteBuffer()) == .answerPing(ByteBuffer()))
        }
        #expect(machine.pingReceived(payload: ByteBuffer()) == .none)
        // The writer took them.
        machine.handed(bytes: 2048)
        #expect(machine.pingReceived(payload: ByteBuffer()) == .answerPing(ByteBuffer()))
    }

    @Test func noPongOnceOurCloseIsDecided() {
        var machine = serving()
        _ = machine.closeTaken(code: 1001, reason: "server shutting down")
        #expect(machine.pingReceived(payload: ByteBuffer()) == .none)
    }

    // MARK: heartbeat and idle close

    @Test func theClientIsPingedEveryInterval() {
        var machine = serving()
        machine.frameHeard()
        #expect(machine.tick(now: at(29), pendingBytes: 0) == .none)
        #expect(machine.tick(now: at(30), pendingBytes: 0) == .ping)
        machine.frameHeard()
        #expect(machine.tick(now: at(31), pendingBytes: 0) == .none)
        #expect(machine.tick(now: at(60), pendingBytes: 0) == .ping)
    }

    @Test func aClientSilentForTheIdleTimeoutIsClosed1001() {
        var machine = serving()
        #expect(machine.tick(now: at(0), pendingBytes: 0) == .none)
        #expect(machine.tick(now: at(30), pendingBytes: 0) == .ping)
        #expect(machine.tick(now: at(60), pendingBytes: 0) == .close(code: 1001, reason: "idle timeout"))
        // No ping after that.
        #expect(machine.tick(now: at(90), pendingBytes: 0) == .none)
    }

    @Test func idleSilenceCountsFromTheLastFrameNotFromTheLastBeat() {
        var machine = serving()
        #expect(machine.tick(now: at(30), pendingBytes: 0) == .ping)
        machine.frameHeard()
        #expect(machine.tick(now: at(31), pendingBytes: 0) == .none)
        for second in Int64(32)..<91 {
            let action = machine.tick(now: at(second), pendingBytes: 0)
            #expect(action == .none || action == .ping)
        }
        // 60 s after its last frame, not at the next beat (120 s).
        #expect(machine.tick(now: at(91), pendingBytes: 0) == .close(code: 1001, reason: "idle timeout"))
    }

    @Test func anyFrameFromTheClientPongsIncludedKeepsItAlive() {
        var machine = serving()
        for second in stride(from: Int64(1), through: 300, by: 1) {
            if second % 50 == 0 { machine.frameHeard() }  // a pong now and then
            let action = machine.tick(now: at(second), pendingBytes: 0)
            #expect(action == .none || action == .ping)
        }
    }

    @Test func silenceWhileTheServerIsNotReadingIsNotTheClients() {
        var machine = serving()
        #expect(machine.textReceived("history", outboxOpen: true) == .run("history"))
        #expect(machine.commandWaiting() == .pauseReading)
        // Storage takes long: the client is pinged, never closed.
        #expect(machine.tick(now: at(30), pendingBytes: 0) == .ping)
        #expect(machine.tick(now: at(90), pendingBytes: 0) == .ping)
        #expect(machine.commandFinished() == .resumeReading)
        // Its silence counts from when reading resumed.
        #expect(machine.tick(now: at(100), pendingBytes: 0) == .none)
        #expect(machine.tick(now: at(120), pendingBytes: 0) == .ping)
        #expect(machine.tick(now: at(160), pendingBytes: 0) == .close(code: 1001, reason: "idle timeout"))
    }

    @Test func aSocketThatTakesNothingIsNotPinged() {
        var machine = serving()
        machine.frameHeard()
        #expect(machine.writabilityChanged(writable: false) == .none)
        #expect(machine.tick(now: at(30), pendingBytes: 0) == .none)
    }

    // MARK: the write timeout

    @Test func aSocketThatTakesNoBytesWhileFramesWaitIsDroppedAfterTheWriteTimeout() {
        var machine = serving()
        machine.handed(bytes: 70_000)
        #expect(machine.writabilityChanged(writable: false) == .none)
        #expect(machine.tick(now: at(1), pendingBytes: 70_000) == .none)
        machine.frameHeard()  // the client still sends: that is no excuse
        #expect(machine.tick(now: at(30), pendingBytes: 70_000) == .none)
        #expect(machine.tick(now: at(31), pendingBytes: 70_000) == .drop)
    }

    @Test func anyProgressOfTheSocketRestartsTheWriteTimeout() {
        var machine = serving()
        machine.handed(bytes: 70_000)
        var pending = 70_000
        for second in stride(from: Int64(1), through: 200, by: 10) {
            #expect(machine.tick(now: at(second), pendingBytes: pending) != .drop)
            pending -= 100  // a trickle is progress
        }
        // More handed than left: still progress, since the socket took some.
        machine.handed(bytes: 500)
        #expect(machine.tick(now: at(230), pendingBytes: pending + 400) != .drop)
        #expect(machine.tick(now: at(259), pendingBytes: pending + 400) != .drop)
        #expect(machine.tick(now: at(260), pendingBytes: pending + 400) == .drop)
    }

    @Test func becomingWritableIsProgress() {
        var machine = serving()
        machine.handed(bytes: 70_000)
        #expect(machine.tick(now: at(1), pendingBytes: 40_000) == .none)
        #expect(machine.writabilityChanged(writable: true) == .writeOutbox)
        machine.handed(bytes: 30_000)
        // The client answers pings (so it is not idle): only the socket stalls.
        machine.frameHeard()
        #expect(machine.tick(now: at(40), pendingBytes: 40_000) == .ping)
        #expect(machine.tick(now: at(69), pendingBytes: 40_000) == .none)
        #expect(machine.tick(now: at(70), pendingBytes: 40_000) == .drop)
    }

    @Test func anEmptySocketIsNotWatched() {
        var machine = serving()
        machine.frameHeard()
        machine.handed(bytes: 100)
        #expect(machine.watchesWrites)
        #expect(machine.tick(now: at(1), pendingBytes: 0) == .none)
        #expect(!machine.watchesWrites)
    }

    // MARK: closing a slow consumer

    @Test func aSlowConsumersCloseGoesBehindWhatTheSocketHoldsAndWaitsForProgress() {
        var machine = serving()
        machine.handed(bytes: 70_000)
        #expect(machine.writabilityChanged(writable: false) == .none)
        // The room overflowed the outbox; the writer takes the close although the socket is full.
        #expect(machine.closeTaken(code: 1008, reason: "slow consumer") == .writeClose(code: 1008, reason: "slow consumer"))
        machine.handed(bytes: 17)
        // A client that keeps reading, however slowly, is not dropped.
        var pending = 70_017
        for second in Int64(1)...60 {
            #expect(machine.tick(now: at(second), pendingBytes: pending) == .none)
            pending -= 1000
        }
        // Our close reached its socket: the client has the close timeout to answer, from the next tick.
        #expect(machine.closeWritten() == .none)
        #expect(machine.tick(now: at(61), pendingBytes: 0) == .none)
        #expect(machine.tick(now: at(63), pendingBytes: 0) == .none)
        #expect(machine.tick(now: at(64), pendingBytes: 0) == .drop)
    }

    @Test func aSlowConsumerThatStopsReadingIsDroppedAfterTheWriteTimeout() {
        var machine = serving()
        machine.handed(bytes: 70_000)
        _ = machine.writabilityChanged(writable: false)
        #expect(machine.closeTaken(code: 1008, reason: "slow consumer") == .writeClose(code: 1008, reason: "slow consumer"))
        #expect(machine.tick(now: at(1), pendingBytes: 70_017) == .none)
        #expect(machine.tick(now: at(30), pendingBytes: 70_017) == .none)
        #expect(machine.tick(now: at(31), pendingBytes: 70_017) == .drop)
    }

    @Test func aCloseBehindFramesTheClientDoesNotReadGetsTheCloseTimeout() {
        var machine = serving()
        machine.handed(bytes: 70_000)
        _ = machine.writabilityChanged(writable: false)
        // Shutting down: the outbox drains, then closes; the socket takes nothing.
        machine.closeWaitsBehindFrames()
        #expect(machine.tick(now: at(1), pendingBytes: 70_000) == .none)
        #expect(machine.tick(now: at(3), pendingBytes: 70_000) == .none)
        #expect(machine.tick(now: at(4), pendingBytes: 70_000) == .drop)
    }

    @Test func aClientThatClosedAndReadsNothingGetsTheCloseTimeout() {
        var machine = serving()
        machine.handed(bytes: 70_000)
        _ = machine.writabilityChanged(writable: false)
        #expect(machine.closeReceived(code: 1000) == .answerClose(code: 1000))
        #expect(machine.tick(now: at(1), pendingBytes: 70_000) == .none)
        #expect(machine.tick(now: at(4), pendingBytes: 70_000) == .drop)
    }

    @Test func aDroppedConnectionDoesNothingMore() {
        var machine = serving()
        #expect(machine.closeTaken(code: 1001, reason: "idle timeout") == .writeClose(code: 1001, reason: "idle timeout"))
        #expect(machine.closeReceived(code: 1001) == .drop)
        #expect(machine.closeWritten() == .none)
        #expect(machine.writabilityChanged(writable: true) == .none)
        #expect(machine.tick(now: at(1000), pendingBytes: 5) == .none)
    }
}

extension ConnectionStateMachineTests {
    @Test func anExpiredTokenClosesWith4005AtItsExpiry() {
        var machine = Machine(timeouts: Self.timeouts, now: Self.start, expires: at(50))
        #expect(machine.joined() == .resumeReading)
        machine.frameHeard()
        #expect(machine.tick(now: at(30), pendingBytes: 0) == .ping)
        machine.frameHeard()
        #expect(machine.tick(now: at(49), pendingBytes: 0) == .none)
        #expect(machine.tick(now: at(50), pendingBytes: 0) == .close(code: 4005, reason: "token expired"))
        // Decided once.
        #expect(machine.tick(now: at(51), pendingBytes: 0) == .none)
    }
}
