import Foundation
import NovaCore
import NovaProto
import SwiftProtobuf
import Testing

@Suite struct TopicCatalogTests {
    /// Provider command topics are one kind (one per provider); every other topic is its own.
    @Test func everyCommandAndEventBelongsToExactlyOneTopicKind() {
        func kind(_ topic: String) -> String {
            topic.hasPrefix("novacron.provider.") && topic.hasSuffix(".commands") ? "novacron.provider.*.commands" : topic
        }
        for type in EventRegistry.messageTypes {
            let kinds = Set(TopicCatalog.all.filter { $0.carries(type.protoMessageName) }.map { kind($0.name) })
            #expect(kinds.count == 1, "\(type.protoMessageName) is carried by \(kinds.sorted())")
        }
    }

    @Test func topicNamesAreUniqueAndPartitioned() {
        #expect(Set(TopicCatalog.all.map(\.name)).count == TopicCatalog.all.count)
        #expect(TopicCatalog.all.allSatisfy { $0.partitions >= 1 })
        #expect(TopicCatalog.descriptor(for: TopicCatalog.providerCommands("aws")) != nil)
        #expect(TopicCatalog.descriptor(for: "novacron.nope") == nil)
    }

    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    static func file(_ path: String) throws -> String {
        try String(contentsOf: repository.appendingPathComponent(path), encoding: .utf8)
    }

    @Test func readmeTopicTableMatchesTheCatalog() throws {
        #expect(
            try Self.file("README.md").contains(TopicCatalog.markdownTable()),
            "README's topic table is stale: paste `novacron-devbroker --print-catalog markdown`")
    }

    @Test func deploymentTopicFilesMatchTheCatalog() throws {
        #expect(
            try Self.file("compose/create-topics.sh") == TopicCatalog.kafkaTopicsScript(),
            "regenerate with `novacron-devbroker --print-catalog kafka-topics > compose/create-topics.sh`")
        #expect(
            try Self.file("k8s/kafka-topics.yaml") == TopicCatalog.strimziTopics(),
            "regenerate with `novacron-devbroker --print-catalog strimzi > k8s/kafka-topics.yaml`")
    }
}

@Suite struct EnvelopeCodecTests {
    func heartbeat() -> Novacron_V1_HostHeartbeat {
        var m = Novacron_V1_HostHeartbeat()
        m.hostID = "h1"
        m.sequence = 7
        return m
    }

    @Test func roundTripsEveryRegisteredType() throws {
        for type in EventRegistry.messageTypes {
            let message = type.init()
            let envelope = try EnvelopeCodec.envelope(
                message, key: "k", eventID: "e-\(type.protoMessageName)", occurredAt: Date(timeIntervalSince1970: 1_700_000_000),
                producer: "test")
            let decoded = try EnvelopeCodec.decode(Array(try envelope.serializedData()))
            #expect(decoded.type == type.protoMessageName)
            #expect(decoded.envelope.correlationID == decoded.eventID)
            #expect(decoded.message.isEqualTo(message: message))
        }
    }

    @Test func rejectsWhatCannotBeProcessed() throws {
        #expect { try EnvelopeCodec.decode([0xFF, 0xFF, 0xFF]) } throws: {
            if case .malformedEnvelope = $0 as? EnvelopeError { return true }
            return false
        }
        var envelope = try EnvelopeCodec.envelope(heartbeat(), key: "h1", eventID: "e1", occurredAt: Date(), producer: "t")
        envelope.type = "novacron.v1.NoSuchThing"
        #expect(throws: EnvelopeError.unknownType("novacron.v1.NoSuchThing")) {
            try EnvelopeCodec.decode(Array(try envelope.serializedData()))
        }
        envelope.type = Novacron_V1_HostHeartbeat.protoMessageName
        #expect(throws: EnvelopeError.typeNotAllowedOnTopic(type: envelope.type, topic: TopicCatalog.vmCommands)) {
            try EnvelopeCodec.decode(Array(try envelope.serializedData()), topic: TopicCatalog.vmCommands)
        }
        envelope.eventID = ""
        #expect(throws: EnvelopeError.missingField("event_id")) { try EnvelopeCodec.decode(Array(try envelope.serializedData())) }
        envelope.eventID = "e1"
        envelope.payload = Data([0x0A, 0xFF])
        #expect { try EnvelopeCodec.decode(Array(try envelope.serializedData())) } throws: {
            if case .malformedPayload = $0 as? EnvelopeError { return true }
            return false
        }
    }
}
