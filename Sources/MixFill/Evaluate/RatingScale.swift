/// The range ratings live in. Predictions are clipped to it before they are scored or
/// served: a mixture mean can leave the range (a component's mean for an item keeps its
/// initial value, 0 included, while fewer than one rating's worth of soft count supports
/// it), and no rating outside the range can ever be right.
///
/// MixFill takes the range from the training ratings themselves (their minimum and
/// maximum): 1–5 for the course matrices, 0.5–5 for MovieLens' half stars.
public struct RatingScale: Sendable, Equatable {
    public var minimum: Double
    public var maximum: Double

    public init(minimum: Double, maximum: Double) {
        precondition(minimum <= maximum, "the scale's minimum must not exceed its maximum")
        self.minimum = minimum
        self.maximum = maximum
    }

    /// The smallest and largest of `ratings`; nil when there are none.
    public init?(of ratings: some Sequence<Double>) {
        var low = Double.infinity
        var high = -Double.infinity
        for rating in ratings {
            low = min(low, rating)
            high = max(high, rating)
        }
        guard low <= high else { return nil }
        self.init(minimum: low, maximum: high)
    }

    @inline(__always)
    public func clip(_ value: Double) -> Double {
        min(max(value, minimum), maximum)
    }
}
