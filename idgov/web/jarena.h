/*
 * idgovd's replies parsed into an arena each.
 *
 * A page's reply from idgovd (100 review items, about 60 KB of JSON)
 * becomes thousands of small jansson values, and with glibc's malloc
 * their allocation and freeing cost idgov-web about as much as the
 * parsing itself. jarena_loads() parses a reply with jansson's allocator
 * pointed at one growing arena of this thread; jarena_free() releases the
 * values and then wipes and frees the arena in a few calls.
 *
 * jansson's allocator is process-wide, so jarena_install() replaces it
 * once, at the start of main(): an allocation made while this thread
 * parses into an arena comes from that arena, any other one from
 * malloc(); a free of a pointer inside one of this thread's live arenas
 * is nothing (the arena goes whole), any other a free(). So values added
 * to a parsed reply later, or made with json_pack(), are ordinary heap
 * values, and strings jansson returns (json_dumps) are freed with free()
 * as before.
 *
 * The rule this relies on: a parsed reply is freed by jarena_free(), on
 * the thread that parsed it, and nothing keeps a value of it (json_incref)
 * past that.
 */
#ifndef IDGOV_WEB_JARENA_H
#define IDGOV_WEB_JARENA_H

#include <jansson.h>
#include <stddef.h>

struct jarena;

/* Points jansson's allocator at jarena's; once, before threads start. */
void jarena_install(void);

/* Parses len bytes of text; the value and *out (its arena), or NULL when it is not JSON. */
json_t *jarena_loads(const char *text, size_t len, struct jarena **out);

/* Releases v (may be NULL), then wipes and frees the arena a. */
void jarena_free(json_t *v, struct jarena *a);

#endif
