import Foundation
import NovaBus
import NovaCore
import NovaService
import NovaTestSupport
import Testing

/// The runtime's pure pieces of time: slots, clocks.
@Suite struct RuntimeValuesTests {
    @Test func aPeriodicSlotReArmsOnceAfterAMissedStretch() {
        #expect(Deadline.nextSlot(after: 999, from: 1000, every: 100) == 1000, "not yet due: unchanged")
        #expect(Deadline.nextSlot(after: 1000, from: 1000, every: 100) == 1100)
        #expect(Deadline.nextSlot(after: 1999, from: 1000, every: 100) == 2000, "ten periods missed: the next one, not ten")
        #expect(Deadline.nextSlot(after: 2000, from: 1000, every: 100) == 2100)
    }

    @Test func aManualClockMovesOnlyWhenTold() {
        let clock = ManualClock(millis: 5)
        #expect(clock.nowMillis() == 5)
        clock.advance(byMillis: 10)
        #expect(clock.nowMillis() == 15)
    }

    @Test func aFileClockReadsTheFileAndNeverGoesBack() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("clock-\(UUID().uuidString)").path
        defer { unlink(path) }
        #expect(throws: ConfigurationError.self) { try FileClock(path: path) }
        try FileClock.write(1000, to: path)
        let clock = try FileClock(path: path)
        #expect(clock.nowMillis() == 1000)
        try FileClock.write(2500, to: path)
        #expect(clock.nowMillis() == 2500)
        try FileClock.write(2000, to: path)
        #expect(clock.nowMillis() == 2500, "time does not run backwards")
        try Data("garbage".utf8).write(to: URL(fileURLWithPath: path))
        #expect(clock.nowMillis() == 2500)
    }

    /// The partitioner the runtime uses to map keys to owners agrees with librdkafka's: records
    /// keyed by 60 hosts land where KeyPartitioner says.
    @Test func keyPartitionerAgreesWithTheProducer() async throws {
        let env = try TestEnvironment.current()
        let topic = "test.\(TestEnvironment.uniqueName("partitioner"))"
        try env.createTopic(topic, partitions: 6)
        let producer = try KafkaProducer(configuration: env.kafka)
        let keys = (0..<60).map { "host-\($0)" }
        let reports = try await producer.send(keys.map { OutgoingMessage(topic: topic, key: $0, value: [1]) })
        await producer.close()
        let partitioner = KeyPartitioner(partitionCount: 6)
        for (key, report) in zip(keys, reports) {
            #expect(try report.get().partition == partitioner.partition(of: key), "\(key)")
        }
    }
}
