import CFFmpeg
import Foundation

/// Still images as JPEG, through FFmpeg's MJPEG encoder (full-range YUV 4:2:0): a watch session's snapshots.
public enum JPEGFile {
    /// Writes `image` to a temporary name beside `path` and renames it into place. `quality`: FFmpeg's qscale, 2 (best)
    /// to 31.
    public static func write(_ image: RGBImage, to path: String, quality: Int = 3) throws {
        FFmpegEnvironment.prepare()
        guard let codec = avcodec_find_encoder(AV_CODEC_ID_MJPEG) else { throw MediaError.encoding(path, "no JPEG encoder in this FFmpeg") }
        var context: UnsafeMutablePointer<AVCodecContext>? = avcodec_alloc_context3(codec)
        var frame: UnsafeMutablePointer<AVFrame>? = av_frame_alloc()
        var packet: UnsafeMutablePointer<AVPacket>? = av_packet_alloc()
        var scaler: OpaquePointer?
        defer {
            avcodec_free_context(&context)
            av_frame_free(&frame)
            av_packet_free(&packet)
            sws_freeContext(scaler)
        }
        guard let context, let frame, let packet else { throw MediaError.encoding(path, "out of memory") }
        let (width, height) = (Int32(image.width), Int32(image.height))
        context.pointee.width = width
        context.pointee.height = height
        context.pointee.pix_fmt = AV_PIX_FMT_YUVJ420P
        context.pointee.time_base = AVRational(num: 1, den: 1)
        context.pointee.flags |= AV_CODEC_FLAG_QSCALE
        context.pointee.global_quality = Int32(quality) * FF_QP2LAMBDA
        guard avcodec_open2(context, codec, nil) >= 0 else { throw MediaError.encoding(path, "cannot open the JPEG encoder") }
        frame.pointee.format = AV_PIX_FMT_YUVJ420P.rawValue
        frame.pointee.width = width
        frame.pointee.height = height
        frame.pointee.quality = context.pointee.global_quality
        guard av_frame_get_buffer(frame, 0) >= 0 else { throw MediaError.encoding(path, "out of memory") }
        scaler = sws_getContext(width, height, AV_PIX_FMT_RGB24, width, height, AV_PIX_FMT_YUVJ420P, SWS_BICUBIC, nil, nil, nil)
        guard let scaler else { throw MediaError.encoding(path, "no RGB to YUV converter") }
        let rows = image.pixels.withUnsafeBufferPointer { cff_sws_from_rgb(scaler, $0.baseAddress, width, height, frame) }
        guard rows > 0, avcodec_send_frame(context, frame) >= 0, avcodec_send_frame(context, nil) >= 0,
              avcodec_receive_packet(context, packet) >= 0 else { throw MediaError.encoding(path, "JPEG encoding failed") }
        defer { av_packet_unref(packet) }
        let bytes = Data(bytes: packet.pointee.data, count: Int(packet.pointee.size))
        do { try bytes.write(to: URL(fileURLWithPath: path), options: .atomic) }
        catch { throw MediaError.encoding(path, "\(error.localizedDescription)") }
    }
}
