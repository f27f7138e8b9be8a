import ArgumentParser
import Testing

@testable import parley

/// `parley chat`'s options: what it accepts and what it refuses before connecting (exit 64).
@Suite struct ChatCommandTests {
    @Test func defaults() throws {
        let chat = try Chat.parse(["ws://127.0.0.1:8080", "--room", "lobby"])
        #expect(chat.url == "ws://127.0.0.1:8080")
        #expect(chat.room == "lobby")
        #expect(chat.nick == nil)
        #expect(chat.ackTimeout == 10)
        #expect(chat.logLevel == "critical")
    }

    @Test(arguments: [
        (["ws://h:1", "--ack-timeout=-1"], "--ack-timeout must be 0 or more"),
        (["ws://h:1", "--log-level", "loud"], "--log-level loud is not a level"),
        ([], "Missing expected argument '<url>'"),
    ])
    func badOptionsAreRefused(arguments: [String], message: String) {
        #expect(refusal(Chat.self, arguments)?.contains(message) == true, "\(arguments)")
    }
}

/// The message a command's parsing or validation refused `arguments` with, with its exit code checked to be
/// 64 (bad usage); nil when they were accepted.
func refusal<Command: ParsableCommand>(_ command: Command.Type, _ arguments: [String]) -> String? {
    do {
        _ = try Command.parse(arguments)
        return nil
    } catch {
        #expect(Command.exitCode(for: error) == .validationFailure)
        return Command.message(for: error)
    }
}
