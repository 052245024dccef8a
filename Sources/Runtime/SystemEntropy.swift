import Aegis

/// The runtime's side of the `Entropy` door: the operating system's random numbers.
/// A live server has nothing to replay, so it needs no seed.
public final class SystemEntropy: Entropy {
    private var generator = SystemRandomNumberGenerator()

    public init() {}

    public func nextUInt64() -> UInt64 {
        generator.next()
    }
}
