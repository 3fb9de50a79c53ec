// OpenSSL macros and inline helpers Swift cannot import (SSL_CTX_set_min_proto_version,
// SSL_OP_* bits, sk_GENERAL_NAME_*, BIO_get_ktls_*, ...), as plain functions prefixed
// COpenSSLShims_. The PKI and TLS targets each own one header and one source file.
#ifndef COPENSSLSHIMS_H
#define COPENSSLSHIMS_H
#include "COpenSSLShims_pki.h"
#include "COpenSSLShims_tls.h"
#endif
