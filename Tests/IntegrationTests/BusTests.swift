import Foundation
import NovaTestSupport
import NovaBus
import NovaCore
import NovaProto
import SwiftProtobuf
import Testing

@Suite(.serialized) struct BusTests {
    /// Every command and event type goes out on its catalog topic through the idempotent
    /// producer and comes back decoded and equal, on a broker that pre-created the catalog.
    @Test func everyEnvelopeTypeRoundTripsOnItsCatalogTopic() async throws {
        let env = try TestEnvironment.current()
        let run = TestEnvironment.uniqueName("rt")
        let producer = try KafkaProducer(configuration: env.kafka)
        var sent: [String: any SwiftProtobuf.Message] = [:]
        var messages: [OutgoingMessage] = []
        for topic in TopicCatalog.all where topic.name != TopicCatalog.deadLetter {
            if topic.name.hasPrefix("novacron.provider.") && topic.name != TopicCatalog.providerCommands("sim")
                && topic.name != TopicCatalog.providerEvents
            {
                continue
            }
            for typeName in topic.messageTypes {
                let type = try #require(EventRegistry.type(named: typeName))
                var message = type.init()
                // Give each message a non-default field 1 (a string in all but PolicyApplied) so
                // equality is meaningful; a type where that does not parse stays default.
                var filled = message
                if (try? filled.merge(serializedBytes: [0x0A, 0x03] + Array("abc".utf8), extensions: nil, partial: true)) != nil {
                    message = filled
                }
                let key = "\(run)-\(typeName)"
                sent[key] = message
                messages.append(try Records.envelope(message, key: key, topic: topic.name))
            }
        }
        let reports = try await producer.send(messages)
        for report in reports { #expect(try report.get().offset >= 0) }
        await producer.close()

        let topics = Set(messages.map(\.topic)).sorted()
        let received = try await collect(env, topics: topics, count: messages.count) { $0.keyString.hasPrefix(run) }
        #expect(received.count == messages.count)
        for record in received {
            let event = try EnvelopeCodec.decode(record.value, topic: record.topic)
            let expected = try #require(sent[record.keyString])
            #expect(event.message.isEqualTo(message: expected), "\(event.type) changed in transit")
            #expect(event.envelope.key == record.keyString)
        }
    }

    /// Records of one key keep their order; keys spread over partitions.
    @Test func orderIsKeptPerKeyAcrossPartitions() async throws {
        let env = try TestEnvironment.current()
        let topic = "test.\(TestEnvironment.uniqueName("order"))"
        try env.createTopic(topic, partitions: 6)
        let producer = try KafkaProducer(configuration: env.kafka)
        let keys = (0..<24).map { "host-\($0)" }
        var batch: [OutgoingMessage] = []
        for sequence in 0..<100 {
            for key in keys {
                batch.append(try Records.heartbeat(host: key, sequence: UInt64(sequence), topic: topic))
            }
        }
        try await producer.sendAll(batch)
        await producer.close()

        let received = try await collect(env, topics: [topic], count: batch.count)
        #expect(received.count == batch.count)
        var last: [String: UInt64] = [:]
        var partitions = Set<Int32>()
        for record in received {
            let heartbeat = try #require(try EnvelopeCodec.decode(record.value).message as? Novacron_V1_HostHeartbeat)
            if let previous = last[heartbeat.hostID] {
                #expect(heartbeat.sequence == previous + 1, "key \(heartbeat.hostID) out of order")
            } else {
                #expect(heartbeat.sequence == 0)
            }
            last[heartbeat.hostID] = heartbeat.sequence
            partitions.insert(record.partition)
        }
        #expect(partitions.count > 1, "24 keys should land on more than one of 6 partitions")
    }

    /// Through the dev broker's fault injection: with every broker down, a send waits and
    /// completes once they are back, and retries after request errors never duplicate.
    @Test func producerRidesOutBrokerOutagesWithoutDuplicates() async throws {
        let cluster = try MockKafkaCluster(brokers: 3, createCatalogTopics: false)
        try cluster.createTopic("faults", partitions: 1)
        let kafka = KafkaConfiguration(brokers: cluster.bootstrapServers, clientID: "fault-test")
        let producer = try KafkaProducer(configuration: kafka)
        try await producer.send(OutgoingMessage(topic: "faults", key: "k", value: Array("warm-up".utf8)))

        for id in Int32(1)...3 { cluster.setBrokerDown(id) }
        let pending = Task { try await producer.send(OutgoingMessage(topic: "faults", key: "k", value: Array("during-outage".utf8))) }
        try await Task.sleep(for: .milliseconds(1500))
        for id in Int32(1)...3 { cluster.setBrokerUp(id) }
        _ = try await pending.value

        // 6 = NOT_LEADER_OR_FOLLOWER: retriable, the idempotent producer retries safely.
        cluster.failNextRequests(apiKey: 0, count: 3, error: 6)
        try await producer.send(OutgoingMessage(topic: "faults", key: "k", value: Array("after-errors".utf8)))
        await producer.close()

        let consumer = try KafkaConsumer(configuration: kafka, groupID: "fault-check", topics: ["faults"])
        var values: [String] = []
        for try await message in consumer {
            values.append(String(decoding: message.value, as: UTF8.self))
            if values.count == 3 { break }
        }
        await consumer.close()
        #expect(values == ["warm-up", "during-outage", "after-errors"])
    }

    /// An unreachable broker is reported within the timeout, not a hang.
    /// A health check racing a shutdown: metadata asked of a closed producer is `.closed`, and
    /// a close while metadata calls are in flight waits for them instead of destroying the
    /// client under them (the cause of shutdowns that never finished).
    @Test func metadataOfAClosedProducerIsAClearErrorNotACallOnAFreedClient() async throws {
        let env = try TestEnvironment.current()
        for _ in 0..<20 {
            let producer = try KafkaProducer(configuration: env.kafka)
            let calls = (0..<4).map { _ in Task { try await producer.topicNames(timeoutMillis: 2000) } }
            await producer.close()
            for call in calls {
                do { _ = try await call.value } catch let error as KafkaError { #expect(error == .closed, "\(error)") }
            }
            await #expect(throws: KafkaError.closed) { try await producer.topicNames(timeoutMillis: 2000) }
        }
    }

    /// A consumer that observes its assignment hands over `assigned` before the first record
    /// of a partition, and `revoked` when a second member joins and takes some partitions.
    @Test func assignmentChangesComeBeforeTheRecordsTheyGovern() async throws {
        let env = try TestEnvironment.current()
        let topic = "test.\(TestEnvironment.uniqueName("assign"))"
        try env.createTopic(topic, partitions: 4)
        try await env.publish((0..<40).map { OutgoingMessage(topic: topic, key: "k\($0)", value: [UInt8($0)]) })
        let group = TestEnvironment.uniqueName("assign")
        let first = try KafkaConsumer(configuration: env.kafka, groupID: group, topics: [topic], observesAssignment: true)
        var deliveries = first.makeAsyncIterator()
        var owned = Set<Int32>()
        var records = 0
        while records < 40, let delivery = try await deliveries.nextDelivery() {
            switch delivery {
            case .assigned(let partitions): owned = Set(partitions.map(\.partition))
            case .revoked: owned = []
            case .records(let batch):
                for m in batch { #expect(owned.contains(m.partition), "a record of partition \(m.partition) before its assignment") }
                records += batch.count
                first.storeOffsets(batch)
            }
        }
        #expect(owned == [0, 1, 2, 3])
        let second = try KafkaConsumer(configuration: env.kafka, groupID: group, topics: [topic], observesAssignment: true)
        let joined = Task {
            var other = second.makeAsyncIterator()
            while let delivery = try await other.nextDelivery() { if case .assigned(let p) = delivery, !p.isEmpty { return p.count } }
            return 0
        }
        var revoked = false
        var reassigned = Set<Int32>()
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline, reassigned.isEmpty {
            let delivery = try await deliveries.nextDelivery()
            if case .revoked = delivery { revoked = true }
            if case .assigned(let p) = delivery, revoked { reassigned = Set(p.map(\.partition)) }
        }
        #expect(revoked, "the first member was told it lost its partitions")
        #expect(reassigned.count == 2, "range over two members: two partitions each, got \(reassigned)")
        #expect(try await joined.value == 2)
        await first.close()
        await second.close()
    }

    @Test func unreachableBrokerIsAClearErrorWithinTheTimeout() async throws {
        let producer = try KafkaProducer(configuration: KafkaConfiguration(brokers: "127.0.0.1:1", clientID: "t"))
        let started = ContinuousClock.now
        await #expect { try await producer.topicNames(timeoutMillis: 1500) } throws: { error in
            guard case .brokerUnreachable(let brokers, _, _) = error as? KafkaError else { return false }
            return brokers == "127.0.0.1:1"
        }
        #expect(ContinuousClock.now - started < .seconds(10))
        await producer.close(flushTimeoutMillis: 100)
    }

    /// librdkafka itself rejects unknown properties and bad values, and the error names them.
    @Test func invalidPropertiesNameThePropertyAndItsVariable() throws {
        let unknown = try KafkaConfiguration.fromEnvironment(
            ["KAFKA_BROKERS": "127.0.0.1:9092", "KAFKA_NOT_A_PROPERTY": "1"], clientID: "t")
        #expect { try KafkaProducer(configuration: unknown) } throws: { error in
            guard case .invalidProperty(let name, let source, _) = error as? KafkaError else { return false }
            return name == "not.a.property" && source == "KAFKA_NOT_A_PROPERTY"
        }
        let badValue = try KafkaConfiguration.fromEnvironment(["KAFKA_BROKERS": "127.0.0.1:9092", "KAFKA_ACKS": "banana"], clientID: "t")
        #expect { try KafkaProducer(configuration: badValue) } throws: { error in
            guard case .invalidProperty(let name, _, let reason) = error as? KafkaError else { return false }
            return name == "acks" && !reason.isEmpty
        }
        #expect(throws: KafkaConfigurationError.malformedBrokers("nohost")) {
            try KafkaConfiguration.fromEnvironment(["KAFKA_BROKERS": "nohost"], clientID: "t")
        }
    }
}
