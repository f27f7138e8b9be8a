import ParleyClient
import Testing

@testable import parley

/// The exit codes of `parley chat` and `parley create-room` (sysexits.h, documented in docs/CLI.md).
@Suite struct ClientExitCodeTests {
    @Test(arguments: [
        (ChatClientError.Kind.usage, Int32(64)),
        (.refused(status: 400), 65), (.refused(status: 413), 65), (.refused(status: 403), 77), (.refused(status: 404), 66),
        (.refused(status: 429), 69), (.refused(status: 503), 69), (.refused(status: 500), 1),
        (.unreachable, 69), (.replaced, 75), (.unacknowledged(count: 2), 75),
    ])
    func eachFailureHasItsDocumentedCode(kind: ChatClientError.Kind, code: Int32) {
        #expect(ClientExitCode.code(for: ChatClientError(kind: kind, message: "m")) == code)
    }
}
