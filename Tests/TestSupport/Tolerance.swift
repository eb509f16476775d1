import Foundation

/// The error measures of `../shared/reference/README.md`, computed in double precision.
public enum Tolerance {
    /// `max|x - ref| / max(1, max|ref|)`: the forward class.
    public static func forward(_ x: [Float], _ reference: [Float]) -> Double {
        precondition(x.count == reference.count, "\(x.count) values against \(reference.count)")
        var worst = 0.0, top = 1.0
        for (a, b) in zip(x, reference) { worst = max(worst, abs(Double(a) - Double(b))); top = max(top, abs(Double(b))) }
        return worst / top
    }

    /// `||x - ref|| / ||ref||`: the gradient classes (absolute when the reference is zero).
    public static func relativeL2(_ x: [Float], _ reference: [Float]) -> Double {
        precondition(x.count == reference.count, "\(x.count) values against \(reference.count)")
        var difference = 0.0, norm = 0.0
        for (a, b) in zip(x, reference) { difference += (Double(a) - Double(b)) * (Double(a) - Double(b)); norm += Double(b) * Double(b) }
        return norm == 0 ? difference.squareRoot() : (difference / norm).squareRoot()
    }

    public static func norm(_ x: [Float]) -> Double { x.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot() }
}
