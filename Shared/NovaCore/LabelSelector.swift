import NovaProto

/// One label requirement (Kubernetes node-selector semantics): In, NotIn, Exists, DoesNotExist.
public struct LabelSelector: Hashable, Sendable, CustomStringConvertible {
    public enum Operator: String, Hashable, Sendable {
        case `in` = "In"
        case notIn = "NotIn"
        case exists = "Exists"
        case doesNotExist = "DoesNotExist"
    }

    public var key: String
    public var op: Operator
    public var values: Set<String>

    /// Builds a selector, rejecting the malformed ones: In/NotIn need values, Exists and
    /// DoesNotExist take none, and the key must be non-empty.
    public init(key: String, op: Operator, values: Set<String> = []) throws(ValidationError) {
        if key.isEmpty { throw ValidationError(field: "selector.key", "must not be empty") }
        switch op {
        case .in where values.isEmpty, .notIn where values.isEmpty:
            throw ValidationError(field: "selector[\(key)]", "\(op.rawValue) needs at least one value")
        case .exists where !values.isEmpty, .doesNotExist where !values.isEmpty:
            throw ValidationError(field: "selector[\(key)]", "\(op.rawValue) takes no values")
        default: break
        }
        self.key = key
        self.op = op
        self.values = values
    }

    /// True when `labels` satisfy this requirement.
    public func matches(_ labels: [String: String]) -> Bool {
        switch op {
        case .in: return labels[key].map(values.contains) ?? false
        case .notIn: return labels[key].map { !values.contains($0) } ?? true
        case .exists: return labels[key] != nil
        case .doesNotExist: return labels[key] == nil
        }
    }

    public var description: String {
        switch op {
        case .exists: return "\(key) exists"
        case .doesNotExist: return "!\(key)"
        case .in, .notIn: return "\(key) \(op.rawValue) (\(values.sorted().joined(separator: ",")))"
        }
    }
}

extension LabelSelector {
    public init(_ proto: Novacron_V1_LabelSelectorRequirement) throws(ValidationError) {
        let op: Operator
        switch proto.operator {
        case .in: op = .in
        case .notIn: op = .notIn
        case .exists: op = .exists
        case .doesNotExist: op = .doesNotExist
        case .unspecified, .UNRECOGNIZED:
            throw ValidationError(field: "selector[\(proto.key)].operator", "must be In, NotIn, Exists or DoesNotExist")
        }
        try self.init(key: proto.key, op: op, values: Set(proto.values))
    }

    public var proto: Novacron_V1_LabelSelectorRequirement {
        var p = Novacron_V1_LabelSelectorRequirement()
        p.key = key
        p.values = values.sorted()
        switch op {
        case .in: p.operator = .in
        case .notIn: p.operator = .notIn
        case .exists: p.operator = .exists
        case .doesNotExist: p.operator = .doesNotExist
        }
        return p
    }
}
