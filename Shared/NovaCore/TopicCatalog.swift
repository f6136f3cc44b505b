import NovaProto
import SwiftProtobuf

/// One Kafka topic of the suite: its name, partitioning, key, the message types it may carry,
/// and who writes and reads it. The catalog is the single source of truth: the dev broker
/// creates topics from it, consumers validate message types against it, and the README's
/// topic table is checked against it by a test.
public struct TopicDescriptor: Hashable, Sendable {
    public var name: String
    public var partitions: Int
    public var key: String
    public var messageTypes: [String]
    public var producers: [String]
    public var consumers: [String]

    public init(
        name: String, partitions: Int, key: String, messageTypes: [any SwiftProtobuf.Message.Type],
        producers: [String], consumers: [String]
    ) {
        self.name = name
        self.partitions = partitions
        self.key = key
        self.messageTypes = messageTypes.map { $0.protoMessageName }
        self.producers = producers
        self.consumers = consumers
    }

    /// Whether an envelope of `type` (full protobuf name) belongs on this topic.
    public func carries(_ type: String) -> Bool { messageTypes.contains(type) }
}

/// Every topic of the suite. Topic names are constants here and nowhere else.
public enum TopicCatalog {
    public static let hostEvents = "novacron.host.events"
    public static let hostTelemetry = "novacron.host.telemetry"
    public static let vmCommands = "novacron.vm.commands"
    public static let vmEvents = "novacron.vm.events"
    public static let vmTelemetry = "novacron.vm.telemetry"
    public static let scalingCommands = "novacron.scaling.commands"
    public static let scalingEvents = "novacron.scaling.events"
    public static let healingEvents = "novacron.healing.events"
    public static let policyCommands = "novacron.policy.commands"
    public static let policyEvents = "novacron.policy.events"
    public static let backupCommands = "novacron.backup.commands"
    public static let backupEvents = "novacron.backup.events"
    public static let providerEvents = "novacron.provider.events"
    public static let deadLetter = "novacron.deadletter"

    /// Cloud providers that have a command topic of their own.
    public static let providers = ["aws", "azure", "gcp", "libvirt", "sim"]

    /// The command topic of one provider adapter: `novacron.provider.<name>.commands`.
    public static func providerCommands(_ provider: String) -> String { "novacron.provider.\(provider).commands" }

    /// Default partition count for high-volume topics (telemetry, VM traffic).
    public static let busyPartitions = 12
    /// Default partition count for the rest.
    public static let quietPartitions = 6

    public static let all: [TopicDescriptor] = {
        var topics: [TopicDescriptor] = [
            TopicDescriptor(
                name: hostEvents, partitions: quietPartitions, key: "host id",
                messageTypes: [Novacron_V1_HostRegistered.self, Novacron_V1_HostStateChanged.self, Novacron_V1_HostDrained.self],
                producers: ["novacron-sim", "novacronctl", "novacron-placement", "novacron-selfhealer"],
                consumers: ["novacron-placement", "novacron-selfhealer", "novacronctl"]),
            TopicDescriptor(
                name: hostTelemetry, partitions: busyPartitions, key: "host id",
                messageTypes: [Novacron_V1_HostHeartbeat.self, Novacron_V1_HostTelemetry.self],
                producers: ["novacron-sim", "host agents"],
                consumers: ["novacron-placement", "novacron-selfhealer", "novacronctl"]),
            TopicDescriptor(
                name: vmCommands, partitions: busyPartitions, key: "vm id (host id for DrainHost)",
                messageTypes: [
                    Novacron_V1_PlaceVM.self, Novacron_V1_ReleaseVM.self, Novacron_V1_MigrateVM.self,
                    Novacron_V1_StartVM.self, Novacron_V1_StopVM.self, Novacron_V1_DrainHost.self,
                ],
                producers: ["novacronctl", "novacron-sim", "novacron-autoscaler", "novacron-selfhealer"],
                consumers: ["novacron-placement", "novacronctl"]),
            TopicDescriptor(
                name: vmEvents, partitions: busyPartitions, key: "vm id",
                messageTypes: [
                    Novacron_V1_VMPlaced.self, Novacron_V1_PlacementFailed.self, Novacron_V1_VMReleased.self,
                    Novacron_V1_VMStateChanged.self,
                ],
                producers: ["novacron-placement", "novacron-provider"],
                consumers: ["novacron-autoscaler", "novacron-selfhealer", "novacron-backup", "novacronctl", "novacron-sim"]),
            TopicDescriptor(
                name: vmTelemetry, partitions: busyPartitions, key: "vm id",
                messageTypes: [Novacron_V1_VMTelemetry.self],
                producers: ["novacron-sim", "guest agents"], consumers: ["novacron-autoscaler"]),
            TopicDescriptor(
                name: scalingCommands, partitions: quietPartitions, key: "group id",
                messageTypes: [Novacron_V1_SetScalingPolicy.self, Novacron_V1_DeleteScalingPolicy.self],
                producers: ["novacronctl"], consumers: ["novacron-autoscaler"]),
            TopicDescriptor(
                name: scalingEvents, partitions: quietPartitions, key: "group id",
                messageTypes: [Novacron_V1_ScalingPolicyApplied.self, Novacron_V1_ScalingDecision.self],
                producers: ["novacron-autoscaler"], consumers: ["novacronctl"]),
            TopicDescriptor(
                name: healingEvents, partitions: quietPartitions, key: "host or vm id",
                messageTypes: [
                    Novacron_V1_HostSuspected.self, Novacron_V1_HostFailureConfirmed.self,
                    Novacron_V1_EvacuationStarted.self, Novacron_V1_EvacuationCompleted.self, Novacron_V1_VMRestarted.self,
                ],
                producers: ["novacron-selfhealer"], consumers: ["novacron-placement", "novacronctl"]),
            TopicDescriptor(
                name: policyCommands, partitions: quietPartitions, key: "policy id",
                messageTypes: [Novacron_V1_ApplyPolicy.self, Novacron_V1_DeletePolicy.self, Novacron_V1_DryRunPolicy.self],
                producers: ["novacronctl"], consumers: ["novacron-policy"]),
            TopicDescriptor(
                name: policyEvents, partitions: quietPartitions, key: "policy id",
                messageTypes: [
                    Novacron_V1_PolicyApplied.self, Novacron_V1_PolicyDeleted.self, Novacron_V1_PolicyViolation.self,
                    Novacron_V1_PolicyDryRunResult.self,
                ],
                producers: ["novacron-policy"], consumers: ["novacron-placement", "novacronctl"]),
            TopicDescriptor(
                name: backupCommands, partitions: quietPartitions, key: "schedule or vm id",
                messageTypes: [
                    Novacron_V1_CreateBackupSchedule.self, Novacron_V1_DeleteBackupSchedule.self,
                    Novacron_V1_StartBackup.self, Novacron_V1_RestoreVM.self,
                ],
                producers: ["novacronctl"], consumers: ["novacron-backup"]),
            TopicDescriptor(
                name: backupEvents, partitions: quietPartitions, key: "schedule or vm id",
                messageTypes: [
                    Novacron_V1_BackupScheduled.self, Novacron_V1_BackupRunStarted.self, Novacron_V1_BackupRunCompleted.self,
                    Novacron_V1_BackupRunFailed.self, Novacron_V1_RestoreCompleted.self, Novacron_V1_BackupExpired.self,
                    Novacron_V1_RPOViolation.self,
                ],
                producers: ["novacron-backup"], consumers: ["novacronctl"]),
            TopicDescriptor(
                name: providerEvents, partitions: busyPartitions, key: "vm id",
                messageTypes: [
                    Novacron_V1_VMProvisioned.self, Novacron_V1_ProvisionFailed.self, Novacron_V1_VMTerminated.self,
                    Novacron_V1_SnapshotCompleted.self, Novacron_V1_PriceQuote.self,
                ],
                producers: ["novacron-provider"],
                consumers: ["novacron-placement", "novacron-backup", "novacron-selfhealer", "novacronctl"]),
        ]
        for provider in providers {
            topics.append(
                TopicDescriptor(
                    name: providerCommands(provider), partitions: quietPartitions, key: "vm id",
                    messageTypes: [
                        Novacron_V1_ProvisionVM.self, Novacron_V1_TerminateVM.self, Novacron_V1_ProviderMigrateVM.self,
                        Novacron_V1_SnapshotVM.self,
                    ],
                    producers: ["novacron-placement", "novacron-backup", "novacron-selfhealer"],
                    consumers: ["novacron-provider (NOVACRON_PROVIDER=\(provider))"]))
        }
        topics.append(
            TopicDescriptor(
                name: deadLetter, partitions: quietPartitions, key: "source key",
                messageTypes: [], producers: ["every service"], consumers: ["operators (novacronctl events tail)"]))
        return topics
    }()

    private static let byName: [String: TopicDescriptor] = Dictionary(uniqueKeysWithValues: all.map { ($0.name, $0) })

    /// The descriptor of a catalog topic, or nil for a name outside the catalog.
    public static func descriptor(for name: String) -> TopicDescriptor? { byName[name] }
}

