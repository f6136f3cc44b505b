import CloudAdaptersCore

/// The AWS adapter's calls. A NovaCron host on AWS is an EC2 Dedicated Host (its id is the
/// NovaCron host id); a VM is an instance on it, tagged with the VM and command ids.
///
/// Effectively-once whatever crashes: a create first looks the VM's instance up by tag and
/// adopts what it finds (a crash after RunInstances and before the commit leaves one, which
/// the repeated call adopts), and RunInstances carries the command id as its client token
/// too. Migration and snapshots are not implemented for AWS yet and are refused as such.
struct AWSCloud: ProviderBackend {
    let client: EC2Client
    /// The AMI new instances boot (NOVACRON_AWS_IMAGE_ID).
    let imageID: String

    func latency(of operation: ProviderOperation, commandID: String) -> Int64 { 0 }

    func perform(_ operation: ProviderOperation, commandID: String, record: InstanceRecord) async -> ProviderResult {
        do {
            switch operation {
            case .provision:
                if let existing = try await client.instances(ofVM: record.vmID).first {
                    return .success(ref: existing.id)
                }
                guard let host = EC2Query.hosts(try await client.call(EC2Query.describeHosts([record.hostID]))).first else {
                    return .failure(code: "not_found", reason: "dedicated host '\(record.hostID)' does not exist", retryable: false)
                }
                let made = EC2Query.instances(
                    try await client.call(
                        EC2Query.runInstance(
                            vmID: record.vmID, commandID: commandID, hostID: host.id, imageID: imageID, instanceType: host.instanceType)))
                guard let instance = made.first else {
                    return .failure(code: "provider_error", reason: "RunInstances answered without an instance", retryable: true)
                }
                return .success(ref: instance.id)
            case .terminate:
                let ids = try await client.instances(ofVM: record.vmID).map(\.id)
                if !ids.isEmpty { _ = try await client.call(EC2Query.terminateInstances(ids)) }
                return .success(ref: ids.first ?? "")
            case .migrate, .snapshot:
                return .failure(code: "unsupported", reason: "\(operation.rawValue) is not implemented for aws yet", retryable: false)
            }
        } catch {
            return .failure(code: error.kind.rawValue, reason: error.description, retryable: error.kind.retryable)
        }
    }
}
