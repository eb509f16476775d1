import Foundation

/// Reports a run as it goes: on a terminal, one live line with each running stage's items done/total,
/// rate and estimated time left; elsewhere (logs, CI), plain lines at most every few seconds.
public final class Progress: @unchecked Sendable {
    private struct Active {
        var total: Int
        var done = 0
        /// When the first item finished: a stage's items may wait behind another stage's, so the rate is
        /// measured from there rather than from when they were queued.
        var firstDone: Date?
        var lastLine = Date()
    }

    private let isTerminal: Bool
    private let output: FileHandle
    private let quiet: Bool
    private var active: [(String, Active)] = []
    private var liveLineShown = false
    private var lastDraw = Date.distantPast

    public init(output: FileHandle = .standardError, quiet: Bool = false) {
        self.output = output
        self.quiet = quiet
        isTerminal = isatty(output.fileDescriptor) == 1
    }

    public func message(_ text: String) {
        guard !quiet else { return }
        clearLiveLine()
        emit(text + "\n")
        draw(force: true)
    }

    func stageStarted(_ name: String, toRun: Int, cached: Int) {
        active.append((name, Active(total: toRun)))
        message(cached > 0 ? "\(name): running \(toRun) of \(toRun + cached) (\(cached) cached)" : "\(name): running \(toRun)")
    }

    func itemFinished(_ name: String) {
        guard let index = active.firstIndex(where: { $0.0 == name }) else { return }
        active[index].1.done += 1
        if active[index].1.firstDone == nil { active[index].1.firstDone = Date() }
        if !isTerminal, !quiet, active[index].1.done < active[index].1.total, Date().timeIntervalSince(active[index].1.lastLine) >= 10 {
            active[index].1.lastLine = Date()
            emit(Progress.describe(name, active[index].1) + "\n")
        }
        draw(force: false)
    }

    func stageEnded(_ name: String, summary: String) {
        active.removeAll { $0.0 == name }
        message("\(name): \(summary)")
    }

    /// Called periodically by the coordinator so the rate and ETA stay current while items are slow.
    func tick() { draw(force: false) }

    func finish() { clearLiveLine() }

    private static func describe(_ name: String, _ stage: Active) -> String {
        let elapsed = stage.firstDone.map { Date().timeIntervalSince($0) } ?? 0
        let rate = elapsed > 0 && stage.done > 1 ? Double(stage.done - 1) / elapsed : 0
        var line = "\(name) \(stage.done)/\(stage.total)"
        if rate > 0 {
            line += String(format: " %.1f/s", rate)
            line += " ETA " + duration(Double(stage.total - stage.done) / rate)
        }
        return line
    }

    static func duration(_ seconds: Double) -> String {
        if seconds < 60 { return String(format: "%.1fs", seconds) }
        let whole = Int(seconds.rounded())
        if whole < 3600 { return "\(whole / 60)m\(String(format: "%02d", whole % 60))s" }
        return "\(whole / 3600)h\(String(format: "%02d", whole / 60 % 60))m"
    }

    private func draw(force: Bool) {
        guard isTerminal, !quiet, !active.isEmpty else { return }
        guard force || Date().timeIntervalSince(lastDraw) >= 0.1 else { return }
        lastDraw = Date()
        let line = active.map { Progress.describe($0.0, $0.1) }.joined(separator: " | ")
        emit("\r\u{1B}[K" + line)
        liveLineShown = true
    }

    /// Progress that cannot be written (standard error on a full disk, `2>/dev/full`) is dropped: the run and its
    /// outputs matter more than its commentary.
    private func emit(_ text: String) {
        try? output.write(contentsOf: Data(text.utf8))
    }

    private func clearLiveLine() {
        if liveLineShown {
            emit("\r\u{1B}[K")
            liveLineShown = false
        }
    }
}
