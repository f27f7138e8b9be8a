/// What `parley bench` runs: where, the shape of the load, and for how long.
public struct BenchPlan: Sendable {
    /// How messages are paced.
    public enum Load: Sendable, Equatable {
        /// Open loop: this many messages per second in total, spread evenly over the publishers on a fixed schedule.
        case rate(Double)
        /// Closed loop: each publisher keeps this many messages in flight; one completes when every member has it.
        case window(Int)
    }

    /// The servers; with several (the nodes of a cluster), each room's members are spread over all of them.
    public var endpoints: [BenchEndpoint]
    public var rooms: Int
    public var membersPerRoom: Int
    /// Members of each room that send (the first ones to join); at most ``membersPerRoom``.
    public var publishersPerRoom = 1
    public var load = Load.window(8)
    public var warmup: Duration = .seconds(2)
    public var duration: Duration = .seconds(8)
    /// Bytes of each message's text (at least the marker's length).
    public var size = 64
    /// After the measured window, how long to wait for the deliveries still on their way.
    public var drain: Duration = .seconds(5)
    /// Closed loop: messages not complete after this long are given up, so a lossy server cannot stall a publisher.
    public var ackTimeout: Duration = .seconds(2)
    /// How long every member has to connect and receive its `welcome`.
    public var joinTimeout: Duration = .seconds(30)
    /// Connections being opened at once.
    public var connectConcurrency = 100
    /// Storm mode: loopback source addresses the dials are spread over (127.0.0.1, .2, ...), as a server
    /// bounds unfinished sockets per address; 1 leaves the choice to the system.
    public var sourceAddresses = 1
    /// Room codes are `<prefix>-<index>`; by default a random prefix, new for every run.
    public var roomPrefix = BenchPlan.randomPrefix()

    public init(endpoint: BenchEndpoint, rooms: Int, membersPerRoom: Int) {
        self.init(endpoints: [endpoint], rooms: rooms, membersPerRoom: membersPerRoom)
    }

    public init(endpoints: [BenchEndpoint], rooms: Int, membersPerRoom: Int) {
        precondition(!endpoints.isEmpty, "a plan needs a server")
        self.endpoints = endpoints
        self.rooms = rooms
        self.membersPerRoom = membersPerRoom
    }

    /// The server member `member` of room `room` connects to: round robin, so every room spans every server.
    public func endpoint(room: Int, member: Int) -> BenchEndpoint {
        endpoints[endpointIndex(room: room, member: member)]
    }

    /// The index in ``endpoints`` of ``endpoint(room:member:)``.
    public func endpointIndex(room: Int, member: Int) -> Int {
        (room * membersPerRoom + member) % endpoints.count
    }

    /// The code of room `index`.
    public func roomCode(_ index: Int) -> String { "\(roomPrefix)-\(index)" }

    /// The nick of member `member` (unique within its room).
    public func nick(_ member: Int) -> String { "m\(member)" }

    /// Publishers in each room: ``publishersPerRoom``, at most every member.
    public var publishersInRoom: Int { min(publishersPerRoom, membersPerRoom) }

    /// Publishers across all rooms.
    public var totalPublishers: Int { rooms * publishersInRoom }

    /// The latest the run may end, counted from its start: every phase's allowance plus a margin for closing.
    public var hardDeadline: Duration { joinTimeout + warmup + duration + drain + .seconds(10) }

    /// `pb` and 8 random lower-case hex digits.
    public static func randomPrefix() -> String {
        "pb" + String(UInt32.random(in: .min ... .max), radix: 16).leftPadded(to: 8)
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
