import CFFmpeg

/// Changes the sample rate of mono float audio with libswresample (the resampler the decoder uses too).
public enum AudioResampler {
    public static func resample(_ samples: [Float], from inputRate: Int, to outputRate: Int) throws -> [Float] {
        if inputRate == outputRate { return samples }
        var outputLayout = cff_layout_mono(), inputLayout = cff_layout_mono()
        var resampler: OpaquePointer?
        let code = swr_alloc_set_opts2(&resampler, &outputLayout, AV_SAMPLE_FMT_FLT, Int32(outputRate), &inputLayout, AV_SAMPLE_FMT_FLT, Int32(inputRate), 0, nil)
        guard code >= 0, resampler != nil, swr_init(resampler) >= 0 else {
            swr_free(&resampler)
            throw MediaError.undecodable("(memory)", "cannot resample \(inputRate) Hz to \(outputRate) Hz")
        }
        defer { swr_free(&resampler) }
        let capacity = samples.count * outputRate / inputRate + 256
        var output = [Float](repeating: 0, count: capacity)
        var produced: Int32 = 0
        samples.withUnsafeBufferPointer { input in
            output.withUnsafeMutableBufferPointer { out in
                var outputs: [UnsafeMutablePointer<UInt8>?] = [UnsafeMutableRawPointer(out.baseAddress!).assumingMemoryBound(to: UInt8.self)]
                var inputs: [UnsafePointer<UInt8>?] = [UnsafeRawPointer(input.baseAddress!).assumingMemoryBound(to: UInt8.self)]
                produced = swr_convert(resampler, &outputs, Int32(capacity), &inputs, Int32(samples.count))
                if produced >= 0 {
                    outputs[0] = UnsafeMutableRawPointer(out.baseAddress! + Int(produced)).assumingMemoryBound(to: UInt8.self)
                    let tail = swr_convert(resampler, &outputs, Int32(capacity) - produced, nil, 0)
                    if tail > 0 { produced += tail }
                }
            }
        }
        guard produced >= 0 else { throw MediaError.undecodable("(memory)", "resampling failed: \(ffmpegMessage(produced))") }
        return Array(output[0..<Int(produced)])
    }
}
