import AsyncHTTPClient
import CloudAdaptersCore
import Foundation
import NovaCore
import NIOCore
import NIOHTTP1

/// An EC2 error, mapped to the adapters' taxonomy.
struct EC2Failure: Error, CustomStringConvertible {
    var kind: ProviderErrorKind
    var code: String
    var message: String
    var description: String { "\(code): \(message)" }
}

/// The EC2 Query API over async-http-client, signed with SigV4. Throttled and 5xx answers are
/// retried with jittered exponential backoff (4 attempts); everything else is returned to the
/// caller as an `EC2Failure`.
struct EC2Client: Sendable {
    let endpoint: String
    let host: String
    let signer: SigV4Signer
    let http: HTTPClient
    static let attempts = 4

    /// From the usual variables: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN,
    /// AWS_REGION (or AWS_DEFAULT_REGION), AWS_ENDPOINT_URL (default the region's endpoint).
    init(environment: [String: String], http: HTTPClient = .shared) throws(ValidationError) {
        func required(_ name: String) throws(ValidationError) -> String {
            guard let value = environment[name], !value.isEmpty else { throw ValidationError(field: name, "is required for NOVACRON_PROVIDER=aws") }
            return value
        }
        let region = environment["AWS_REGION"].flatMap { $0.isEmpty ? nil : $0 } ?? environment["AWS_DEFAULT_REGION"] ?? ""
        guard !region.isEmpty else { throw ValidationError(field: "AWS_REGION", "is required for NOVACRON_PROVIDER=aws (or AWS_DEFAULT_REGION)") }
        let endpoint = environment["AWS_ENDPOINT_URL"].flatMap { $0.isEmpty ? nil : $0 } ?? "https://ec2.\(region).amazonaws.com"
        guard let url = URL(string: endpoint), let host = url.host, url.scheme == "http" || url.scheme == "https" else {
            throw ValidationError(field: "AWS_ENDPOINT_URL", "must be an http(s) URL, got '\(endpoint)'")
        }
        self.endpoint = endpoint.hasSuffix("/") ? endpoint : endpoint + "/"
        self.host = url.port.map { "\(host):\($0)" } ?? host
        signer = SigV4Signer(
            accessKeyID: try required("AWS_ACCESS_KEY_ID"), secretAccessKey: try required("AWS_SECRET_ACCESS_KEY"),
            sessionToken: environment["AWS_SESSION_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }, region: region, service: "ec2")
        self.http = http
    }

    /// One call, retried while throttled or failing on the server side.
    func call(_ parameters: [(String, String)]) async throws(EC2Failure) -> XMLTree {
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try await once(parameters)
            } catch let failure where failure.kind == .throttled || failure.kind == .providerError {
                guard attempt < Self.attempts else { throw failure }
                let base = 100 << attempt
                try? await Task.sleep(for: .milliseconds(base / 2 + Int.random(in: 0...base)))
            }
        }
    }

    private func once(_ parameters: [(String, String)]) async throws(EC2Failure) -> XMLTree {
        let body = EC2Query.formBody(parameters)
        let headers = [("Host", host), ("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")]
        let signed = signer.sign(SigV4Signer.Request(method: "POST", headers: headers, body: body), at: Date())
        var request = HTTPClientRequest(url: endpoint)
        request.method = .POST
        for (name, value) in headers + signed { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(bytes: body))
        let status: Int
        let bytes: [UInt8]
        do {
            let response = try await http.execute(request, timeout: .seconds(30))
            status = Int(response.status.code)
            bytes = Array(buffer: try await response.body.collect(upTo: 16 << 20))
        } catch {
            throw EC2Failure(kind: .providerError, code: "Unreachable", message: "\(endpoint): \(error)")
        }
        guard let tree = XMLTree.parse(bytes) else {
            throw EC2Failure(kind: .providerError, code: "MalformedResponse", message: "HTTP \(status), \(bytes.count) bytes that are not XML")
        }
        if status >= 300 || tree.name == "Response" {
            let (code, message) = ProviderErrorKind.ec2Error(tree) ?? ("HTTP\(status)", "no error element")
            throw EC2Failure(kind: ProviderErrorKind.ec2(code: code, status: status), code: code, message: message)
        }
        return tree
    }

    /// The VM's live instances (by its tag), following NextToken pages.
    func instances(ofVM vmID: String) async throws(EC2Failure) -> [EC2Query.Instance] {
        var found: [EC2Query.Instance] = []
        var token = ""
        repeat {
            var parameters = EC2Query.describeInstances(vmID: vmID)
            if !token.isEmpty { parameters.append(("NextToken", token)) }
            let page = try await call(parameters)
            found += EC2Query.instances(page)
            token = page.text("nextToken")
        } while !token.isEmpty
        return found
    }
}
