import ParleyBench
import Testing

@Test func planKeepsShape() {
    let plan = BenchPlan(rooms: 2, membersPerRoom: 3)
    #expect(plan.rooms * plan.membersPerRoom == 6)
}
