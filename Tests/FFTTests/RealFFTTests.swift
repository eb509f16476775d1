import FFT
import Foundation
import XCTest

/// FFTW's real transform against a direct DFT in double precision, and its independence from the thread
/// and the plan it runs on.
final class RealFFTTests: XCTestCase {
    /// Seeded pseudo-random samples in [-1, 1).
    static func samples(_ count: Int, seed: UInt64) -> [Float] {
        var state = seed
        return (0..<count).map { _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(state >> 40) / Float(1 << 23) - 1
        }
    }

    static func power(_ fft: RealFFT, _ samples: [Float]) -> [Float] {
        let workspace = RealFFT.Workspace(size: fft.size)
        _ = workspace.samples.update(fromContentsOf: samples)
        var power = [Float](repeating: 0, count: fft.size / 2 + 1)
        power.withUnsafeMutableBufferPointer { fft.power(workspace, into: $0.baseAddress!) }
        return power
    }

    func testPowerSpectrumMatchesDirectDFT() {
        for size in [8, 400, 512] {
            let x = Self.samples(size, seed: UInt64(size))
            let power = Self.power(RealFFT(size: size), x)
            for k in 0...(size / 2) {
                var re = 0.0, im = 0.0
                for n in 0..<size {
                    let angle = -2 * Double.pi * Double(k * n) / Double(size)
                    re += Double(x[n]) * cos(angle)
                    im += Double(x[n]) * sin(angle)
                }
                let expected = re * re + im * im
                XCTAssertEqual(Double(power[k]), expected, accuracy: 1e-4 * max(1, expected), "size \(size), bin \(k)")
            }
        }
    }

    /// The same samples give the same bits from another plan of the same size and from other threads.
    func testSameBitsFromEveryPlanAndThread() {
        let x = Self.samples(512, seed: 3)
        let reference = Self.power(RealFFT(size: 512), x)
        let shared = RealFFT(size: 512)
        let results = (0..<4).map { _ in [Float]() }
        final class Box: @unchecked Sendable { var results: [[Float]]; init(_ r: [[Float]]) { results = r } }
        let box = Box(results)
        let lock = NSLock()
        DispatchQueue.concurrentPerform(iterations: 4) { index in
            let power = Self.power(index % 2 == 0 ? shared : RealFFT(size: 512), x)
            lock.lock(); box.results[index] = power; lock.unlock()
        }
        for power in box.results { XCTAssertEqual(power, reference) }
    }
}
