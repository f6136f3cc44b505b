import Foundation

/// This process as a holder of leases and partitions: host name, pid and a random part (a pid
/// is reused after a restart; the random part tells the two lives apart).
public enum ReplicaIdentity {
    public static let current: String = {
        let host = ProcessInfo.processInfo.hostName
        let random = UInt32.random(in: 0...UInt32.max)
        return "\(host)/\(getpid())/\(String(random, radix: 16))"
    }()
}
