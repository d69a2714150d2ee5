/*
 * Source networks for access rules: CIDR lists of IPv4 and IPv6 prefixes,
 * and matching of PAM_RHOST as a numeric address only (never resolved
 * through DNS). An IPv4-mapped IPv6 address (::ffff:192.0.2.1) is matched
 * as the IPv4 address it carries.
 */
#ifndef IDGOV_NETMATCH_H
#define IDGOV_NETMATCH_H

#include "util.h"

#include <stddef.h>

#define NET_MAX 64

struct net_prefix {
	int family; /* 4 or 6 */
	unsigned char addr[16];
	int bits;
};

/* "10.0.0.0/8, 2001:db8::/32, 192.0.2.7" (a bare address is a /32 or /128). */
int net_parse_list(const char *spec, struct net_prefix *out, size_t *n, struct idg_err *err);

/* Parses a numeric address; 0 and fills p (bits = full length), or -1. */
int net_parse_address(const char *s, struct net_prefix *p);

/* 1 if addr is inside any prefix. */
int net_match(const struct net_prefix *list, size_t n, const struct net_prefix *addr);

#endif
