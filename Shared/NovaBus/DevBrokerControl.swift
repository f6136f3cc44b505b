import Foundation

/// Client of `novacron-devbroker`'s control port: a line protocol on 127.0.0.1 through which
/// tests and tools in other processes create topics and inject faults.
///
/// Commands (one per line, answered `ok` or `error <why>`): `ping`, `topic NAME PARTITIONS`,
/// `down BROKER`, `up BROKER`, `rtt BROKER MILLIS`, `errors APIKEY COUNT KAFKA_ERROR_CODE`,
/// `topic-error NAME KAFKA_ERROR_CODE`.
public struct DevBrokerControl: Sendable {
    public let port: UInt16

    public init(port: UInt16) { self.port = port }

    /// Reads the port the broker wrote to `file` (default `.run/kafka.control`).
    public init(portFile: String) throws {
        let text = try String(contentsOfFile: portFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        guard let port = UInt16(text) else { throw DevBrokerControlError.badPortFile(portFile, text) }
        self.port = port
    }

    /// Sends one command and returns the reply, throwing on `error ...`.
    @discardableResult
    public func send(_ command: String) throws -> String {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw DevBrokerControlError.io("socket: \(errno)") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw DevBrokerControlError.io("cannot connect to dev broker control port \(port)") }
        let line = Array((command + "\n").utf8)
        _ = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        var reply: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 256)
        while !reply.contains(UInt8(ascii: "\n")) {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            reply.append(contentsOf: buffer[0..<n])
        }
        let text = String(decoding: reply, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        if text.hasPrefix("error") { throw DevBrokerControlError.refused(command, text) }
        return text
    }
}

public enum DevBrokerControlError: Error, CustomStringConvertible {
    case badPortFile(String, String)
    case io(String)
    case refused(String, String)

    public var description: String {
        switch self {
        case .badPortFile(let file, let text): "control port file \(file) holds '\(text)', not a port"
        case .io(let detail): detail
        case .refused(let command, let reply): "dev broker refused '\(command)': \(reply)"
        }
    }
}
