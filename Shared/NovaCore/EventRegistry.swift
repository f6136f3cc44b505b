import Foundation
import NovaProto
import SwiftProtobuf

/// Every command and event message of the suite, by full protobuf name. Decoding an envelope
/// goes through here: an unknown type is an error (dead-lettered), never a crash.
public enum EventRegistry {
    public static let messageTypes: [any SwiftProtobuf.Message.Type] = [
        Novacron_V1_HostRegistered.self, Novacron_V1_HostStateChanged.self, Novacron_V1_HostDrained.self,
        Novacron_V1_HostHeartbeat.self, Novacron_V1_HostTelemetry.self,
        Novacron_V1_PlaceVM.self, Novacron_V1_ReleaseVM.self, Novacron_V1_MigrateVM.self, Novacron_V1_StartVM.self,
        Novacron_V1_StopVM.self, Novacron_V1_DrainHost.self, Novacron_V1_VMPlaced.self, Novacron_V1_PlacementFailed.self,
        Novacron_V1_VMReleased.self, Novacron_V1_VMStateChanged.self, Novacron_V1_VMTelemetry.self,
        Novacron_V1_SetScalingPolicy.self, Novacron_V1_DeleteScalingPolicy.self, Novacron_V1_ScalingDecision.self,
        Novacron_V1_ScalingPolicyApplied.self,
        Novacron_V1_HostSuspected.self, Novacron_V1_HostFailureConfirmed.self, Novacron_V1_EvacuationStarted.self,
        Novacron_V1_EvacuationCompleted.self, Novacron_V1_VMRestarted.self,
        Novacron_V1_ApplyPolicy.self, Novacron_V1_DeletePolicy.self, Novacron_V1_DryRunPolicy.self,
        Novacron_V1_PolicyApplied.self, Novacron_V1_PolicyDeleted.self, Novacron_V1_PolicyViolation.self,
        Novacron_V1_PolicyDryRunResult.self,
        Novacron_V1_CreateBackupSchedule.self, Novacron_V1_DeleteBackupSchedule.self, Novacron_V1_StartBackup.self,
        Novacron_V1_RestoreVM.self, Novacron_V1_BackupScheduled.self, Novacron_V1_BackupRunStarted.self,
        Novacron_V1_BackupRunCompleted.self, Novacron_V1_BackupRunFailed.self, Novacron_V1_RestoreCompleted.self,
        Novacron_V1_BackupExpired.self, Novacron_V1_RPOViolation.self,
        Novacron_V1_ProvisionVM.self, Novacron_V1_TerminateVM.self, Novacron_V1_ProviderMigrateVM.self,
        Novacron_V1_SnapshotVM.self, Novacron_V1_VMProvisioned.self, Novacron_V1_ProvisionFailed.self,
        Novacron_V1_VMTerminated.self, Novacron_V1_SnapshotCompleted.self, Novacron_V1_PriceQuote.self,
    ]

    private static let byName: [String: any SwiftProtobuf.Message.Type] = Dictionary(
        uniqueKeysWithValues: messageTypes.map { ($0.protoMessageName, $0) })

    /// The message type registered under `name`, or nil.
    public static func type(named name: String) -> (any SwiftProtobuf.Message.Type)? { byName[name] }
}

/// Why a record could not be turned into an event. The description is the dead-letter reason.
public enum EnvelopeError: Error, Equatable, Sendable, CustomStringConvertible {
    case malformedEnvelope(String)
    case missingField(String)
    case unknownType(String)
    case typeNotAllowedOnTopic(type: String, topic: String)
    case malformedPayload(type: String, detail: String)
    case invalid(ValidationError)

    /// Short machine-readable code for headers and metrics labels.
    public var code: String {
        switch self {
        case .malformedEnvelope: "malformed_envelope"
        case .missingField: "missing_field"
        case .unknownType: "unknown_type"
        case .typeNotAllowedOnTopic: "wrong_topic"
        case .malformedPayload: "malformed_payload"
        case .invalid: "invalid"
        }
    }

    public var description: String {
        switch self {
        case .malformedEnvelope(let d): "record is not a novacron.v1.Envelope: \(d)"
        case .missingField(let f): "envelope field \(f) is empty"
        case .unknownType(let t): "unknown message type '\(t)'"
        case .typeNotAllowedOnTopic(let t, let topic): "message type '\(t)' does not belong on topic \(topic)"
        case .malformedPayload(let t, let d): "payload does not decode as \(t): \(d)"
        case .invalid(let e): "invalid value: \(e)"
        }
    }
}

/// A decoded event: its envelope and typed payload.
public struct DecodedEvent: Sendable {
    public var envelope: Novacron_V1_Envelope
    public var message: any SwiftProtobuf.Message

    public var eventID: String { envelope.eventID }
    public var type: String { envelope.type }
}

/// Builds and opens envelopes. Pure: the event id and time are parameters.
public enum EnvelopeCodec {
    /// Wraps `message` in an envelope.
    public static func envelope(
        _ message: any SwiftProtobuf.Message, key: String, eventID: String, occurredAt: Date,
        producer: String, correlationID: String = "", causationID: String = ""
    ) throws -> Novacron_V1_Envelope {
        envelope(
            type: type(of: message).protoMessageName, payload: try message.serializedData(), key: key, eventID: eventID,
            occurredAt: occurredAt, producer: producer, correlationID: correlationID, causationID: causationID)
    }

    /// An envelope around a message that is already serialized (`payload`, of type `type`).
    public static func envelope(
        type: String, payload: Data, key: String, eventID: String, occurredAt: Date,
        producer: String, correlationID: String = "", causationID: String = ""
    ) -> Novacron_V1_Envelope {
        var e = Novacron_V1_Envelope()
        e.eventID = eventID
        e.type = type
        e.occurredAt = Google_Protobuf_Timestamp(date: occurredAt)
        e.producer = producer
        e.correlationID = correlationID.isEmpty ? eventID : correlationID
        e.causationID = causationID
        e.payload = payload
        e.key = key
        return e
    }

    /// Decodes a record's bytes into an event, checking the envelope's required fields, that
    /// the type is known and (when `topic` is a catalog topic) that it belongs on that topic.
    public static func decode(_ bytes: [UInt8], topic: String? = nil) throws(EnvelopeError) -> DecodedEvent {
        let envelope: Novacron_V1_Envelope
        do {
            envelope = try Novacron_V1_Envelope(serializedBytes: bytes)
        } catch {
            throw .malformedEnvelope(String(describing: error))
        }
        if envelope.eventID.isEmpty { throw .missingField("event_id") }
        if envelope.type.isEmpty { throw .missingField("type") }
        guard let messageType = EventRegistry.type(named: envelope.type) else {
            throw .unknownType(envelope.type)
        }
        if let topic, let descriptor = TopicCatalog.descriptor(for: topic), topic != TopicCatalog.deadLetter,
            !descriptor.carries(envelope.type)
        {
            throw .typeNotAllowedOnTopic(type: envelope.type, topic: topic)
        }
        do {
            let message = try messageType.init(serializedBytes: envelope.payload, extensions: nil, partial: false, options: BinaryDecodingOptions())
            return DecodedEvent(envelope: envelope, message: message)
        } catch {
            throw .malformedPayload(type: envelope.type, detail: String(describing: error))
        }
    }
}
