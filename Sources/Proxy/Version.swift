/// Weft's version, as `weft version` prints it and the admin API's `/status` reports it. Bumped by
/// hand at each release.
public let weftVersion = "0.1.0-dev"
