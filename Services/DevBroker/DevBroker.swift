import ArgumentParser
import Foundation
import NovaBus
import NovaCore

/// `novacron-devbroker`: hosts librdkafka's mock Kafka cluster for `make run` and `make test`.
@main
struct DevBroker: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "novacron-devbroker",
        abstract: "Run an in-memory Kafka cluster (librdkafka's mock cluster) with every NovaCron topic.",
        discussion: """
            Prints the bootstrap list on stdout and writes it to --bootstrap-file, writes the control
            port to --control-file, and runs until SIGTERM or SIGINT. Data is kept in memory only.
            """)

    @Option(help: "Number of brokers (1 to 10).")
    var brokers: Int = 3

    @Option(help: "File to write the bootstrap list to.")
    var bootstrapFile: String = ".run/kafka.bootstrap"

    @Option(help: "File to write the control port to (fault injection; see DevBrokerControl).")
    var controlFile: String = ".run/kafka.control"

    @Option(help: "Print the topic catalog and exit: markdown (README table), kafka-topics (shell script) or strimzi (KafkaTopic resources).")
    var printCatalog: CatalogFormat?

    func validate() throws {
        guard (1...10).contains(brokers) else { throw ValidationError("--brokers must be between 1 and 10, got \(brokers)") }
    }

    func run() throws {
        if let printCatalog {
            switch printCatalog {
            case .markdown: print(TopicCatalog.markdownTable(), terminator: "")
            case .kafkaTopics: print(TopicCatalog.kafkaTopicsScript(), terminator: "")
            case .strimzi: print(TopicCatalog.strimziTopics(), terminator: "")
            }
            return
        }
        // SIGTERM and SIGINT are blocked before any thread starts, so every thread (librdkafka's
        // included) inherits the block and the signal waits for `sigwait` below. A dispatch
        // signal source behind SIG_IGN never saw them here: every stop ended in SIGKILL.
        var stopSignals = sigset_t()
        sigemptyset(&stopSignals)
        sigaddset(&stopSignals, SIGTERM)
        sigaddset(&stopSignals, SIGINT)
        pthread_sigmask(SIG_BLOCK, &stopSignals, nil)
        let cluster: MockKafkaCluster
        do {
            cluster = try MockKafkaCluster(brokers: brokers)
        } catch {
            FileHandle.standardError.write(Data("novacron-devbroker: \(error)\n".utf8))
            throw ExitCode(1)
        }
        let control = try ControlServer(cluster: cluster)
        try write(cluster.bootstrapServers, to: bootstrapFile)
        try write(String(control.port), to: controlFile)
        FileHandle.standardOutput.write(Data((cluster.bootstrapServers + "\n").utf8))
        FileHandle.standardError.write(
            Data(
                "novacron-devbroker: \(brokers) brokers, \(TopicCatalog.all.count) topics, control port \(control.port)\n"
                    .utf8))

        var received: Int32 = 0
        sigwait(&stopSignals, &received)
        try? FileManager.default.removeItem(atPath: bootstrapFile)
        try? FileManager.default.removeItem(atPath: controlFile)
        FileHandle.standardError.write(Data("novacron-devbroker: stopped\n".utf8))
        // The cluster's data lives only in memory: leave without tearing it down (seconds once it
        // holds a few hundred MB) and without atexit handlers, which can wait on its threads.
        withExtendedLifetime(cluster) { _exit(0) }
    }

    private func write(_ text: String, to path: String) throws {
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        try (text + "\n").write(toFile: path, atomically: true, encoding: .utf8)
    }
}

/// What `--print-catalog` renders.
enum CatalogFormat: String, ExpressibleByArgument, CaseIterable {
    case markdown
    case kafkaTopics = "kafka-topics"
    case strimzi
}
