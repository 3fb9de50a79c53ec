// OpenSSL 3 (libssl-dev). Used by the TLS and PKI targets of the next issue; declared now so the
// package's system dependencies are complete from the start.
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
