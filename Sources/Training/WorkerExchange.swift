import GradientExchange

/// The collective operations a training worker's loop needs, whatever joins the workers: one machine's shared memory
/// (`GradientExchange`), or several machines' shared memory joined by MPI (`HierarchicalExchange`). Every operation
/// leaves identical bits in every rank.
public protocol WorkerExchange: AnyObject {
    /// This rank's gradient buffer, which `reduceHome` sums in place.
    var homeBuffer: UnsafeMutableBufferPointer<Float> { get }
    /// Every rank's home buffer (over `range`) replaced by the sum over the ranks times `scale`.
    func reduceHome(within range: Range<Int>?, scale: Float, timeout: Double) throws
    /// `values` replaced by their sum over the ranks.
    func allReduce(_ values: UnsafeMutableBufferPointer<Float>, timeout: Double) throws
    /// `values` replaced by rank `root`'s.
    func broadcast(_ values: UnsafeMutableBufferPointer<Float>, from root: Int, timeout: Double) throws
    /// This rank's share of `range` in a pass the ranks of one machine split between them (Adam's step).
    func share(of range: Range<Int>) -> Range<Int>
    /// `values` over `range` completed from the shares the other ranks computed: the same bits in every rank.
    func gatherShares(_ values: UnsafeMutableBufferPointer<Float>, within range: Range<Int>, timeout: Double) throws
    /// Tells the other ranks to stop waiting: this one is giving up.
    func abort(onBehalfOf failed: Int?)
}

extension GradientExchange: WorkerExchange {}
