import ParleyClient
import ParleyProtocol
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

    @Test func moderationCommandsBecomeTheContractsCommands() {
        #expect(ChatLine("/kick troll") == .input(.moderate(.kick(nick: "troll"))))
        #expect(ChatLine("/ban troll") == .input(.moderate(.ban(nick: "troll", seconds: nil))))
        #expect(ChatLine("/ban troll 600") == .input(.moderate(.ban(nick: "troll", seconds: 600))))
        #expect(ChatLine("/unban troll") == .input(.moderate(.unban(nick: "troll"))))
        #expect(ChatLine("/bans") == .input(.moderate(.bans)))
        #expect(ChatLine("/topic be kind") == .input(.moderate(.room(RoomChange(topic: .some("be kind"))))))
        #expect(ChatLine("/topic") == .input(.moderate(.room(RoomChange(topic: .some(nil))))))
        #expect(ChatLine("/lock") == .input(.moderate(.room(RoomChange(locked: true)))))
        #expect(ChatLine("/unlock") == .input(.moderate(.room(RoomChange(locked: false)))))
        #expect(ChatLine("/slow 30") == .input(.moderate(.room(RoomChange(slowMode: 30)))))
        #expect(ChatLine("/modlink") == .input(.moderate(.moderatorKey)))
        #expect(ChatLine("/revoke") == .input(.moderate(.revokeModeratorKeys)))
        for refused in ["/kick", "/ban", "/ban troll soon", "/ban troll 0", "/slow 3601", "/slow x"] {
            if case .unknown = ChatLine(refused) {} else { Issue.record("\(refused) was accepted") }
        }
    }
}
