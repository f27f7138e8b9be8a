import ArgumentParser

@main
struct Parley: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "parley",
        abstract: "A real-time chat-room server, its terminal client and a load generator.",
        subcommands: [Serve.self, Chat.self, CreateRoom.self, Bench.self]
    )

    /// Runs the command line, with `parley serve`'s `PARLEY_*` environment twins filled in.
    static func main() async {
        var arguments = Array(CommandLine.arguments.dropFirst())
        if arguments.first == "serve" {
            arguments += Serve.environmentArguments(given: arguments)
        }
        await main(arguments)
    }
}
