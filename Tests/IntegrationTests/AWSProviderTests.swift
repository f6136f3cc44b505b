import Foundation
import NovaBus
import NovaCore
import NovaProto
import NovaTestSupport
import SwiftProtobuf
import Testing

/// A moto_server of the test's own on a free port (the EC2 Query API, signed requests), and
/// boto3, AWS's own SDK, to set it up and check what the adapter did.
struct MotoServer {
    let process: ChildProcess
    let endpoint: String
    static let credentials = ["AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1"]

    static func start(environment: [String: String] = [:]) async throws -> MotoServer {
        let which = try await ToolRun.run("/usr/bin/env", ["which", "moto_server"])
        let binary = which.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        guard which.status == 0, !binary.isEmpty else {
            throw TestSetupError("moto_server is not installed: `make test` installs it (pip install 'moto[server]' boto3)")
        }
        let port = try freeTCPPort()
        let process = try ChildProcess(binary: binary, name: "moto", arguments: ["-H", "127.0.0.1", "-p", "\(port)"], environment: environment)
        let server = MotoServer(process: process, endpoint: "http://127.0.0.1:\(port)")
        // Up once it answers HTTP at all (with signature checking on, an unsigned request is refused).
        let up = await eventually(timeout: .seconds(30)) {
            let code = try? await ToolRun.run("/usr/bin/env", ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", server.endpoint])
            return (code?.stdout ?? "000") != "000"
        }
        guard up else {
            await process.stop()
            throw TestSetupError("moto_server did not answer on \(server.endpoint):\n\(process.output.suffix(2000))")
        }
        return server
    }

    /// Runs Python with `ec2` and `iam` boto3 clients of this server; returns what it printed.
    func boto(_ script: String, key: String = "testing", secret: String = "testing") async throws -> String {
        let program = """
            import boto3, json
            ec2 = boto3.client("ec2", region_name="us-east-1", endpoint_url="\(endpoint)", aws_access_key_id="\(key)", aws_secret_access_key="\(secret)")
            iam = boto3.client("iam", region_name="us-east-1", endpoint_url="\(endpoint)", aws_access_key_id="\(key)", aws_secret_access_key="\(secret)")
            \(script)
            """
        let run = try await ToolRun.run("/usr/bin/env", ["python3", "-c", program], timeout: .seconds(60))
        guard run.status == 0 else { throw TestSetupError("boto3 script failed: \(run.stderr.suffix(1500))") }
        return run.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The live instances tagged with `vmID`: id and dedicated host of each.
    func instances(of vmID: String) async throws -> [(id: String, host: String, state: String)] {
        let out = try await boto("""
            r = ec2.describe_instances(Filters=[{"Name": "tag:novacron:vm-id", "Values": ["\(vmID)"]}])
            for res in r["Reservations"]:
                for i in res["Instances"]:
                    print(i["InstanceId"], i["Placement"].get("HostId", "-"), i["State"]["Name"])
            """)
        return out.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }.filter { $0.count == 3 }.map { ($0[0], $0[1], $0[2]) }
    }
}

@Suite(.serialized) struct AWSProviderTests {
    /// Against moto: a VM provisioned on a dedicated host is one instance on that host, tagged
    /// with its VM and command; an instance already tagged with the VM (what a crash between
    /// RunInstances and the commit leaves) is adopted, not doubled; a missing host is refused
    /// as not found; a terminate terminates the instance.
    @Test func provisionsOnTheDedicatedHostAndAdoptsWhatExists() async throws {
        let env = try TestEnvironment.current()
        let moto = try await MotoServer.start()
        let setup = try await moto.boto("""
            h = ec2.allocate_hosts(AvailabilityZone="us-east-1a", InstanceType="m5.large", Quantity=1)["HostIds"][0]
            img = ec2.describe_images()["Images"][0]["ImageId"]
            print(h, img)
            """).split(separator: " ").map(String.init)
        let (host, image) = (setup[0], setup[1])
        let p = ProviderDeployment(
            env: env, name: "aws", provider: "aws",
            environment: MotoServer.credentials.merging(["AWS_ENDPOINT_URL": moto.endpoint, "NOVACRON_AWS_IMAGE_ID": image]) { $1 })
        let replicas = try await p.startConsuming(["aws"])
        let log = try TopicLog(env: env, topics: [TopicCatalog.providerEvents, TopicCatalog.vmEvents], run: p.run)
        defer { log.stop() }
        do {
            // An instance of vm2 that the adapter's record does not know (a crash after the call).
            let orphan = try await moto.boto("""
                r = ec2.run_instances(ImageId="\(image)", InstanceType="m5.large", MinCount=1, MaxCount=1, Placement={"HostId": "\(host)"},
                    TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "novacron:vm-id", "Value": "\(p.run)-vm2"}]}])
                print(r["Instances"][0]["InstanceId"])
                """)
            try await p.send([p.provision(1, host: host), p.provision(2, host: host), p.provision(3, host: "h-0000missing")])
            #expect(await log.wait(timeout: .seconds(60)) { log in
                let provisioned = await log.messages(Novacron_V1_VMProvisioned.self)
                let failed = await log.messages(Novacron_V1_ProvisionFailed.self)
                return provisioned.count == 2 && failed.count == 1
            })
            let provisioned = await log.messages(Novacron_V1_VMProvisioned.self)
            let one = try #require(provisioned.first { $0.vmID == "\(p.run)-vm1" })
            #expect(one.provider == "aws" && one.providerRef.hasPrefix("i-"))
            let instances = try await moto.instances(of: "\(p.run)-vm1")
            #expect(instances.count == 1 && instances.first?.id == one.providerRef && instances.first?.host == host, "\(instances)")
            #expect(provisioned.first { $0.vmID == "\(p.run)-vm2" }?.providerRef == orphan, "the existing instance is adopted")
            #expect(try await moto.instances(of: "\(p.run)-vm2").count == 1)
            let missing = await log.messages(Novacron_V1_ProvisionFailed.self).first
            #expect(missing?.vmID == "\(p.run)-vm3" && missing?.reason.hasPrefix("not_found") == true, "\(String(describing: missing))")

            try await p.send([p.terminate(1, command: "\(p.run)-t1")])
            #expect(await log.wait(timeout: .seconds(60)) { await $0.messages(Novacron_V1_VMTerminated.self).contains { $0.vmID == "\(p.run)-vm1" } })
            let after = try await moto.instances(of: "\(p.run)-vm1")
            #expect(after.allSatisfy { $0.state == "terminated" || $0.state == "shutting-down" }, "\(after)")
        } catch {
            Issue.record(error)
        }
        await replicas.stopAll()
        await moto.process.stop()
    }

    /// SIGKILL of the adapter after RunInstances and before its transaction commits: after a
    /// restart the call fires again, finds the instance by its tag and adopts it: one instance,
    /// one VMProvisioned naming it.
    @Test func aCrashBetweenRunInstancesAndTheCommitLeavesOneInstance() async throws {
        let env = try TestEnvironment.current()
        let moto = try await MotoServer.start()
        let setup = try await moto.boto("""
            h = ec2.allocate_hosts(AvailabilityZone="us-east-1a", InstanceType="m5.large", Quantity=1)["HostIds"][0]
            print(h, ec2.describe_images()["Images"][0]["ImageId"])
            """).split(separator: " ").map(String.init)
        let p = ProviderDeployment(
            env: env, name: "awscrash", provider: "aws",
            environment: MotoServer.credentials.merging(["AWS_ENDPOINT_URL": moto.endpoint, "NOVACRON_AWS_IMAGE_ID": setup[1]]) { $1 })
        let log = try TopicLog(env: env, topics: [TopicCatalog.providerEvents], run: p.run)
        defer { log.stop() }
        do {
            // Armed: the barrier's probes (terminates of unknown VMs) fire no call, the create does.
            let armed = try await p.startConsuming(["armed"], environment: ["NOVACRON_PROVIDER_CRASH_BEFORE_COMMIT": "1"])
            try await p.send([p.provision(1, host: setup[0])])
            let died = await eventually(timeout: .seconds(60)) { armed.all.allSatisfy { !$0.isRunning } }
            #expect(died, "the adapter was killed inside the completion's transaction")
            #expect(try await moto.instances(of: "\(p.run)-vm1").count == 1, "RunInstances ran before the crash")
            #expect(await log.messages(Novacron_V1_VMProvisioned.self).isEmpty, "nothing was committed")
            await armed.stopAll()
            let restarted = try await p.deployment.startReady(["restarted"])
            #expect(await log.wait(timeout: .seconds(60)) { await $0.messages(Novacron_V1_VMProvisioned.self).count == 1 })
            let instances = try await moto.instances(of: "\(p.run)-vm1")
            #expect(instances.count == 1, "one instance, adopted: \(instances)")
            #expect(await log.messages(Novacron_V1_VMProvisioned.self).first?.providerRef == instances.first?.id)
            await restarted.stopAll()
        } catch {
            Issue.record(error)
        }
        await moto.process.stop()
    }

    /// With moto verifying every signature after its first four requests (the readiness probe,
    /// then creating an IAM user, its key and its policy): the adapter's SigV4 requests are accepted (it starts, and a VM is
    /// provisioned), and the same key with a wrong secret is a configuration error at start
    /// (exit 2, saying so), not retries.
    @Test func signaturesAreVerifiedAndRefusedCredentialsStopTheAdapterAtStart() async throws {
        let env = try TestEnvironment.current()
        let moto = try await MotoServer.start(environment: ["INITIAL_NO_AUTH_ACTION_COUNT": "4"])
        let keys = try await moto.boto("""
            iam.create_user(UserName="novacron")
            k = iam.create_access_key(UserName="novacron")["AccessKey"]
            iam.put_user_policy(UserName="novacron", PolicyName="all", PolicyDocument=json.dumps(
                {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
            print(k["AccessKeyId"], k["SecretAccessKey"])
            """).split(separator: " ").map(String.init)
        let (key, secret) = (keys[0], keys[1])
        let setup = try await moto.boto("""
            h = ec2.allocate_hosts(AvailabilityZone="us-east-1a", InstanceType="m5.large", Quantity=1)["HostIds"][0]
            print(h, ec2.describe_images()["Images"][0]["ImageId"])
            """, key: key, secret: secret).split(separator: " ").map(String.init)
        let variables = ["AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": moto.endpoint, "NOVACRON_AWS_IMAGE_ID": setup[1], "AWS_ACCESS_KEY_ID": key]

        let refused = ProviderDeployment(env: env, name: "awsbad", provider: "aws", environment: variables.merging(["AWS_SECRET_ACCESS_KEY": "wrong"]) { $1 })
        let child = try refused.deployment.replica("bad")
        let code = await child.wait(timeout: .seconds(30))
        #expect(code == 2, "exit \(String(describing: code)): \(child.output.suffix(1000))")
        #expect(child.output.contains("AWS refused the credentials"), "\(child.output.suffix(1000))")
        await child.stop()

        let p = ProviderDeployment(env: env, name: "awsauth", provider: "aws", environment: variables.merging(["AWS_SECRET_ACCESS_KEY": secret]) { $1 })
        let log = try TopicLog(env: env, topics: [TopicCatalog.providerEvents], run: p.run)
        defer { log.stop() }
        do {
            let replicas = try await p.startConsuming(["good"])
            try await p.send([p.provision(1, host: setup[0])])
            #expect(await log.wait(timeout: .seconds(60)) { await $0.messages(Novacron_V1_VMProvisioned.self).count == 1 })
            #expect(await log.messages(Novacron_V1_ProvisionFailed.self).isEmpty)
            await replicas.stopAll()
        } catch {
            Issue.record(error)
        }
        await moto.process.stop()
    }
}
