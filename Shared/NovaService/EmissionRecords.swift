import Foundation
import NovaCore
import NovaStore

/// Turns a handler's emissions into outbox records: each in an envelope naming its producer,
/// its correlation and its cause. Ids are fresh for the effects of a consumed record (the
/// inbox already makes its handling happen once) and derived from the cause for the effects
/// of a timer slot, so that a slot fired again after a crash repeats its events.
enum EmissionRecords {
    static func make(
        _ emissions: [Emission], producer: String, correlationID: String, causationID: String, derivingIDsFrom cause: String? = nil,
        at now: Date = Date()
    ) throws -> [OutboxRecord] {
        var records: [OutboxRecord] = []
        records.reserveCapacity(emissions.count)
        for (index, emission) in emissions.enumerated() {
            let id = cause.map { EventID.derived(from: "\(producer)/\($0)/\(index)") } ?? EventID.random()
            let envelope = EnvelopeCodec.envelope(
                type: Swift.type(of: emission.message).protoMessageName,
                payload: try emission.payload.map { Data($0) } ?? emission.message.serializedData(),
                key: emission.key, eventID: id, occurredAt: now, producer: producer,
                correlationID: correlationID, causationID: causationID)
            records.append(
                OutboxRecord(
                    eventID: id, topic: emission.topic, key: emission.key, eventType: envelope.type,
                    envelope: try Array(envelope.serializedBytes() as [UInt8])))
        }
        return records
    }
}
