import BufferPool
import XCTest

/// Large buffers come back for the same size instead of going to the system; small ones are malloc's.
final class BufferPoolTests: XCTestCase {
    func testALargeBufferIsReusedForTheSameRoundedSize() {
        let bytes = BufferPool.minimumBytes + 100
        let first = BufferPool.allocate(bytes: bytes)
        XCTAssertEqual(Int(bitPattern: first) % 64, 0, "aligned to 64")
        BufferPool.release(first, bytes: bytes)
        let again = BufferPool.allocate(bytes: bytes + 50)   // the same 4 KiB-rounded size
        XCTAssertEqual(again, first)
        let other = BufferPool.allocate(bytes: bytes + 8192)
        XCTAssertNotEqual(other, first)
        BufferPool.release(again, bytes: bytes + 50)
        BufferPool.release(other, bytes: bytes + 8192)
    }

    func testPastTheLimitTheCacheIsEmptied() {
        let before = BufferPool.limitBytes
        defer { BufferPool.limitBytes = before }
        let bytes = BufferPool.minimumBytes
        BufferPool.limitBytes = bytes
        let a = BufferPool.allocate(bytes: bytes), b = BufferPool.allocate(bytes: bytes)
        BufferPool.release(a, bytes: bytes)
        BufferPool.release(b, bytes: bytes)   // over the limit: a is given back, b kept
        XCTAssertEqual(BufferPool.allocate(bytes: bytes), b)
    }
}
