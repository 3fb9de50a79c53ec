// Shims for the TLS target.
#ifndef COPENSSLSHIMS_TLS_H
#define COPENSSLSHIMS_TLS_H
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <openssl/err.h>
#endif
