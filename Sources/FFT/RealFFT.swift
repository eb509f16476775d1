import CFFTW
import Foundation

/// A real-to-complex FFT of one size, planned once with FFTW and then run from any thread: FFTW's planner is
/// not thread-safe, its new-array execute is.
public final class RealFFT: @unchecked Sendable {
    public let size: Int
    private let plan: fftwf_plan
    private static let planner = NSLock()

    public init(size: Int) {
        precondition(size > 0 && size % 2 == 0, "an even FFT size")
        self.size = size
        RealFFT.planner.lock()
        defer { RealFFT.planner.unlock() }
        let input = fftwf_alloc_real(size)!
        let output = fftwf_alloc_complex(size / 2 + 1)!
        defer { fftwf_free(input); fftwf_free(output) }
        plan = fftwf_plan_dft_r2c_1d(Int32(size), input, output, UInt32(FFTW_MEASURE))!
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
