// Shims for the TLS target: OpenSSL 3 macros Swift cannot import (SSL_CTX_ctrl wrappers such as
// SSL_CTX_set_min_proto_version, SSL_OP_* bits built with SSL_OP_BIT(), sk_GENERAL_NAME_*,
// BIO_get_ktls_*, SSL_get_ex_new_index, OPENSSL_free), as plain functions and constants with the
// same ownership rules as the macros they wrap. See reference/linux-dataplane.md §5.
#ifndef COPENSSLSHIMS_TLS_H
#define COPENSSLSHIMS_TLS_H
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <openssl/err.h>
#include <stdint.h>

// SSL_OP_* bits (SSL_CTX_set_options(3)).
extern const uint64_t COpenSSLShims_tls_OP_NO_COMPRESSION;
extern const uint64_t COpenSSLShims_tls_OP_NO_RENEGOTIATION;
extern const uint64_t COpenSSLShims_tls_OP_ENABLE_KTLS;
// SSL_SESS_CACHE_* (SSL_CTX_set_session_cache_mode(3)).
extern const long COpenSSLShims_tls_SESS_CACHE_OFF;
extern const long COpenSSLShims_tls_SESS_CACHE_CLIENT;
extern const long COpenSSLShims_tls_SESS_CACHE_NO_INTERNAL_STORE;
// Alert descriptions (RFC 8446 §6) used by the ClientHello callback.
extern const int COpenSSLShims_tls_AD_NO_APPLICATION_PROTOCOL;
// SSL_SENT_SHUTDOWN for SSL_set_shutdown(3).
extern const int COpenSSLShims_tls_SENT_SHUTDOWN;

// SSL_CTX_set_min_proto_version + SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION): TLS 1.3
// only. Returns 1 on success.
int COpenSSLShims_tls_ctx_set_tls13_only(SSL_CTX *ctx);
// SSL_CTX_set_options(3); returns the options now set.
uint64_t COpenSSLShims_tls_ctx_set_options(SSL_CTX *ctx, uint64_t options);
// SSL_CTX_set_mode(3) with SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
// SSL_MODE_RELEASE_BUFFERS | SSL_MODE_NO_AUTO_CHAIN; returns the mode now set.
long COpenSSLShims_tls_ctx_set_relay_modes(SSL_CTX *ctx);
// SSL_CTX_set_read_ahead(3).
void COpenSSLShims_tls_ctx_set_read_ahead(SSL_CTX *ctx, int yes);

// BIO_set_callback_ex(3) on the connection's read BIO: after every read of the socket, *flag is
// set to 1 when it returned fewer bytes than asked (or none), 0 when it filled the request. The
// flag must outlive the SSL. 0 when the connection has no read BIO yet.
int COpenSSLShims_tls_track_short_reads(SSL *ssl, int *flag);
// SSL_CTX_set_session_cache_mode(3); returns the previous mode.
long COpenSSLShims_tls_ctx_set_session_cache_mode(SSL_CTX *ctx, long mode);
// SSL_CTX_add1_chain_cert(3): appends an intermediate to the chain sent with the leaf; takes its
// own reference (the caller keeps its). Returns 1 on success.
int COpenSSLShims_tls_ctx_add1_chain_cert(SSL_CTX *ctx, X509 *certificate);
// X509_verify_cert(3) of `leaf` with `count` untrusted `intermediates` against `store`, as of `at`
// (seconds since the epoch; X509_STORE_CTX_set_time), building the STACK_OF(X509) the macros
// would. Returns 1 if the chain verifies; otherwise 0 with the X509_V_ERR_* code and the depth of
// the failing certificate in *error and *depth (-1 if OpenSSL could not even start).
int COpenSSLShims_tls_verify_chain(X509_STORE *store, X509 *leaf, X509 *const *intermediates, int count, time_t at, int *error, int *depth);
// SSL_set_tlsext_host_name(3): the server_name the client sends. Returns 1 on success.
int COpenSSLShims_tls_set_host_name(SSL *ssl, const char *name);

// SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL): a slot for per-connection application data.
int COpenSSLShims_tls_ssl_ex_index(void);

// BIO_get_ktls_send / BIO_get_ktls_recv (BIO_ctrl): 1 when the kernel does the record layer.
int COpenSSLShims_tls_bio_ktls_send(BIO *bio);
int COpenSSLShims_tls_bio_ktls_recv(BIO *bio);

// X509_get_ext_d2i(cert, NID_subject_alt_name, &critical, NULL): the decoded subjectAltName,
// owned by the caller (free with COpenSSLShims_tls_general_names_free), or NULL. When NULL,
// *state is -1 if the extension is absent, -2 if it occurs more than once (RFC 5280 §4.2: MUST NOT),
// and 0 or 1 if it is present but does not decode.
GENERAL_NAMES *COpenSSLShims_tls_subject_alt_names(X509 *certificate, int *state);
// sk_GENERAL_NAME_num().
int COpenSSLShims_tls_general_names_count(const GENERAL_NAMES *names);
// If entry `index` is a URI (GEN_URI), points *data and *length at its bytes (borrowed from
// `names`) and returns 1; otherwise returns 0.
int COpenSSLShims_tls_general_name_uri(const GENERAL_NAMES *names, int index, const unsigned char **data, int *length);
// GENERAL_NAMES_free().
void COpenSSLShims_tls_general_names_free(GENERAL_NAMES *names);

// ERR_GET_LIB / ERR_GET_REASON (static inline in OpenSSL 3).
int COpenSSLShims_tls_err_lib(unsigned long code);
int COpenSSLShims_tls_err_reason(unsigned long code);
extern const int COpenSSLShims_tls_ERR_LIB_SSL;
extern const int COpenSSLShims_tls_ERR_LIB_SYS;

// OPENSSL_free().
void COpenSSLShims_tls_free(void *pointer);

// BIO_get_mem_data(): points *data at a memory BIO's contents (owned by the BIO) and returns
// their length.
long COpenSSLShims_tls_bio_contents(BIO *bio, const char **data);
// XN_FLAG_RFC2253 for X509_NAME_print_ex(3) (a composite of macros).
unsigned long COpenSSLShims_tls_name_flags_rfc2253(void);

#endif
