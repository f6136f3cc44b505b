import Foundation

/// The EC2 Query API calls the AWS adapter makes, as form parameters (pure), and what it
/// reads back from their XML. API version 2016-11-15, the current one.
public enum EC2Query {
    public static let version = "2016-11-15"
    /// Tags every resource the adapter makes carries, so a call repeated after a crash finds
    /// what the first one made instead of making a second.
    public static let vmTag = "novacron:vm-id"
    public static let commandTag = "novacron:command-id"

    /// An instance as the adapter reads it.
    public struct Instance: Sendable, Hashable {
        public var id: String
        public var state: String
        public var hostID: String
        public var tags: [String: String]

        public init(id: String, state: String, hostID: String, tags: [String: String] = [:]) {
            self.id = id
            self.state = state
            self.hostID = hostID
            self.tags = tags
        }
    }

    /// A dedicated host as the adapter reads it.
    public struct DedicatedHost: Sendable, Hashable {
        public var id: String
        public var state: String
        public var zone: String
        public var instanceType: String
        public var instanceIDs: [String]

        public init(id: String, state: String, zone: String, instanceType: String, instanceIDs: [String] = []) {
            self.id = id
            self.state = state
            self.zone = zone
            self.instanceType = instanceType
            self.instanceIDs = instanceIDs
        }
    }

    /// RunInstances of one instance on dedicated host `hostID`, tagged with the VM and command,
    /// with the command id as the client token (EC2's own idempotency; 64 ASCII characters at
    /// most, so a longer id is hashed).
    public static func runInstance(vmID: String, commandID: String, hostID: String, imageID: String, instanceType: String) -> [(String, String)] {
        [
            ("Action", "RunInstances"), ("Version", version), ("ImageId", imageID), ("InstanceType", instanceType),
            ("MinCount", "1"), ("MaxCount", "1"), ("Placement.HostId", hostID), ("Placement.Tenancy", "host"),
            ("ClientToken", clientToken(commandID)),
            ("TagSpecification.1.ResourceType", "instance"),
            ("TagSpecification.1.Tag.1.Key", vmTag), ("TagSpecification.1.Tag.1.Value", vmID),
            ("TagSpecification.1.Tag.2.Key", commandTag), ("TagSpecification.1.Tag.2.Value", commandID),
        ]
    }

    /// DescribeInstances of the VM's live instances (not terminated), by its tag.
    public static func describeInstances(vmID: String) -> [(String, String)] {
        [
            ("Action", "DescribeInstances"), ("Version", version),
            ("Filter.1.Name", "tag:\(vmTag)"), ("Filter.1.Value.1", vmID),
            ("Filter.2.Name", "instance-state-name"), ("Filter.2.Value.1", "pending"), ("Filter.2.Value.2", "running"),
            ("Filter.2.Value.3", "stopping"), ("Filter.2.Value.4", "stopped"),
        ]
    }

    public static func terminateInstances(_ ids: [String]) -> [(String, String)] {
        [("Action", "TerminateInstances"), ("Version", version)] + ids.enumerated().map { ("InstanceId.\($0.offset + 1)", $0.element) }
    }

    public static func describeHosts(_ ids: [String]) -> [(String, String)] {
        [("Action", "DescribeHosts"), ("Version", version)] + ids.enumerated().map { ("HostId.\($0.offset + 1)", $0.element) }
    }

    /// The form body of `parameters`, percent-encoded as SigV4 wants.
    public static func formBody(_ parameters: [(String, String)]) -> [UInt8] {
        Array(parameters.map { "\(SigV4Signer.encode($0.0))=\(SigV4Signer.encode($0.1))" }.joined(separator: "&").utf8)
    }

    /// The instances of a RunInstances or DescribeInstances response.
    public static func instances(_ response: XMLTree) -> [Instance] {
        response.all("instancesSet").flatMap { set in
            set.children.filter { $0.name == "item" }.map { item in
                var tags: [String: String] = [:]
                for tag in item.at("tagSet")?.children ?? [] { tags[tag.text("key")] = tag.text("value") }
                return Instance(id: item.text("instanceId"), state: item.text("instanceState", "name"), hostID: item.text("placement", "hostId"), tags: tags)
            }
        }
    }

    /// The hosts of a DescribeHosts response.
    public static func hosts(_ response: XMLTree) -> [DedicatedHost] {
        (response.at("hostSet")?.children ?? []).filter { $0.name == "item" }.map { item in
            DedicatedHost(
                id: item.text("hostId"), state: item.text("state"), zone: item.text("availabilityZone"),
                instanceType: item.text("hostProperties", "instanceType"),
                instanceIDs: (item.at("instances")?.children ?? []).map { $0.text("instanceId") })
        }
    }

    static func clientToken(_ commandID: String) -> String {
        guard commandID.utf8.count > 64 || commandID.utf8.contains(where: { $0 > 127 }) else { return commandID }
        return "nc-\(String(StableHash.fnv1a(commandID), radix: 16))-\(commandID.utf8.count)"
    }
}

/// The one error taxonomy every adapter maps its provider's errors to.
public enum ProviderErrorKind: String, Sendable, Hashable {
    /// No room (EC2 InsufficientInstanceCapacity / InsufficientHostCapacity): retry later or elsewhere.
    case capacity
    /// Slowed down (RequestLimitExceeded, Throttling): retry with jittered backoff.
    case throttled
    case notFound = "not_found"
    case invalidState = "invalid_state"
    case invalidRequest = "invalid_request"
    /// Credentials refused: a clear error at start, not a retry.
    case auth
    /// The provider failed (5xx, unreachable): retry.
    case providerError = "provider_error"

    public var retryable: Bool { self == .capacity || self == .throttled || self == .providerError }

    /// An EC2 error code's kind; `status` decides for codes not listed.
    public static func ec2(code: String, status: Int) -> ProviderErrorKind {
        switch code {
        case "InsufficientInstanceCapacity", "InsufficientHostCapacity", "InsufficientCapacity", "HostLimitExceeded", "InstanceLimitExceeded":
            .capacity
        case "RequestLimitExceeded", "Throttling", "ThrottlingException": .throttled
        case "AuthFailure", "UnauthorizedOperation", "SignatureDoesNotMatch", "InvalidClientTokenId", "OptInRequired": .auth
        case "IncorrectState", "IncorrectInstanceState", "IncorrectHostState": .invalidState
        default:
            if code.hasSuffix(".NotFound") || code.hasSuffix(".Malformed") && code.hasPrefix("InvalidInstanceID") { .notFound }
            else if status >= 500 { .providerError }
            else { .invalidRequest }
        }
    }

    /// The code and message of an EC2 error response (`<Response><Errors><Error>`).
    public static func ec2Error(_ response: XMLTree) -> (code: String, message: String)? {
        guard let error = response.all("Error").first else { return nil }
        return (error.text("Code"), error.text("Message"))
    }
}
