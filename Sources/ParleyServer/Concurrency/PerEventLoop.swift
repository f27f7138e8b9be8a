import NIOCore
import Synchronization

/// One value per event loop, made the first time something asks for that loop's. Event loops here live as
/// long as the process (see ``EventLoopThreads``), and so do these values.
final class PerEventLoop<Value: Sendable>: Sendable {
    private let values = Mutex<[ObjectIdentifier: Value]>([:])
    private let make: @Sendable (any EventLoop) -> Value

    init(_ make: @escaping @Sendable (any EventLoop) -> Value) {
        self.make = make
    }

    /// The value of `eventLoop`, made now if it has none yet.
    subscript(eventLoop: any EventLoop) -> Value {
        values.withLock { values in
            let key = ObjectIdentifier(eventLoop)
            if let value = values[key] { return value }
            let value = make(eventLoop)
            values[key] = value
            return value
        }
    }
}
