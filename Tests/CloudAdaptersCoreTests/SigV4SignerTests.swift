import CloudAdaptersCore
import Foundation
import Testing

/// SigV4 against AWS's published examples (the IAM ListUsers request of the signing guide and
/// the `get-vanilla` case of the SigV4 test suite, both with the documented example keys).
@Suite struct SigV4SignerTests {
    static let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
    /// 2015-08-30T12:36:00Z.
    static let date = Date(timeIntervalSince1970: 1_440_938_160)

    @Test func theSigningGuidesListUsersExample() {
        let signer = SigV4Signer(accessKeyID: "AKIDEXAMPLE", secretAccessKey: Self.secret, region: "us-east-1", service: "iam")
        let request = SigV4Signer.Request(
            method: "GET", query: [("Action", "ListUsers"), ("Version", "2010-05-08")],
            headers: [("Host", "iam.amazonaws.com"), ("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")])
        let added = Dictionary(uniqueKeysWithValues: signer.sign(request, at: Self.date))
        #expect(added["X-Amz-Date"] == "20150830T123600Z")
        #expect(
            added["Authorization"]
                == "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, "
                + "SignedHeaders=content-type;host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7")
        let key = signer.signingKey(day: "20150830").withUnsafeBytes { Array($0) }
        #expect(key.map { String(format: "%02x", $0) }.joined() == "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9")
    }

    @Test func theTestSuitesGetVanilla() {
        let signer = SigV4Signer(accessKeyID: "AKIDEXAMPLE", secretAccessKey: Self.secret, region: "us-east-1", service: "service")
        let added = Dictionary(
            uniqueKeysWithValues: signer.sign(SigV4Signer.Request(method: "GET", headers: [("Host", "example.amazonaws.com")]), at: Self.date))
        #expect(
            added["Authorization"]
                == "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
                + "SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")
    }

    @Test func encodingAndCanonicalForm() {
        #expect(SigV4Signer.encode("a b/c~d*é") == "a%20b%2Fc~d%2A%C3%A9")
        let signer = SigV4Signer(accessKeyID: "k", secretAccessKey: "s", region: "r", service: "ec2")
        let (canonical, signed) = signer.canonicalRequest(
            SigV4Signer.Request(method: "POST", query: [("b", "2"), ("a", "1")], headers: [("Host", "h"), ("X-Multi", "  x   y ")]),
            headers: [("Host", "h"), ("X-Multi", "  x   y "), ("x-multi", "z")])
        #expect(signed == "host;x-multi")
        #expect(canonical.hasPrefix("POST\n/\na=1&b=2\nhost:h\nx-multi:x y,z\n\nhost;x-multi\n"))
        #expect(canonical.hasSuffix("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"), "the empty body's SHA-256")
        #expect(SigV4Signer(accessKeyID: "k", secretAccessKey: "s", sessionToken: "t", region: "r", service: "ec2")
            .sign(SigV4Signer.Request(method: "GET", headers: [("Host", "h")]), at: Self.date).contains { $0 == ("X-Amz-Security-Token", "t") })
    }
}
