#include "COpenSSLShims_pki.h"

EVP_PKEY *COpenSSLShims_pki_generate_ec_p256(void) {
    return EVP_EC_gen("P-256");
}

STACK_OF(X509) *COpenSSLShims_pki_x509_stack_new(void) {
    return sk_X509_new_null();
}

int COpenSSLShims_pki_x509_stack_push(STACK_OF(X509) *stack, X509 *certificate) {
    return sk_X509_push(stack, certificate);
}

void COpenSSLShims_pki_x509_stack_free(STACK_OF(X509) *stack) {
    sk_X509_free(stack);
}

int COpenSSLShims_pki_general_names_count(const GENERAL_NAMES *names) {
    return sk_GENERAL_NAME_num(names);
}

const GENERAL_NAME *COpenSSLShims_pki_general_names_value(const GENERAL_NAMES *names, int index) {
    return sk_GENERAL_NAME_value(names, index);
}

int COpenSSLShims_pki_general_names_push(GENERAL_NAMES *names, GENERAL_NAME *name) {
    return sk_GENERAL_NAME_push(names, name);
}

long COpenSSLShims_pki_bio_contents(BIO *bio, const char **data) {
    return BIO_get_mem_data(bio, data);
}

unsigned long COpenSSLShims_pki_name_flags_rfc2253(void) {
    return XN_FLAG_RFC2253;
}
