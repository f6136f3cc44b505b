import Foundation
import NovaTestSupport
import Testing

@Suite struct ToolRunTests {
    /// A tool that exits while a process it started lives on is done at its own exit: the
    /// leftover is the caller's to find, not a hang.
    @Test func theToolsOwnExitEndsTheRun() async throws {
        let result = try await ToolRun.run("/bin/sh", ["-c", "sleep 30 & echo $!; exit 3"], timeout: .seconds(20))
        let leftover = try #require(Int32(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)), "\(result.stdout)")
        defer { kill(leftover, SIGKILL) }
        #expect(result.status == 3)
        #expect(kill(leftover, 0) == 0, "the leftover is still there")
        #expect(result.seconds < 15, "waited for the leftover: \(result.seconds) s")
    }

    /// A tool still running at its timeout is stopped, with its process group, and the
    /// error names what of it was still running.
    @Test func aTimeoutNamesWhatWasStillRunningAndStopsIt() async throws {
        let started = ContinuousClock.now
        let error = await #expect(throws: TestSetupError.self) {
            _ = try await ToolRun.run("/bin/sh", ["-c", "sleep 31 & sleep 32"], timeout: .seconds(1))
        }
        let text = "\(error.map { "\($0)" } ?? "")"
        #expect(text.contains("did not finish within 1.0 seconds") && text.contains("sleep 31") && text.contains("sleep 32"), "\(text)")
        #expect(ContinuousClock.now - started < .seconds(20))
        let sleepers = (try? FileManager.default.contentsOfDirectory(atPath: "/proc"))?.filter { pid in
            guard Int32(pid) != nil, let cmdline = try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline")) else { return false }
            let command = String(decoding: cmdline.map { $0 == 0 ? 32 : $0 }, as: UTF8.self)
            return command.hasPrefix("sleep 31") || command.hasPrefix("sleep 32")
        }
        #expect(sleepers?.isEmpty == true, "left running: \(sleepers ?? [])")
    }
}
