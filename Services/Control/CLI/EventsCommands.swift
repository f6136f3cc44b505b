import ArgumentParser
import ControlCore
import Foundation
import NovaBus
import NovaCore
import NovaProto
import SwiftProtobuf

struct Events: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events", abstract: "Read the event stream.", subcommands: [Tail.self])
}

extension Events {
    struct Tail: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print events as they arrive (or from --since), one line each or as JSON.",
            discussion: """
                Examples:
                  novacronctl events tail                                   # every catalog topic, from now on
                  novacronctl events tail --vm web-1 --since beginning --no-follow
                  novacronctl events tail --topic novacron.vm.events --type PlacementFailed --json
                """)

        @Option(name: .customLong("topic"), help: "Topic to read (repeatable; default: every catalog topic but telemetry).")
        var topics: [String] = []
        @Option(name: .customLong("type"), help: "Event type, e.g. VMPlaced or DeadLetter (repeatable).") var types: [String] = []
        @Option(help: "Only events about this VM.") var vm: String?
        @Option(help: "Only events about this host.") var host: String?
        @Option(help: "Start at: a duration ago (10m, 2h), 'beginning', or a time (2026-11-23T17:00:00Z). Default: now.")
        var since: String?
        @Flag(inversion: .prefixedNo, help: "Keep waiting for new events (--no-follow stops at the current end).") var follow = true
        @Option(help: "Stop after this many events.") var limit: Int?
        @Flag(help: "One JSON object per line.") var json = false
        @OptionGroup var connection: ConnectionOptions

        func run() async throws {
            let catalog = Set(TopicCatalog.all.map(\.name))
            let chosen = topics.isEmpty ? TopicCatalog.all.map(\.name).filter { !$0.contains("telemetry") } : topics
            for topic in chosen where !catalog.contains(topic) {
                throw UsageError("--topic", "'\(topic)' is not a catalog topic", expected: catalog.sorted().joined(separator: ", "))
            }
            if let limit, limit < 1 { throw UsageError("--limit", "\(limit) must be at least 1", expected: "a positive count") }
            var filter = EventFilter()
            filter.types = types
            filter.vmID = try vm.map { try Identifier.check($0, what: "VM id", option: "--vm") }
            filter.hostID = try host.map { try Identifier.check($0, what: "host id", option: "--host") }
            if let since { filter.sinceMillis = try OptionGrammar.since(since, now: Date()) }
            let session = try connection.session()
            let reader = try await session.reader(chosen, from: since == nil ? .end : .beginning)
            var shown = 0
            let show = { (record: KafkaMessage) -> Bool in
                guard let line = Self.render(record, filter: filter, json: json) else { return false }
                // Unbuffered, so a pipe (| grep) sees each event as it arrives.
                FileHandle.standardOutput.write(Data((line + "\n").utf8))
                shown += 1
                return limit.map { shown >= $0 } ?? false
            }
            if !follow {
                for record in try await reader.history().sorted(by: { $0.timestampMillis < $1.timestampMillis }) where show(record) { break }
                await reader.close()
                return
            }
            for try await record in reader where show(record) { break }
            await reader.close()
        }

        /// The line for `record`, or nil when the filter skips it.
        static func render(_ record: KafkaMessage, filter: EventFilter, json: Bool) -> String? {
            if record.topic == TopicCatalog.deadLetter {
                guard filter.matches(key: record.keyString, typeName: "DeadLetter", timestampMillis: record.timestampMillis, message: nil) else {
                    return nil
                }
                return json ? EventJSON.deadLetter(record) : "\(timestamp(record.timestampMillis)) \(record.topic) DEAD-LETTER \(record.keyString): "
                    + "\(record.header(DeadLetterPublisher.Header.code) ?? "?"): \(record.header(DeadLetterPublisher.Header.reason) ?? "?") "
                    + "(from \(record.header(DeadLetterPublisher.Header.sourceTopic) ?? "?")[\(record.header(DeadLetterPublisher.Header.sourcePartition) ?? "?")]"
                    + "@\(record.header(DeadLetterPublisher.Header.sourceOffset) ?? "?"), group \(record.header(DeadLetterPublisher.Header.consumerGroup) ?? "?"))"
            }
            guard let event = try? EnvelopeCodec.decode(record.value, topic: record.topic) else {
                return json ? nil : "\(timestamp(record.timestampMillis)) \(record.topic) UNDECODABLE \(record.keyString) (\(record.value.count) bytes)"
            }
            guard filter.matches(key: record.keyString, typeName: event.type, timestampMillis: record.timestampMillis, message: event.message) else {
                return nil
            }
            if json { return EventJSON.render(event, record) }
            let type = EventFilter.shortName(event.type).padding(toLength: 18, withPad: " ", startingAt: 0)
            return "\(timestamp(record.timestampMillis)) \(type) \(EventText.line(event.message))"
        }

        /// "HH:mm:ss.SSS" in UTC, computed directly: tail prints one per event.
        static func timestamp(_ millis: Int64) -> String {
            let ms = ((millis % 86_400_000) + 86_400_000) % 86_400_000
            return String(format: "%02lld:%02lld:%02lld.%03lld", ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000)
        }
    }
}

/// Events as JSON objects: where the record was, the envelope's fields, and the payload in
/// protobuf's canonical JSON.
enum EventJSON {
    static func render(_ event: DecodedEvent, _ record: KafkaMessage) -> String {
        let payload = (try? event.message.jsonString()).flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) } ?? [:]
        let occurred = ISO8601DateFormatter().string(from: event.envelope.occurredAt.date)
        return serialize([
            "topic": record.topic, "partition": Int(record.partition), "offset": Int(record.offset), "key": record.keyString,
            "type": event.type, "event_id": event.eventID, "producer": event.envelope.producer,
            "correlation_id": event.envelope.correlationID, "causation_id": event.envelope.causationID,
            "occurred_at": occurred, "payload": payload,
        ])
    }

    static func deadLetter(_ record: KafkaMessage) -> String {
        var headers: [String: String] = [:]
        for header in record.headers { headers[header.name] = String(decoding: header.value, as: UTF8.self) }
        return serialize([
            "topic": record.topic, "partition": Int(record.partition), "offset": Int(record.offset), "key": record.keyString,
            "type": "DeadLetter", "headers": headers, "value_bytes": record.value.count,
        ])
    }

    static func serialize(_ object: [String: Any]) -> String {
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) else {
            return "{}"
        }
        return String(decoding: data, as: UTF8.self)
    }
}
