internal import COpenSSL
internal import COpenSSLShims
public enum PKIPlaceholder { public static var version: UInt { UInt(OpenSSL_version_num()) } }
