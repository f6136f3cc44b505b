import Synchronization

/// What `/readyz` reports: ready only when Kafka and Postgres answered their last check and
/// migrations are done. Each condition carries a reason for the response body.
public final class Readiness: Sendable {
    public enum Condition: String, Sendable, CaseIterable {
        case kafka, postgres, migrations
    }

    private let state = Mutex<[Condition: String]>(
        Dictionary(uniqueKeysWithValues: Condition.allCases.map { ($0, "not checked yet") }))

    public init() {}

    /// Marks `condition` satisfied (nil) or failing with `problem`.
    public func set(_ condition: Condition, problem: String?) {
        state.withLock { $0[condition] = problem }
    }

    public var isReady: Bool { state.withLock { $0.isEmpty } }

    /// Whether `condition` is satisfied.
    public func holds(_ condition: Condition) -> Bool {
        state.withLock { $0[condition] == nil }
    }

    /// Failing conditions with their reasons; empty when ready.
    public var problems: [(Condition, String)] {
        state.withLock { conditions in
            Condition.allCases.compactMap { c in conditions[c].map { (c, $0) } }
        }
    }
}
