/*
 * idgov init's self-signed certificate for idgov-web, made with GnuTLS
 * (nothing shells out): an ECDSA P-256 key and a certificate for the
 * host of [web] url (or this host's name), localhost and the loopback
 * addresses, valid for 825 days. Meant to get a site started; the docs
 * say how to put the organisation's certificate in its place.
 */
#ifndef IDGOV_CLI_WEBCERT_H
#define IDGOV_CLI_WEBCERT_H

#include "config.h"

/*
 * Makes [web] certificate and private_key when neither exists and a
 * frontend is configured ([web] user): *made 1. Both existing: *made 0.
 * Only one: an error (restore the other or remove both). The key is
 * written 0600, the certificate 0644; chown the key to the frontend's user.
 */
int webcert_ensure(const struct cfg *cfg, int *made, struct idg_err *err);

#endif
