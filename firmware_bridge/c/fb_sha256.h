/* SHA-256 (FIPS 180-4), streaming, no heap: verifies an update image read from flash. */
#ifndef FB_SHA256_H
#define FB_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t state[8];
    uint64_t bytes;
    uint8_t block[64];
    uint8_t used;
} fb_sha256_t;

void fb_sha256_init(fb_sha256_t *ctx);
void fb_sha256_update(fb_sha256_t *ctx, const uint8_t *data, size_t len);
void fb_sha256_final(fb_sha256_t *ctx, uint8_t digest[32]);

#endif
