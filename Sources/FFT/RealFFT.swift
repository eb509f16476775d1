import CFFTW
import Foundation

/// A real-to-complex FFT of one size, planned once with FFTW and then run from any thread: FFTW's planner is
/// not thread-safe, its new-array execute is.
public final class RealFFT: @unchecked Sendable {
    /// How FFTW chooses its algorithm.
    public enum Planning: String, Sendable, CaseIterable {
        /// From the size alone: the same algorithm, so the same bits, in every process on every machine.
        case estimate
        /// By timing candidates on this machine now: sometimes faster, but the choice (and with it the rounding)
        /// follows the machine's load, so two runs can differ in the last bits. Never used for stage outputs.
        case measure

        var flags: UInt32 { UInt32(self == .estimate ? FFTW_ESTIMATE : FFTW_MEASURE) }
    }

    public let size: Int
    private let plan: fftwf_plan
    private static let planner = NSLock()

    public init(size: Int, planning: Planning = .estimate) {
        precondition(size > 0 && size % 2 == 0, "an even FFT size")
        self.size = size
        RealFFT.planner.lock()
        defer { RealFFT.planner.unlock() }
        let input = fftwf_alloc_real(size)!
        let output = fftwf_alloc_complex(size / 2 + 1)!
        defer { fftwf_free(input); fftwf_free(output) }
        plan = fftwf_plan_dft_r2c_1d(Int32(size), input, output, planning.flags)!
    }

    deinit {
        RealFFT.planner.lock()
        fftwf_destroy_plan(plan)
        RealFFT.planner.unlock()
    }

    /// Scratch memory aligned as FFTW's plans expect, for one thread's transforms.
    public final class Workspace {
        let input: UnsafeMutablePointer<Float>
        let output: UnsafeMutablePointer<fftwf_complex>
        let size: Int

        public init(size: Int) {
            self.size = size
            input = fftwf_alloc_real(size)
            output = fftwf_alloc_complex(size / 2 + 1)
        }

        deinit {
            fftwf_free(input)
            fftwf_free(output)
        }

        /// The buffer to fill with `size` samples before `power(into:)`.
        package var samples: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: input, count: size) }
    }

    /// |X[k]|^2 for k = 0 ... size/2 of the samples in `workspace`, written to `power`.
    package func power(_ workspace: Workspace, into power: UnsafeMutablePointer<Float>) {
        precondition(workspace.size == size)
        fftwf_execute_dft_r2c(plan, workspace.input, workspace.output)
        let bins = UnsafeMutableRawPointer(workspace.output).assumingMemoryBound(to: Float.self)
        for k in 0...(size / 2) {
            let re = bins[2 * k], im = bins[2 * k + 1]
            power[k] = re * re + im * im
        }
    }
}
