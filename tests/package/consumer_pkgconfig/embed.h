/* The embedding part of consumer_pkgconfig (embed.c). */
#ifndef CONSUMER_EMBED_H
#define CONSUMER_EMBED_H

/* Runs a server and climbers on loopback with the given PEM certificate and key; exits the
 * process with a message on the first failed check. Returns 0 (also when this libmtop has no
 * engines, which it reports). */
int run_embedding(const char *cert, const char *key);

#endif
