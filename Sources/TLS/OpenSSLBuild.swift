internal import COpenSSL
import LinuxSys

/// The OpenSSL this binary runs with, for `weft version`: release builds link OpenSSL into the
/// executable (Package.swift), so image scanners that read the package database no longer see it,
/// and this is where an operator finds its version.
public enum OpenSSLBuild {
    /// OpenSSL's own version text, e.g. "OpenSSL 3.0.17 1 Jul 2025".
    public static var version: String {
        guard let text = OpenSSL_version(OPENSSL_VERSION) else { return "OpenSSL (version unknown)" }
        return String(cString: text)
    }

    /// Where OpenSSL's code lives: the path of the shared library it was loaded from, or nil when
    /// it is linked into the executable itself.
    public static var sharedLibrary: String? {
        let function: @convention(c) (Int32) -> UnsafePointer<CChar>? = OpenSSL_version
        guard let path = LoadedObjects.path(containing: unsafeBitCast(function, to: UnsafeRawPointer.self)) else {
            return nil
        }
        return path.contains(".so") ? path : nil
    }
}
