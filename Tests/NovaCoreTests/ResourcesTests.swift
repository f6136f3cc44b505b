import NovaCore
import Testing

@Suite struct ResourcesTests {
    @Test func addsAndSubtractsPerDimension() throws {
        let a = Resources(vcpuMillis: 4000, memoryMiB: 8192, diskGiB: 100, gpus: 1)
        let b = Resources(vcpuMillis: 1500, memoryMiB: 2048, diskGiB: 40, gpus: 1)
        #expect(try a.adding(b) == Resources(vcpuMillis: 5500, memoryMiB: 10240, diskGiB: 140, gpus: 2))
        #expect(try a.subtracting(b) == Resources(vcpuMillis: 2500, memoryMiB: 6144, diskGiB: 60, gpus: 0))
    }

    @Test func subtractingBelowZeroNamesTheDimension() {
        let a = Resources(vcpuMillis: 1000, memoryMiB: 1024)
        let b = Resources(vcpuMillis: 500, memoryMiB: 2048)
        #expect(throws: ResourceArithmeticError.underflow(dimension: "memory_mib")) { try a.subtracting(b) }
    }

    @Test func overflowIsAnErrorNotAWrap() {
        let big = Resources(vcpuMillis: .max, memoryMiB: 1)
        #expect(throws: ResourceArithmeticError.overflow(dimension: "vcpu_millis")) {
            try big.adding(Resources(vcpuMillis: 1, memoryMiB: 1))
        }
    }

    @Test func fitsComparesEveryDimension() {
        let host = Resources(vcpuMillis: 8000, memoryMiB: 16384, diskGiB: 200, gpus: 0)
        #expect(Resources(vcpuMillis: 8000, memoryMiB: 16384, diskGiB: 200).fits(in: host))
        #expect(!Resources(vcpuMillis: 1000, memoryMiB: 1024, gpus: 1).fits(in: host))
        #expect(!Resources(vcpuMillis: 8001, memoryMiB: 1).fits(in: host))
    }

    @Test(arguments: [
        (Resources(vcpuMillis: -1, memoryMiB: 1024), "resources.vcpu_millis"),
        (Resources(vcpuMillis: 1000, memoryMiB: 1024, diskGiB: -5), "resources.disk_gib"),
        (Resources(vcpuMillis: 0, memoryMiB: 1024), "resources"),
        (Resources(vcpuMillis: 1000, memoryMiB: 0), "resources"),
    ])
    func invalidRequestsNameTheField(resources: Resources, field: String) {
        #expect { try resources.validatedAsRequest() } throws: { ($0 as? ValidationError)?.field == field }
    }

    @Test func protoRoundTrip() {
        let r = Resources(vcpuMillis: 2500, memoryMiB: 4096, diskGiB: 50, gpus: 2)
        #expect(Resources(r.proto) == r)
    }
}
