import NovaCore
import NovaProto
import NovaService

/// The commands placement sends a host's provider adapter, in the transaction of the decision
/// that causes them: create the VM on its new host, remove it from the one it left, or move
/// it between two hosts of one provider. A host with no provider gets none.
///
/// A command's id derives from the decision's (`<command id>/provision` ...): the emission
/// commits with the decision and a repeated command is answered from the stored answer without
/// emitting again, so an id is sent once. Decisions without a command id get a fresh one (a
/// create: one derived from VM and host, see `provisionID`).
enum ProviderCommands {
    static func provision(_ placed: Novacron_V1_VMPlaced, provider: String, labels: [String: String]) -> Emission? {
        guard !provider.isEmpty else { return nil }
        var c = Novacron_V1_ProvisionVM()
        c.commandID = provisionID(placeCommandID: placed.commandID, vmID: placed.vmID, hostID: placed.hostID)
        c.vmID = placed.vmID
        c.hostID = placed.hostID
        c.resources = placed.resources
        c.topology = placed.topology
        c.image = labels["image"] ?? ""
        return Emission(topic: TopicCatalog.providerCommands(provider), key: placed.vmID, message: c)
    }

    static func terminate(vmID: String, commandID: String, provider: String) -> Emission? {
        guard !provider.isEmpty else { return nil }
        var c = Novacron_V1_TerminateVM()
        c.commandID = derivedID(commandID, "terminate")
        c.vmID = vmID
        return Emission(topic: TopicCatalog.providerCommands(provider), key: vmID, message: c)
    }

    /// A move: one migrate command when both hosts are the same provider's, otherwise a
    /// provision on the target's and a terminate on the source's.
    static func move(
        _ placed: Novacron_V1_VMPlaced, from source: String, sourceProvider: String, targetProvider: String, labels: [String: String]
    ) -> [Emission] {
        guard sourceProvider == targetProvider, !targetProvider.isEmpty else {
            return [
                provision(placed, provider: targetProvider, labels: labels),
                terminate(vmID: placed.vmID, commandID: placed.commandID, provider: sourceProvider),
            ].compactMap { $0 }
        }
        var c = Novacron_V1_ProviderMigrateVM()
        c.commandID = derivedID(placed.commandID, "migrate")
        c.vmID = placed.vmID
        c.sourceHostID = source
        c.targetHostID = placed.hostID
        return [Emission(topic: TopicCatalog.providerCommands(targetProvider), key: placed.vmID, message: c)]
    }

    /// The id of the create a placement asks for: `<command id>/provision`, or for a placement
    /// made without a command id `<vm>@<host>/provision`, so the provider's answer can always be
    /// matched back to the placement it is about.
    static func provisionID(placeCommandID: String, vmID: String, hostID: String) -> String {
        "\(placeCommandID.isEmpty ? "\(vmID)@\(hostID)" : placeCommandID)/provision"
    }

    private static func derivedID(_ commandID: String, _ step: String) -> String {
        commandID.isEmpty ? "\(EventID.random())/\(step)" : "\(commandID)/\(step)"
    }
}
