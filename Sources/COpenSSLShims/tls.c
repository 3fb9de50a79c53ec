#include "COpenSSLShims_tls.h"
