#include "COpenSSLShims_pki.h"
