import CloudAdaptersCore

/// What an adapter calls: how long until a call's answer is due (the simulated cloud's drawn
/// latency; zero for a real provider, whose call takes what it takes), and the call itself.
protocol ProviderBackend: Sendable {
    func latency(of operation: ProviderOperation, commandID: String) -> Int64
    func perform(_ operation: ProviderOperation, commandID: String, record: InstanceRecord) async -> ProviderResult
}

extension SimulatedCloud: ProviderBackend {
    func perform(_ operation: ProviderOperation, commandID: String, record: InstanceRecord) async -> ProviderResult {
        result(of: operation, commandID: commandID, record: record)
    }
}
