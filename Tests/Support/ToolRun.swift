import Foundation

/// A command-line tool run to completion, as an operator or a script runs it.
///
/// Spawned with `posix_spawn` and reaped with `waitpid`, not with Foundation's `Process`: that
/// one learns of an exit when a socket it hands the child reaches end of file, and every
/// descendant inherits the socket, so a script whose stack left one process behind looked
/// "still running" until the timeout. Here the tool's own exit ends the run; what it left
/// behind is for the test to find (every descendant carries `NOVACRON_TOOL_RUN` in its
/// environment), and a timeout names each process of the run still alive.
public struct ToolRun: Sendable {
    public let status: Int32
    public let stdout: String
    public let stderr: String
    public let seconds: Double

    /// Runs `binary` with `arguments`, this process's environment plus `environment`, in
    /// `directory`. The status is the exit code, or 128 + the signal that ended the tool.
    public static func run(
        _ binary: String, _ arguments: [String], environment: [String: String] = [:], directory: String? = nil,
        timeout: Duration = .seconds(60)
    ) async throws -> ToolRun {
        let marker = UUID().uuidString
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("tool-\(marker).out").path
        let err = FileManager.default.temporaryDirectory.appendingPathComponent("tool-\(marker).err").path
        defer {
            unlink(out)
            unlink(err)
        }
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        env["NOVACRON_TOOL_RUN"] = marker
        // posix_spawn has no portable chdir; coreutils' env does it before exec.
        let command = directory.map { ["/usr/bin/env", "-C", $0, binary] + arguments } ?? [binary] + arguments
        let started = ContinuousClock.now
        let pid = try spawn(command, environment: env.map { "\($0)=\($1)" }, stdout: out, stderr: err)
        let deadline = started + timeout
        var status: Int32?
        while status == nil {
            status = reaped(pid)
            if status == nil {
                guard ContinuousClock.now < deadline else { break }
                try await Task.sleep(for: .milliseconds(20))
            }
        }
        let read = { (path: String) in (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }
        guard let status else {
            let carrying = { LiveProcess.all().filter { $0.environment.contains("NOVACRON_TOOL_RUN=\(marker)") } }
            let alive = carrying().map { "\($0.pid) \($0.parent) \($0.state) \($0.command)" }
            // The tool's whole process group first (a script's traps get to stop what it
            // started), then whatever of the run is still alive.
            kill(-pid, SIGTERM)
            let grace = ContinuousClock.now + .seconds(5)
            while reaped(pid) == nil && ContinuousClock.now < grace { try await Task.sleep(for: .milliseconds(50)) }
            kill(-pid, SIGKILL)
            for process in carrying() { kill(process.pid, SIGKILL) }
            _ = reaped(pid, blocking: true)
            throw TestSetupError(
                """
                \(command.joined(separator: " ")) did not finish within \(timeout)
                still running then (pid ppid state command):
                \(alive.joined(separator: "\n"))
                stdout:
                \(read(out).suffix(3000))
                stderr:
                \(read(err).suffix(3000))
                """)
        }
        let elapsed = ContinuousClock.now - started
        return ToolRun(
            status: status, stdout: read(out), stderr: read(err),
            seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
    }

    /// Starts `command` in a process group of its own, stdin from /dev/null, stdout and stderr
    /// to the files given.
    private static func spawn(_ command: [String], environment: [String], stdout: String, stderr: String) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, stderr, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
        posix_spawnattr_setpgroup(&attributes, 0)
        let argv = command.map { strdup($0) } + [nil]
        let envp = environment.map { strdup($0) } + [nil]
        defer {
            for p in argv { free(p) }
            for p in envp { free(p) }
        }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, command[0], &actions, &attributes, argv, envp)
        guard result == 0 else { throw TestSetupError("cannot start \(command[0]): \(String(cString: strerror(result)))") }
        return pid
    }

    /// The status of `pid` once it has exited (and is reaped), else nil.
    private static func reaped(_ pid: pid_t, blocking: Bool = false) -> Int32? {
        var raw: Int32 = 0
        var result: pid_t
        repeat { result = waitpid(pid, &raw, blocking ? 0 : WNOHANG) } while result < 0 && errno == EINTR
        guard result == pid else { return result < 0 ? -1 : nil }
        let signal = raw & 0x7f
        return signal == 0 ? (raw >> 8) & 0xff : 128 + signal
    }
}
