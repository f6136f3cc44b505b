import Foundation
import Synchronization

/// Where a service's time comes from: every timer, deadline and time-driven decision reads it,
/// never `Date()`, so tests drive time by hand and nothing in a test sleeps for a deadline.
/// Time is milliseconds since the Unix epoch.
public protocol ServiceClock: Sendable {
    func nowMillis() -> Int64
}

/// The machine's wall clock.
public struct SystemServiceClock: ServiceClock {
    public init() {}

    public func nowMillis() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)) }
}

/// A clock that moves only when told: for in-process tests and benchmarks.
public final class ManualClock: ServiceClock {
    private let now: Mutex<Int64>

    public init(millis: Int64 = 1_700_000_000_000) { now = Mutex(millis) }

    public func nowMillis() -> Int64 { now.withLock { $0 } }

    public func advance(byMillis delta: Int64) { now.withLock { $0 += delta } }

    public func set(millis: Int64) { now.withLock { $0 = millis } }
}

/// A manual clock another process drives: the time is the integer (milliseconds) in a file,
/// which a test rewrites to move time (`NOVACRON_CLOCK_FILE`). A file that cannot be read
/// or parsed keeps the last time read, so a half-written file never moves time backwards.
public final class FileClock: ServiceClock {
    public let path: String
    private let last: Mutex<Int64>

    /// Fails when the file does not hold a time now, so a bad setting is a start-up error.
    public init(path: String) throws(ConfigurationError) {
        self.path = path
        guard let millis = Self.read(path) else {
            throw ConfigurationError(
                variable: "NOVACRON_CLOCK_FILE", problem: "'\(path)' does not hold a time: expected milliseconds since 1970 as an integer")
        }
        last = Mutex(millis)
    }

    public func nowMillis() -> Int64 {
        let read = Self.read(path)
        return last.withLock { last in
            if let read, read >= last { last = read }
            return last
        }
    }

    /// Writes `millis` to `path` (atomically, by rename): what a test calls to move time.
    public static func write(_ millis: Int64, to path: String) throws {
        try Data("\(millis)\n".utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    private static func read(_ path: String) -> Int64? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        return Int64(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }
}
