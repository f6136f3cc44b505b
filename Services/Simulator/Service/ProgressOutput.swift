import Foundation
import SimulatorCore
import Synchronization

/// Progress on standard error: a bar redrawn in place on a terminal; on a pipe or a log,
/// one line per tenth of the work, so CI logs stay short.
final class ProgressOutput: Sendable {
    private let interactive: Bool
    private let state = Mutex((barShown: false, lastTenth: -1))

    init(interactive: Bool) {
        self.interactive = interactive
    }

    func note(_ text: String) {
        let clear = state.withLock { s -> Bool in
            defer { s.barShown = false }
            return s.barShown
        }
        write((clear ? "\r\u{1B}[K" : "") + "novacron-sim: \(text)\n")
    }

    func update(done: Int, total: Int, placed: Int, failed: Int, elapsed: Duration) {
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let line = ProgressBar.line(done: done, total: total, placed: placed, failed: failed, perSecond: seconds > 0 ? Double(done) / seconds : 0)
        if interactive {
            state.withLock { $0.barShown = true }
            write("\r\u{1B}[K" + line + (done >= total ? "\n" : ""))
            if done >= total { state.withLock { $0.barShown = false } }
            return
        }
        let tenth = total > 0 ? done * 10 / total : 10
        let show = state.withLock { s -> Bool in
            guard tenth > s.lastTenth else { return false }
            s.lastTenth = tenth
            return true
        }
        if show { write(line + "\n") }
    }

    private func write(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}
