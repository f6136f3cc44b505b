import CloudAdaptersCore
import Foundation
import Testing

/// The EC2 Query calls as form parameters, their XML read back, and the error taxonomy.
@Suite struct EC2QueryTests {
    @Test func runInstanceTagsTheVMAndCarriesTheClientToken() {
        let p = Dictionary(
            uniqueKeysWithValues: EC2Query.runInstance(vmID: "vm-1", commandID: "c-1/provision", hostID: "h-0abc", imageID: "ami-1", instanceType: "m5.large"))
        #expect(p["Action"] == "RunInstances" && p["Version"] == "2016-11-15")
        #expect(p["Placement.HostId"] == "h-0abc" && p["Placement.Tenancy"] == "host" && p["InstanceType"] == "m5.large")
        #expect(p["ClientToken"] == "c-1/provision")
        #expect(p["TagSpecification.1.Tag.1.Key"] == "novacron:vm-id" && p["TagSpecification.1.Tag.1.Value"] == "vm-1")
        #expect(p["TagSpecification.1.Tag.2.Value"] == "c-1/provision")
        let long = String(repeating: "x", count: 80)
        let token = Dictionary(uniqueKeysWithValues: EC2Query.runInstance(vmID: "v", commandID: long, hostID: "h", imageID: "i", instanceType: "t"))["ClientToken"]!
        #expect(token.count <= 64 && token != long)
        #expect(token == Dictionary(uniqueKeysWithValues: EC2Query.runInstance(vmID: "v", commandID: long, hostID: "h", imageID: "i", instanceType: "t"))["ClientToken"])
        #expect(String(decoding: EC2Query.formBody([("Action", "X"), ("Filter.1.Value.1", "a b/c")]), as: UTF8.self) == "Action=X&Filter.1.Value.1=a%20b%2Fc")
    }

    @Test func instancesAndHostsAreReadFromTheirResponses() throws {
        let xml = """
            <?xml version="1.0" encoding="UTF-8"?>
            <DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
              <requestId>r</requestId>
              <reservationSet><item><reservationId>r-1</reservationId><instancesSet>
                <item><instanceId>i-1</instanceId><instanceState><code>16</code><name>running</name></instanceState>
                  <placement><availabilityZone>us-east-1a</availabilityZone><hostId>h-9</hostId></placement>
                  <tagSet><item><key>novacron:vm-id</key><value>vm-1</value></item></tagSet></item>
              </instancesSet></item></reservationSet>
              <nextToken>page-2</nextToken>
            </DescribeInstancesResponse>
            """
        let tree = try #require(XMLTree.parse(Array(xml.utf8)))
        #expect(EC2Query.instances(tree) == [EC2Query.Instance(id: "i-1", state: "running", hostID: "h-9", tags: ["novacron:vm-id": "vm-1"])])
        #expect(tree.text("nextToken") == "page-2")
        let hosts = """
            <DescribeHostsResponse><hostSet><item><hostId>h-9</hostId><state>available</state><availabilityZone>us-east-1a</availabilityZone>
            <hostProperties><instanceType>m5.large</instanceType></hostProperties><instances><item><instanceId>i-1</instanceId></item></instances>
            </item></hostSet></DescribeHostsResponse>
            """
        let hostTree = try #require(XMLTree.parse(Array(hosts.utf8)))
        #expect(
            EC2Query.hosts(hostTree)
                == [EC2Query.DedicatedHost(id: "h-9", state: "available", zone: "us-east-1a", instanceType: "m5.large", instanceIDs: ["i-1"])])
        #expect(XMLTree.parse(Array("<a><b>".utf8)) == nil, "not well-formed")
    }

    @Test func errorsMapToTheTaxonomy() throws {
        let xml = "<Response><Errors><Error><Code>InsufficientHostCapacity</Code><Message>full</Message></Error></Errors></Response>"
        let tree = try #require(XMLTree.parse(Array(xml.utf8)))
        let error = try #require(ProviderErrorKind.ec2Error(tree))
        #expect(error.code == "InsufficientHostCapacity" && error.message == "full")
        let cases: [(String, Int, ProviderErrorKind)] = [
            ("InsufficientHostCapacity", 400, .capacity), ("InsufficientInstanceCapacity", 500, .capacity),
            ("RequestLimitExceeded", 503, .throttled), ("AuthFailure", 401, .auth), ("SignatureDoesNotMatch", 403, .auth),
            ("InvalidInstanceID.NotFound", 400, .notFound), ("InvalidHostId.NotFound", 400, .notFound),
            ("IncorrectInstanceState", 400, .invalidState), ("InvalidParameterValue", 400, .invalidRequest),
            ("InternalError", 500, .providerError),
        ]
        for (code, status, kind) in cases { #expect(ProviderErrorKind.ec2(code: code, status: status) == kind, "\(code)") }
        #expect(ProviderErrorKind.capacity.retryable && ProviderErrorKind.throttled.retryable && !ProviderErrorKind.auth.retryable)
        #expect(!ProviderErrorKind.notFound.retryable && !ProviderErrorKind.invalidRequest.retryable)
    }
}
