import NovaCore

/// Where a VM's instance is in its provider's lifecycle, as the adapter knows it.
public enum InstanceState: String, Sendable, Hashable, CaseIterable {
    /// The create call is in flight.
    case provisioning
    case running
    /// A move to another host is in flight.
    case migrating
    /// The delete call is in flight.
    case terminating
    case terminated
    /// The create call failed; the VM has no instance.
    case failed
}

/// The adapter's record of one VM's instance: the fact it owns. `operation` is the command in
/// flight (or last done), so a repeated command is recognised by its id.
public struct InstanceRecord: Sendable, Hashable {
    public var vmID: String
    public var hostID: String
    public var state: InstanceState
    /// The provider's own id of the instance (EC2 instance id, libvirt domain UUID, ...).
    public var providerRef: String
    public var commandID: String
    /// The host a migration moves the VM to (set while `migrating`).
    public var targetHostID: String
    public var resources: Resources

    public init(
        vmID: String, hostID: String, state: InstanceState, providerRef: String = "", commandID: String,
        targetHostID: String = "", resources: Resources = .zero
    ) {
        self.vmID = vmID
        self.hostID = hostID
        self.state = state
        self.providerRef = providerRef
        self.commandID = commandID
        self.targetHostID = targetHostID
        self.resources = resources
    }
}
