// Shims for the PKI target: OpenSSL 3 macros Swift cannot import (function-like macros over the
// generic OPENSSL_sk_* stack, the variadic EVP_PKEY_Q_keygen behind EVP_EC_gen, BIO_ctrl behind
// BIO_get_mem_data, composite XN_FLAG_* constants), as plain functions with the same ownership rules
// as the macros they wrap.
#ifndef COPENSSLSHIMS_PKI_H
#define COPENSSLSHIMS_PKI_H
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

// EVP_EC_gen("P-256"): a new EC key on NIST P-256 (named-curve encoding), or NULL with the reason
// on the error queue. The caller owns the key (EVP_PKEY_free).
EVP_PKEY *COpenSSLShims_pki_generate_ec_p256(void);

// sk_X509_new_null(): an empty stack, or NULL. Free it with COpenSSLShims_pki_x509_stack_free.
STACK_OF(X509) *COpenSSLShims_pki_x509_stack_new(void);
// sk_X509_push(): appends a borrowed certificate (no reference is taken); returns the new count,
// or 0 on allocation failure.
int COpenSSLShims_pki_x509_stack_push(STACK_OF(X509) *stack, X509 *certificate);
// sk_X509_free(): frees the stack itself, not the certificates it points to.
void COpenSSLShims_pki_x509_stack_free(STACK_OF(X509) *stack);

// sk_GENERAL_NAME_num().
int COpenSSLShims_pki_general_names_count(const GENERAL_NAMES *names);
// sk_GENERAL_NAME_value(): borrowed from the stack.
const GENERAL_NAME *COpenSSLShims_pki_general_names_value(const GENERAL_NAMES *names, int index);
// sk_GENERAL_NAME_push(): on success (a count > 0) the stack owns `name` and GENERAL_NAMES_free
// frees it; on failure (0) the caller still owns it.
int COpenSSLShims_pki_general_names_push(GENERAL_NAMES *names, GENERAL_NAME *name);

// BIO_get_mem_data(): points *data at a memory BIO's contents (owned by the BIO) and returns
// their length.
long COpenSSLShims_pki_bio_contents(BIO *bio, const char **data);

// XN_FLAG_RFC2253 for X509_NAME_print_ex: "CN=Weft root CA,O=cluster.local" (RFC 2253 order,
// escaping and UTF-8).
unsigned long COpenSSLShims_pki_name_flags_rfc2253(void);

#endif
