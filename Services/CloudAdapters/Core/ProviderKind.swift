import NovaCore

/// Which provider an adapter process serves (`NOVACRON_PROVIDER`). Each has a command topic
/// of its own, a schema of its own (`provider_<name>`) and a consumer group of its own.
public enum ProviderKind: String, Sendable, CaseIterable {
    case aws, azure, gcp, libvirt, sim

    /// Parses `NOVACRON_PROVIDER`; the error names the accepted values.
    public init(parsing raw: String?) throws(ValidationError) {
        guard let raw, !raw.isEmpty else {
            throw ValidationError(field: "NOVACRON_PROVIDER", "is required: one of \(Self.names)")
        }
        guard let kind = ProviderKind(rawValue: raw) else {
            throw ValidationError(field: "NOVACRON_PROVIDER", "must be one of \(Self.names), got '\(raw)'")
        }
        self = kind
    }

    static var names: String { allCases.map(\.rawValue).joined(separator: ", ") }

    public var commandTopic: String { TopicCatalog.providerCommands(rawValue) }
    public var schema: String { "provider_\(rawValue)" }
    public var consumerGroup: String { "novacron-provider-\(rawValue)" }
}
