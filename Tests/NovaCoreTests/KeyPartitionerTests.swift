import NovaCore
import Testing

@Suite struct KeyPartitionerTests {
    /// CRC-32's check value: the standard "123456789" vector.
    @Test func crc32MatchesTheStandardCheckValue() {
        #expect(KeyPartitioner.crc32("123456789".utf8) == 0xCBF4_3926)
        #expect(KeyPartitioner.crc32([UInt8]()) == 0)
    }

    @Test func partitionIsTheCRCModuloTheCount() {
        let partitioner = KeyPartitioner(partitionCount: 6)
        #expect(partitioner.partition(of: "123456789") == Int32(0xCBF4_3926 % 6))
        let spread = Set((0..<200).map { partitioner.partition(of: "host-\($0)") })
        #expect(spread == Set(0..<6), "200 keys reach every partition")
    }
}

@Suite struct DerivedEventIDTests {
    @Test func sameCauseSameIDOtherCauseOtherID() {
        let a = EventID.derived(from: "fixture/deadline/expire/h1/1000/0")
        #expect(a == EventID.derived(from: "fixture/deadline/expire/h1/1000/0"))
        #expect(a != EventID.derived(from: "fixture/deadline/expire/h1/1001/0"))
        #expect(a != EventID.derived(from: "fixture/deadline/expire/h1/1000/1"))
        let ids = Set((0..<10_000).map { EventID.derived(from: "slot/\($0)") })
        #expect(ids.count == 10_000)
        #expect(a.count == 36 && a[a.index(a.startIndex, offsetBy: 14)] == "4", "a version-4-shaped UUID: \(a)")
    }
}
