import ParleyClient
import Testing

@testable import parley

/// What `parley chat` makes of each typed line.
@Suite struct ChatLineTests {
    @Test func plainLinesAreMessagesAndBlankOnesAreIgnored() {
        #expect(ChatLine("hello") == .input(.say("hello")))
        #expect(ChatLine("hello\r") == .input(.say("hello")))
        #expect(ChatLine("  ") == .ignored)
        #expect(ChatLine("") == .ignored)
        #expect(ChatLine("//not a command") == .input(.say("/not a command")))
    }

    @Test func slashCommands() {
        #expect(ChatLine("/nick bob") == .input(.nick("bob")))
        #expect(ChatLine("/members") == .input(.members))
        #expect(ChatLine("/who") == .input(.members))
        #expect(ChatLine("/quit") == .input(.quit))
        #expect(ChatLine("/exit") == .input(.quit))
        #expect(ChatLine("/help") == .help)
        #expect(ChatLine("/?") == .help)
    }

    @Test func historyTakesACountWithinTheContractsPageSizes() {
        #expect(ChatLine("/history") == .input(.history(limit: 20)))
        #expect(ChatLine("/history 1") == .input(.history(limit: 1)))
        #expect(ChatLine("/history 200") == .input(.history(limit: 200)))
        for refused in ["/history 0", "/history 201", "/history lots"] {
            #expect(ChatLine(refused) == .unknown("/history takes a count from 1 to 200"), "\(refused)")
        }
        #expect(ChatLine.helpText.contains("at most 200"))
    }

    @Test func unknownCommandsAndANickWithoutANameAreNotSent() {
        #expect(ChatLine("/nick") == .unknown("/nick needs a new nick"))
        #expect(ChatLine("/dance now") == .unknown("unknown command /dance; /help lists them"))
    }
}
