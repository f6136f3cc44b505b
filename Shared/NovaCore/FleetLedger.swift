import Foundation
import NovaProto
import SwiftProtobuf

/// The fleet as its events tell it: hosts (capacity, state, location, last measured use) and
/// the VMs placed on them. A read model any tool can rebuild from `novacron.host.events`,
/// `novacron.vm.events` and `novacron.host.telemetry` alone, without asking a service.
///
/// Events may arrive in any order across topics, so a placement on a host not (yet) known is
/// still counted as a VM; its resources join the host when it registers.
public struct FleetLedger: Sendable {
    public struct HostEntry: Sendable, Hashable {
        public var id: String
        public var topology: Topology
        public var capacity: Resources
        public var state: HostState
        public var spot: Bool
        /// Last measured CPU and memory use, fractions in [0, 1]; nil before the first sample.
        public var cpuUse: Double?
        public var memoryUse: Double?
    }

    public struct Placement: Sendable, Hashable {
        public var hostID: String
        public var resources: Resources
    }

    /// One row of `zones()`: totals over the hosts of a cloud/region/zone.
    public struct ZoneSummary: Sendable, Hashable {
        public var topology: Topology
        public var hosts = 0
        public var readyHosts = 0
        public var vms = 0
        public var capacity = Resources.zero
        public var allocated = Resources.zero
        /// Mean measured CPU and memory use over the hosts that reported any; nil if none did.
        public var cpuUse: Double?
        public var memoryUse: Double?

        public var cpuAllocated: Double { Self.ratio(allocated.vcpuMillis, capacity.vcpuMillis) }
        public var memoryAllocated: Double { Self.ratio(allocated.memoryMiB, capacity.memoryMiB) }

        static func ratio(_ part: Int64, _ whole: Int64) -> Double { whole > 0 ? Double(part) / Double(whole) : 0 }
    }

    public private(set) var hosts: [String: HostEntry] = [:]
    public private(set) var placements: [String: Placement] = [:]

    public init() {}

    /// Applies one event; anything the ledger does not track is ignored. Dry runs change nothing.
    public mutating func apply(_ message: any SwiftProtobuf.Message) {
        switch message {
        case let m as Novacron_V1_HostRegistered:
            let previous = hosts[m.hostID]
            hosts[m.hostID] = HostEntry(
                id: m.hostID, topology: Topology(m.topology), capacity: Resources(m.capacity),
                state: previous?.state ?? .ready, spot: m.spot, cpuUse: previous?.cpuUse, memoryUse: previous?.memoryUse)
        case let m as Novacron_V1_HostStateChanged:
            if let state = try? HostState(m.current) { hosts[m.hostID]?.state = state }
        case let m as Novacron_V1_HostTelemetry:
            hosts[m.hostID]?.cpuUse = m.utilisation.cpu
            hosts[m.hostID]?.memoryUse = m.utilisation.memory
        case let m as Novacron_V1_VMPlaced where !m.dryRun:
            placements[m.vmID] = Placement(hostID: m.hostID, resources: Resources(m.resources))
        case let m as Novacron_V1_VMReleased:
            placements[m.vmID] = nil
        default:
            break
        }
    }

    /// Per cloud/region/zone totals, sorted by location.
    public func zones() -> [ZoneSummary] {
        var rows: [Topology: ZoneSummary] = [:]
        var cpuSamples: [Topology: [Double]] = [:]
        var memorySamples: [Topology: [Double]] = [:]
        for host in hosts.values {
            var row = rows[host.topology] ?? ZoneSummary(topology: host.topology)
            row.hosts += 1
            if host.state == .ready { row.readyHosts += 1 }
            row.capacity = (try? row.capacity.adding(host.capacity)) ?? row.capacity
            rows[host.topology] = row
            if let cpu = host.cpuUse { cpuSamples[host.topology, default: []].append(cpu) }
            if let memory = host.memoryUse { memorySamples[host.topology, default: []].append(memory) }
        }
        for placement in placements.values {
            guard let topology = hosts[placement.hostID]?.topology else { continue }
            rows[topology]?.vms += 1
            if let row = rows[topology] {
                rows[topology]?.allocated = (try? row.allocated.adding(placement.resources)) ?? row.allocated
            }
        }
        for (topology, samples) in cpuSamples { rows[topology]?.cpuUse = samples.reduce(0, +) / Double(samples.count) }
        for (topology, samples) in memorySamples { rows[topology]?.memoryUse = samples.reduce(0, +) / Double(samples.count) }
        return rows.values.sorted { ($0.topology.cloud, $0.topology.region, $0.topology.zone) < ($1.topology.cloud, $1.topology.region, $1.topology.zone) }
    }

    /// `zones()` as an aligned text table with a total row.
    public func table() -> String {
        let zones = zones()
        var total = ZoneSummary(topology: Topology(cloud: "total"))
        for z in zones {
            total.hosts += z.hosts
            total.readyHosts += z.readyHosts
            total.vms += z.vms
            total.capacity = (try? total.capacity.adding(z.capacity)) ?? total.capacity
            total.allocated = (try? total.allocated.adding(z.allocated)) ?? total.allocated
        }
        let measured = hosts.values.compactMap(\.cpuUse)
        total.cpuUse = measured.isEmpty ? nil : measured.reduce(0, +) / Double(measured.count)
        let measuredMemory = hosts.values.compactMap(\.memoryUse)
        total.memoryUse = measuredMemory.isEmpty ? nil : measuredMemory.reduce(0, +) / Double(measuredMemory.count)
        let header = ["cloud", "region", "zone", "hosts", "ready", "VMs", "vCPU alloc", "memory alloc", "cpu used", "mem used"]
        var rows = zones.map(Self.cells)
        rows.append(Self.cells(total))
        return TextTable(header: header, rows: rows, rightAligned: Set(3..<header.count)).render()
    }

    private static func cells(_ z: ZoneSummary) -> [String] {
        func percent(_ value: Double?) -> String { value.map { String(Int(($0 * 100).rounded())) + "%" } ?? "-" }
        return [
            z.topology.cloud, z.topology.region, z.topology.zone, String(z.hosts), String(z.readyHosts), String(z.vms),
            "\(z.allocated.vcpuMillis / 1000)/\(z.capacity.vcpuMillis / 1000) \(percent(z.cpuAllocated))",
            "\(z.allocated.memoryMiB / 1024)/\(z.capacity.memoryMiB / 1024) GiB \(percent(z.memoryAllocated))",
            percent(z.cpuUse), percent(z.memoryUse),
        ]
    }
}

/// A plain aligned text table: columns padded to their widest cell, a rule under the header.
public struct TextTable: Sendable {
    public var header: [String]
    public var rows: [[String]]
    public var rightAligned: Set<Int>

    public init(header: [String], rows: [[String]], rightAligned: Set<Int> = []) {
        self.header = header
        self.rows = rows
        self.rightAligned = rightAligned
    }

    public func render() -> String {
        var widths = header.map(\.count)
        for row in rows {
            for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], cell.count) }
        }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, cell in
                rightAligned.contains(i) ? cell.leftPadded(to: widths[i]) : cell.rightPadded(to: widths[i])
            }.joined(separator: "  ")
        }
        var lines = [line(header), widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")]
        lines += rows.map(line)
        return lines.map { $0.replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression) }.joined(separator: "\n")
    }
}
