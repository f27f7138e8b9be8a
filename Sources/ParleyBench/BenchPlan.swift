/// What `parley bench` runs: the shape of the load and how long.
public struct BenchPlan: Sendable {
    public var rooms: Int
    public var membersPerRoom: Int

    public init(rooms: Int, membersPerRoom: Int) {
        self.rooms = rooms
        self.membersPerRoom = membersPerRoom
    }
}
