/* Human-readable output of control replies for the idgov CLI. */
#ifndef IDGOV_CLI_PRINT_H
#define IDGOV_CLI_PRINT_H

#include <jansson.h>
#include <stdio.h>

/*
 * A copy of v with every string and object key made visible (idg_strvis():
 * control characters as \xNN or \u00NN), for the printers below; NULL when
 * out of memory. Other values are shared, not copied.
 */
json_t *print_visible(json_t *v);
/*
 * Writes text made visible; with keep_newlines, its lines stay lines (a
 * report shown on a terminal), else a newline shows as \x0a too.
 */
void print_visible_text(FILE *fp, const char *text, int keep_newlines);

void print_status(json_t *r);
void print_sync(json_t *r);
/* The differences `sync --verify` found (its "drift" object). */
void print_sync_verify(json_t *drift);
void print_user_list(json_t *r);
void print_user_show(json_t *r);
void print_group_list(json_t *r);
void print_group_show(json_t *r);
void print_audit_list(json_t *r);
void print_audit_ingest(json_t *r);
/* Returns 0 when the chain verified, 1 when it did not. */
int print_audit_verify(json_t *r);
void print_mfa_status(json_t *r);
void print_key_rotate(json_t *r);
void print_key_destroy_old(json_t *r);
void print_key_list(json_t *r);
void print_recovery_codes(json_t *r);
/* Draws text as a QR code with Unicode half blocks (two modules per character cell). */
void print_qr(const char *text);
/* Returns 0 when the login would be allowed, 1 when not. */
int print_policy_check(json_t *r);

#endif
