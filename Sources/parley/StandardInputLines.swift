import Dispatch
import Foundation

/// Lines of standard input as an async sequence, read on one dedicated thread (reading a terminal, a pipe or
/// a file blocks, and must not block the concurrency pool). At most `buffer` lines wait unread: the thread
/// pauses until they are consumed. Cancelling the consumer ends the sequence; the thread itself ends
/// with the process or at end of input.
enum StandardInputLines {
    static func make(buffer: Int = 64) -> some AsyncSequence<String, Never> & Sendable {
        let (lines, continuation) = AsyncStream.makeStream(of: String.self)
        let space = DispatchSemaphore(value: buffer)
        let reader = Thread {
            while let line = readLine(strippingNewline: true) {
                space.wait()
                continuation.yield(line)
            }
            continuation.finish()
        }
        reader.name = "parley stdin"
        reader.start()
        return lines.map { line in
            space.signal()
            return line
        }
    }
}
