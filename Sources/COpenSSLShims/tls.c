// The TLS target's shims; see COpenSSLShims_tls.h for what each wraps.
#include "COpenSSLShims_tls.h"

const uint64_t COpenSSLShims_tls_OP_NO_COMPRESSION = SSL_OP_NO_COMPRESSION;
const uint64_t COpenSSLShims_tls_OP_NO_RENEGOTIATION = SSL_OP_NO_RENEGOTIATION;
const uint64_t COpenSSLShims_tls_OP_ENABLE_KTLS = SSL_OP_ENABLE_KTLS;
const long COpenSSLShims_tls_SESS_CACHE_OFF = SSL_SESS_CACHE_OFF;
const long COpenSSLShims_tls_SESS_CACHE_CLIENT = SSL_SESS_CACHE_CLIENT;
const long COpenSSLShims_tls_SESS_CACHE_NO_INTERNAL_STORE = SSL_SESS_CACHE_NO_INTERNAL_STORE;
const int COpenSSLShims_tls_AD_NO_APPLICATION_PROTOCOL = SSL_AD_NO_APPLICATION_PROTOCOL;
const int COpenSSLShims_tls_SENT_SHUTDOWN = SSL_SENT_SHUTDOWN;
const int COpenSSLShims_tls_ERR_LIB_SSL = ERR_LIB_SSL;
const int COpenSSLShims_tls_ERR_LIB_SYS = ERR_LIB_SYS;

int COpenSSLShims_tls_ctx_set_tls13_only(SSL_CTX *ctx) {
    return SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) == 1
        && SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) == 1;
}

uint64_t COpenSSLShims_tls_ctx_set_options(SSL_CTX *ctx, uint64_t options) {
    return SSL_CTX_set_options(ctx, options);
}

long COpenSSLShims_tls_ctx_set_relay_modes(SSL_CTX *ctx) {
    return SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS
                                | SSL_MODE_NO_AUTO_CHAIN);
}

void COpenSSLShims_tls_ctx_set_read_ahead(SSL_CTX *ctx, int yes) {
    SSL_CTX_set_read_ahead(ctx, yes);
}

long COpenSSLShims_tls_ctx_set_session_cache_mode(SSL_CTX *ctx, long mode) {
    return SSL_CTX_set_session_cache_mode(ctx, mode);
}

int COpenSSLShims_tls_ctx_add1_chain_cert(SSL_CTX *ctx, X509 *certificate) {
    return (int)SSL_CTX_add1_chain_cert(ctx, certificate);
}

int COpenSSLShims_tls_verify_chain(X509_STORE *store, X509 *leaf, X509 *const *intermediates, int count, time_t at, int *error, int *depth) {
    *error = X509_V_ERR_UNSPECIFIED;
    *depth = -1;
    STACK_OF(X509) *untrusted = sk_X509_new_null();
    X509_STORE_CTX *context = X509_STORE_CTX_new();
    int ok = 0;
    if (untrusted == NULL || context == NULL) goto done;
    for (int i = 0; i < count; i++) {
        if (sk_X509_push(untrusted, intermediates[i]) <= 0) goto done;
    }
    if (X509_STORE_CTX_init(context, store, leaf, untrusted) != 1) goto done;
    X509_STORE_CTX_set_time(context, 0, at);
    ok = X509_verify_cert(context) == 1;
    *error = X509_STORE_CTX_get_error(context);
    *depth = X509_STORE_CTX_get_error_depth(context);
done:
    X509_STORE_CTX_free(context);
    sk_X509_free(untrusted); /* the certificates stay the caller's */
    return ok;
}

int COpenSSLShims_tls_set_host_name(SSL *ssl, const char *name) {
    return (int)SSL_set_tlsext_host_name(ssl, name);
}

int COpenSSLShims_tls_ssl_ex_index(void) {
    return SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

int COpenSSLShims_tls_bio_ktls_send(BIO *bio) {
    return bio != NULL && BIO_get_ktls_send(bio) == 1;
}

int COpenSSLShims_tls_bio_ktls_recv(BIO *bio) {
    return bio != NULL && BIO_get_ktls_recv(bio) == 1;
}

GENERAL_NAMES *COpenSSLShims_tls_subject_alt_names(X509 *certificate, int *state) {
    return X509_get_ext_d2i(certificate, NID_subject_alt_name, state, NULL);
}

int COpenSSLShims_tls_general_names_count(const GENERAL_NAMES *names) {
    return sk_GENERAL_NAME_num(names);
}

int COpenSSLShims_tls_general_name_uri(const GENERAL_NAMES *names, int index, const unsigned char **data, int *length) {
    const GENERAL_NAME *name = sk_GENERAL_NAME_value(names, index);
    if (name == NULL || name->type != GEN_URI || name->d.uniformResourceIdentifier == NULL) return 0;
    *data = ASN1_STRING_get0_data(name->d.uniformResourceIdentifier);
    *length = ASN1_STRING_length(name->d.uniformResourceIdentifier);
    return 1;
}

void COpenSSLShims_tls_general_names_free(GENERAL_NAMES *names) {
    GENERAL_NAMES_free(names);
}

int COpenSSLShims_tls_err_lib(unsigned long code) {
    return ERR_GET_LIB(code);
}

int COpenSSLShims_tls_err_reason(unsigned long code) {
    return ERR_GET_REASON(code);
}

void COpenSSLShims_tls_free(void *pointer) {
    OPENSSL_free(pointer);
}

long COpenSSLShims_tls_bio_contents(BIO *bio, const char **data) {
    return BIO_get_mem_data(bio, data);
}

unsigned long COpenSSLShims_tls_name_flags_rfc2253(void) {
    return XN_FLAG_RFC2253;
}

/* BIO_set_callback_ex(3): after each read of the socket BIO, whether it came back short (fewer
 * bytes than asked, or none): then the socket was empty at that moment. */
static long short_read_callback(BIO *bio, int oper, const char *argp, size_t len, int argi, long argl, int ret,
                                size_t *processed) {
    (void)argp;
    (void)argi;
    (void)argl;
    if (oper == (BIO_CB_READ | BIO_CB_RETURN)) {
        int *flag = (int *)BIO_get_callback_arg(bio);
        if (flag != NULL) *flag = ret <= 0 || processed == NULL || *processed < len;
    }
    return ret;
}

int COpenSSLShims_tls_track_short_reads(SSL *ssl, int *flag) {
    BIO *rbio = SSL_get_rbio(ssl);
    if (rbio == NULL) return 0;
    BIO_set_callback_arg(rbio, (char *)flag);
    BIO_set_callback_ex(rbio, short_read_callback);
    return 1;
}
