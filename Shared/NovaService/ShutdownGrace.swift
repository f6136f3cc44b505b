import ServiceLifecycle

/// How long one step of work in flight (a batch, a timer round, a relay round, a health
/// sample) may still run once graceful shutdown has begun; past that it is cancelled.
///
/// A step normally ends in milliseconds. One waiting for a pooled Postgres connection during an
/// outage waits for the outage to end, and every service stopped after it waited too, until
/// the ServiceGroup's overall bound cancelled them all; under load even that cancellation did
/// not always end in time. A cancelled step loses nothing: its transaction is not committed and
/// its offsets not stored, so its records are delivered again; a relay round's records stay in
/// the outbox for the next start.
public struct ShutdownGrace: Sendable {
    public var duration: Duration

    /// Two seconds: the timers, the consumer, the health sampler and the relay stop one after
    /// the other (the relay's last round and its drain a step each), and together they stay
    /// inside the 15 s graceful bound.
    public static let standard = ShutdownGrace(duration: .seconds(2))

    public init(duration: Duration) {
        self.duration = duration
    }

    private enum Outcome<T: Sendable>: Sendable {
        case finished(T)
        case expired
    }

    /// Runs `body`. If graceful shutdown begins (or has begun) before it ends, `body` has
    /// `duration` more and is then cancelled; whatever it returns or throws after that is
    /// reported as a `CancellationError`, so callers treat it as a stop, not a failure to retry.
    public func run<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let duration = duration
        return try await withThrowingTaskGroup(of: Outcome<T>.self) { group in
            group.addTask { .finished(try await body()) }
            group.addTask {
                // Throws only when cancelled, which happens once `body` has ended.
                guard (try? await gracefulShutdown()) != nil else { return .expired }
                try? await Task.sleep(for: duration)
                return .expired
            }
            switch try await group.next() {
            case .finished(let value):
                group.cancelAll()
                return value
            case .expired, nil:
                // What `body` returns or throws once cancelled may be partial: it is a stop.
                group.cancelAll()
                _ = try? await group.next()
                throw CancellationError()
            }
        }
    }
}
