/* CIDR lists and numeric address matching; see netmatch.h. */
#include "netmatch.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

static const unsigned char v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

int
net_parse_address(const char *s, struct net_prefix *p)
{
	unsigned char buf[16];

	memset(p, 0, sizeof(*p));
	if (strlen(s) >= INET6_ADDRSTRLEN)
		return -1;
	if (inet_pton(AF_INET, s, buf) == 1) {
		p->family = 4;
		memcpy(p->addr, buf, 4);
		p->bits = 32;
		return 0;
	}
	if (inet_pton(AF_INET6, s, buf) != 1)
		return -1;
	if (memcmp(buf, v4_mapped, 12) == 0) {
		p->family = 4;
		memcpy(p->addr, buf + 12, 4);
		p->bits = 32;
		return 0;
	}
	p->family = 6;
	memcpy(p->addr, buf, 16);
	p->bits = 128;
	return 0;
}

/* True if any bit after the prefix length is set. */
static int
host_bits_set(const struct net_prefix *p)
{
	int len = p->family == 4 ? 4 : 16;

	for (int i = 0; i < len; i++) {
		int keep = p->bits - i * 8;
		unsigned char mask = keep >= 8   ? 0xff
				     : keep <= 0 ? 0
						 : (unsigned char)(0xff << (8 - keep));

		if (p->addr[i] & (unsigned char)~mask)
			return 1;
	}
	return 0;
}

static int
parse_one(const char *s, size_t len, struct net_prefix *p, struct idg_err *err)
{
	char text[64];
	char *slash, *end;
	long bits;

	if (len == 0 || len >= sizeof(text))
		return idg_seterr(err, "'%.*s' is not a network", (int)(len > 60 ? 60 : len), s);
	memcpy(text, s, len);
	text[len] = '\0';
	slash = strchr(text, '/');
	if (slash != NULL)
		*slash = '\0';
	if (net_parse_address(text, p) != 0)
		return idg_seterr(err, "'%s' is not a numeric IPv4 or IPv6 address", text);
	if (slash != NULL) {
		bits = strtol(slash + 1, &end, 10);
		if (slash[1] == '\0' || *end != '\0' || bits < 0 || bits > p->bits)
			return idg_seterr(err, "'%s/%s' has an invalid prefix length", text,
					  slash + 1);
		p->bits = (int)bits;
		if (host_bits_set(p))
			return idg_seterr(err, "'%s/%ld' has host bits set after the prefix", text,
					  bits);
	}
	return 0;
}

int
net_parse_list(const char *spec, struct net_prefix *out, size_t *n, struct idg_err *err)
{
	const char *cursor = spec, *item;
	size_t len;

	*n = 0;
	while (idg_list_next(&cursor, &item, &len)) {
		if (*n == NET_MAX)
			return idg_seterr(err, "more than %d networks", NET_MAX);
		if (parse_one(item, len, &out[*n], err) != 0)
			return -1;
		(*n)++;
	}
	return 0;
}

static int
in_prefix(const struct net_prefix *net, const struct net_prefix *a)
{
	int full = net->bits / 8, rest = net->bits % 8;

	if (net->family != a->family)
		return 0;
	if (memcmp(net->addr, a->addr, (size_t)full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	return ((net->addr[full] ^ a->addr[full]) & (unsigned char)(0xff << (8 - rest))) == 0;
}

int
net_match(const struct net_prefix *list, size_t n, const struct net_prefix *addr)
{
	for (size_t i = 0; i < n; i++)
		if (in_prefix(&list[i], addr))
			return 1;
	return 0;
}
