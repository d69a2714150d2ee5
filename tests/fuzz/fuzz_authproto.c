/*
 * Fuzz target: the auth protocol's decoder (authproto.h), which idgov-authd
 * runs as root on whatever a client sends, and pam_idgov.so on what the
 * service answers. The input is one payload (the bytes after the length
 * prefix). A payload that decodes must encode again, and that encoding must
 * decode to the same message: the decoder accepts nothing the encoder
 * could not have written.
 */
#include "fuzz.h"

#include "authproto.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char buf[4 + AUTHPROTO_FRAME_MAX];
	struct authproto_msg m, again;
	const char *why = NULL;
	size_t len = 0;

	if (authproto_decode(data, size, &m, &why) != 0) {
		if (why == NULL || m.have != 0) {
			fprintf(stderr, "a refusal without a reason, or not wiped\n");
			abort();
		}
		return 0;
	}
	if (strlen(m.user) > AUTHPROTO_NAME_MAX || strlen(m.text) > AUTHPROTO_TEXT_MAX) {
		fprintf(stderr, "a text longer than its bound\n");
		abort();
	}
	if (authproto_encode(&m, buf, sizeof(buf), &len) != 0) {
		fprintf(stderr, "a decoded message does not encode\n");
		abort();
	}
	if (authproto_decode(buf + 4, len - 4, &again, &why) != 0 || again.have != m.have ||
	    again.type != m.type || again.op != m.op || again.flags != m.flags ||
	    again.result != m.result || again.delay_ms != m.delay_ms || again.pid != m.pid ||
	    again.ruid != m.ruid || strcmp(again.user, m.user) != 0 ||
	    strcmp(again.service, m.service) != 0 || strcmp(again.rhost, m.rhost) != 0 ||
	    strcmp(again.tty, m.tty) != 0 || strcmp(again.ruser, m.ruser) != 0 ||
	    strcmp(again.text, m.text) != 0) {
		fprintf(stderr, "a message does not survive encode and decode\n");
		abort();
	}
	return 0;
}
