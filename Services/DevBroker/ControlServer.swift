import Foundation
import NovaBus

/// The dev broker's control port: accepts one command per connection on 127.0.0.1 and applies
/// it to the mock cluster. Runs on its own thread; the protocol is documented on
/// `DevBrokerControl`.
final class ControlServer: Sendable {
    let port: UInt16
    private let listener: Int32
    private let cluster: MockKafkaCluster

    init(cluster: MockKafkaCluster) throws {
        self.cluster = cluster
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer -> Int32 in
                guard bind(fd, pointer, length) == 0, listen(fd, 16) == 0 else { return -1 }
                return getsockname(fd, pointer, &length)
            }
        }
        guard fd >= 0, bound == 0 else { throw DevBrokerControlError.io("cannot open control port: errno \(errno)") }
        listener = fd
        port = UInt16(bigEndian: address.sin_port)
        let thread = Thread { [self] in serve() }
        thread.name = "devbroker-control"
        thread.start()
    }

    private func serve() {
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 { continue }
            var bytes: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 512)
            while !bytes.contains(UInt8(ascii: "\n")) {
                let n = buffer.withUnsafeMutableBytes { read(client, $0.baseAddress, $0.count) }
                if n <= 0 { break }
                bytes.append(contentsOf: buffer[0..<n])
            }
            let reply = apply(String(decoding: bytes, as: UTF8.self)) + "\n"
            _ = Array(reply.utf8).withUnsafeBytes { write(client, $0.baseAddress, $0.count) }
            close(client)
        }
    }

    /// Applies one command line; returns "ok" or "error <why>".
    func apply(_ line: String) -> String {
        let words = line.split(whereSeparator: \.isWhitespace).map(String.init)
        guard let verb = words.first else { return "error empty command" }
        let args = Array(words.dropFirst())
        func int(_ i: Int) -> Int32? { i < args.count ? Int32(args[i]) : nil }
        switch (verb, args.count) {
        case ("ping", 0):
            return "ok"
        case ("topic", 2):
            guard let partitions = int(1), partitions > 0 else { return "error partitions must be a positive integer" }
            do { try cluster.createTopic(args[0], partitions: Int(partitions)) } catch { return "error \(error)" }
            return "ok"
        case ("down", 1), ("up", 1):
            guard let id = int(0), (1...Int32(cluster.brokerCount)).contains(id) else {
                return "error broker id must be 1...\(cluster.brokerCount)"
            }
            verb == "down" ? cluster.setBrokerDown(id) : cluster.setBrokerUp(id)
            return "ok"
        case ("rtt", 2):
            guard let id = int(0), let millis = int(1), millis >= 0 else { return "error usage: rtt BROKER MILLIS" }
            cluster.setBrokerLatency(id, millis: millis)
            return "ok"
        case ("errors", 3):
            guard let api = int(0), let count = int(1), let code = int(2), count > 0 else {
                return "error usage: errors APIKEY COUNT KAFKA_ERROR_CODE"
            }
            cluster.failNextRequests(apiKey: Int16(api), count: Int(count), error: code)
            return "ok"
        case ("topic-error", 2):
            guard let code = int(1) else { return "error usage: topic-error NAME KAFKA_ERROR_CODE" }
            cluster.setTopicError(args[0], error: code)
            return "ok"
        default:
            return "error unknown command '\(line.trimmingCharacters(in: .whitespacesAndNewlines))'"
        }
    }
}
