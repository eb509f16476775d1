import Foundation
import GradientExchange

// A worker of a gradient exchange, for tests: `exchange-probe NAME RANK STEPS OUT [DIE_AT_STEP] [TIMEOUT]`; each step it
// all-reduces a staged buffer of deterministic values, sums the same values in its home buffer (scaled by 1/2), and
// receives a broadcast from rank STEP mod N, then computes its share of a range (all but a few values at each end) of
// a function of the step and the index and gathers the others' shares, appending the four results' bytes to OUT (the
// last over the range only); at DIE_AT_STEP it kills itself.
let arguments = CommandLine.arguments
let (name, rank, steps, out) = (arguments[1], Int(arguments[2])!, Int(arguments[3])!, arguments[4])
let dieAt = arguments.count > 5 ? Int(arguments[5])! : -1
let timeout = arguments.count > 6 ? Double(arguments[6])! : 10
do {
    let exchange = try GradientExchange(attaching: name, rank: rank)
    _ = FileManager.default.createFile(atPath: out, contents: nil)
    let file = FileHandle(forWritingAtPath: out)!
    for step in 0..<steps {
        if step == dieAt { kill(getpid(), SIGKILL) }
        let mine = (0..<exchange.count).map { Float(sin(Double(rank * 7919 + step * 104_729 + $0))) * 1000 }
        var values = mine
        try values.withUnsafeMutableBufferPointer { try exchange.allReduce($0, timeout: timeout) }
        file.write(values.withUnsafeBytes { Data($0) })
        _ = exchange.homeBuffer.update(from: mine)
        try exchange.reduceHome(scale: 0.5, timeout: timeout)
        file.write(Data(buffer: exchange.homeBuffer))
        values = mine
        try values.withUnsafeMutableBufferPointer { try exchange.broadcast($0, from: step % exchange.ranks, timeout: timeout) }
        file.write(values.withUnsafeBytes { Data($0) })
        values = mine
        let range = 5..<exchange.count - 3
        for i in exchange.share(of: range) { values[i] = Float(i) * 0.25 + Float(step) }
        try values.withUnsafeMutableBufferPointer { try exchange.gatherShares($0, within: range, timeout: timeout) }
        file.write(values[range].withUnsafeBytes { Data($0) })
    }
    try file.close()
} catch {
    FileHandle.standardError.write(Data("rank \(rank): \(error)\n".utf8))
    exit(1)
}
