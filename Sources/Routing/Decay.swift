/// exp(-elapsed / timeConstant): how much of an exponentially weighted average survives
/// `elapsed` nanoseconds. Written out here because the standard library has no `exp` and pure
/// targets import neither Foundation nor Glibc.
func decayFactor(elapsed: UInt64, timeConstant: UInt64) -> Double {
    guard timeConstant > 0 else { return 0 }
    return exponentialOfNegative(Double(elapsed) / Double(timeConstant))
}

/// e^-x for x >= 0, to about 1e-13 relative error, which is far below what load balancing can
/// notice. Range reduction: x = k·ln 2 + r with |r| <= ln 2 / 2, so e^-x = 2^-k · e^-r, and the
/// Taylor series of e^-r converges to double precision within 16 terms.
func exponentialOfNegative(_ x: Double) -> Double {
    precondition(x >= 0 && !x.isNaN, "exponentialOfNegative takes a non-negative number")
    // e^-746 is below the smallest subnormal double.
    guard x < 746 else { return 0 }
    let ln2 = 0.693_147_180_559_945_309_417_232_121_458
    let k = (x / ln2).rounded()
    let r = x - k * ln2
    var term = 1.0
    var sum = 1.0
    for n in 1...16 {
        term *= -r / Double(n)
        sum += term
    }
    return Double(sign: .plus, exponent: -Int(k), significand: sum)
}
