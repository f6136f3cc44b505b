import NovaProto

/// A request to run a VM: its resources, groups, labels and placement constraints, validated.
public struct VMRequest: Hashable, Sendable, Identifiable {
    public var id: String
    public var resources: Resources
    public var constraints: PlacementConstraints
    public var labels: [String: String]
    public var groups: Set<String>

    public init(
        id: String, resources: Resources, constraints: PlacementConstraints = PlacementConstraints(),
        labels: [String: String] = [:], groups: Set<String> = []
    ) {
        self.id = id
        self.resources = resources
        self.constraints = constraints
        self.labels = labels
        self.groups = groups
    }

    /// Converts and validates a `PlaceVM` command: empty VM id, zero or negative resources and
    /// malformed constraints are errors naming the field.
    public init(_ command: Novacron_V1_PlaceVM) throws(ValidationError) {
        if command.vmID.isEmpty { throw ValidationError(field: "vm_id", "must not be empty") }
        self.init(
            id: command.vmID, resources: try Resources(command.resources).validatedAsRequest(),
            constraints: try PlacementConstraints(command.constraints), labels: command.labels,
            groups: Set(command.groups))
    }

    public var placeCommand: Novacron_V1_PlaceVM {
        var c = Novacron_V1_PlaceVM()
        c.vmID = id
        c.resources = resources.proto
        c.constraints = constraints.proto
        c.labels = labels
        c.groups = groups.sorted()
        return c
    }
}
