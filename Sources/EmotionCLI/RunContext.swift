import Foundation
import Pipeline

/// What a run's overview page says of the code and of the processor, beyond what the runner knows.
enum RunContext {
    static func about() -> [AboutLine] {
        [AboutLine("code", codeVersion()), AboutLine("CPU features the engine uses", engineFeatures())]
    }

    /// The commit the programs were built from, read from the checkout they sit in (no `git` needed): a run is
    /// reproduced with that commit and the same pipeline file.
    static func codeVersion() -> String {
        let program = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        var folder = (program as NSString).deletingLastPathComponent
        while folder.count > 1 {
            let git = folder + "/.git"
            if let head = try? String(contentsOfFile: git + "/HEAD", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines) {
                guard head.hasPrefix("ref: ") else { return "commit \(head.prefix(12)) (detached) of \(folder)" }
                let ref = String(head.dropFirst(5))
                let commit = (try? String(contentsOfFile: git + "/" + ref, encoding: .utf8))
                    ?? (try? String(contentsOfFile: git + "/packed-refs", encoding: .utf8))?.split(separator: "\n").first { $0.hasSuffix(" " + ref) }.map(String.init)
                let branch = ref.split(separator: "/").last.map(String.init) ?? ref
                return "commit \(commit.map { String($0.prefix(12)) } ?? "unknown") on \(branch) of \(folder), built \(built(program))"
            }
            folder = (folder as NSString).deletingLastPathComponent
        }
        return "\(program), built \(built(program)) (not in a git checkout)"
    }

    private static func built(_ program: String) -> String {
        guard let date = (try? FileManager.default.attributesOfItem(atPath: program))?[.modificationDate] as? Date else { return "at an unknown time" }
        return ISO8601DateFormatter().string(from: date)
    }

    /// The instruction sets oneDNN and OpenBLAS choose kernels by, as the kernel reports them.
    static func engineFeatures() -> String {
        let wanted = ["avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile", "amx_bf16", "amx_int8"]
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let flags = Set(cpuinfo.split(separator: "\n").first { $0.hasPrefix("flags") }?.split(separator: " ").map(String.init) ?? [])
        let present = wanted.filter(flags.contains)
        return present.isEmpty ? "none of " + wanted.joined(separator: ", ") : present.joined(separator: " ")
    }
}
