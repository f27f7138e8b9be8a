import NIOCore

extension ConnectionStateMachine {
    /// The contract's time limits, as this connection uses them.
    struct Timeouts: Equatable {
        /// How often the client is pinged.
        var ping: TimeAmount
        /// Silence (no frame at all) that closes with 1001.
        var idle: TimeAmount
        /// How long the socket may take no bytes while frames wait for it.
        var write: TimeAmount
        /// How long a client has to read what it is owed once it closed, or once our close reached its socket.
        var close: TimeAmount

        init(ping: TimeAmount, idle: TimeAmount, write: TimeAmount, close: TimeAmount) {
            self.ping = ping
            self.idle = idle
            self.write = write
            self.close = close
        }

        init(_ configuration: ServerConfiguration) {
            self.ping = TimeAmount(min(configuration.heartbeatInterval, configuration.idleTimeout / 2))
            self.idle = TimeAmount(configuration.idleTimeout)
            self.write = TimeAmount(configuration.writeTimeout)
            self.close = TimeAmount(configuration.closeTimeout)
        }
    }
}
