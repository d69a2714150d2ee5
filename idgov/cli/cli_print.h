/* Human-readable output of control replies for the idgov CLI. */
#ifndef IDGOV_CLI_PRINT_H
#define IDGOV_CLI_PRINT_H

#include <jansson.h>

void print_status(json_t *r);
void print_sync(json_t *r);
void print_user_list(json_t *r);
void print_user_show(json_t *r);
void print_group_list(json_t *r);
void print_group_show(json_t *r);
void print_audit_list(json_t *r);
/* Returns 0 when the chain verified, 1 when it did not. */
int print_audit_verify(json_t *r);
void print_mfa_status(json_t *r);
void print_recovery_codes(json_t *r);
/* Draws text as a QR code with Unicode half blocks (two modules per character cell). */
void print_qr(const char *text);
/* Returns 0 when the login would be allowed, 1 when not. */
int print_policy_check(json_t *r);

#endif
