// Shims for the PKI target.
#ifndef COPENSSLSHIMS_PKI_H
#define COPENSSLSHIMS_PKI_H
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <openssl/err.h>
#endif
