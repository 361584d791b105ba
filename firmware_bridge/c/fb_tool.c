/* Drives the C frame codec from stdin for the differential and fuzz tests and the benchmark.
 *
 *   fb_tool encode   each line of stdin is a message in hex; prints its frame in hex
 *   fb_tool decode   stdin is raw bytes; prints each good message in hex, then the counters
 *                    as "counters frames_ok oversize cobs_error short crc_error"
 *   fb_tool sha256   prints the SHA-256 of stdin in hex
 *   fb_tool bench N  decodes stdin N times over; prints "frames F bytes B seconds S"
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fb_frame.h"
#include "fb_sha256.h"

static unsigned char input[1u << 24];

static size_t read_all(void) {
    size_t n = 0, got;
    while ((got = fread(input + n, 1, sizeof input - n, stdin)) > 0) {
        n += got;
    }
    return n;
}

static int hex_value(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static void print_hex(const uint8_t *data, size_t len) {
    for (size_t i = 0; i < len; i++) {
        printf("%02x", data[i]);
    }
    printf("\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: fb_tool encode|decode|sha256|bench N\n");
        return 2;
    }
    if (strcmp(argv[1], "encode") == 0) {
        char line[1024];
        while (fgets(line, sizeof line, stdin) != NULL) {
            uint8_t message[FB_MAX_MESSAGE + 1], frame[FB_MAX_FRAME];
            size_t len = 0;
            for (char *p = line; hex_value(p[0]) >= 0 && hex_value(p[1]) >= 0 && len <= FB_MAX_MESSAGE; p += 2) {
                message[len++] = (uint8_t)(hex_value(p[0]) << 4 | hex_value(p[1]));
            }
            size_t n = fb_frame_encode(message, len, frame);
            if (n == 0) {
                printf("too_long\n");
            } else {
                print_hex(frame, n);
            }
        }
        return 0;
    }
    size_t n = read_all();
    if (strcmp(argv[1], "sha256") == 0) {
        fb_sha256_t ctx;
        uint8_t digest[32];
        fb_sha256_init(&ctx);
        fb_sha256_update(&ctx, input, n);
        fb_sha256_final(&ctx, digest);
        print_hex(digest, 32);
        return 0;
    }
    static fb_decoder_t decoder;
    uint8_t out[FB_MAX_ENCODED];
    fb_decoder_init(&decoder);
    if (strcmp(argv[1], "decode") == 0) {
        for (size_t i = 0; i < n; i++) {
            size_t len = fb_decoder_push(&decoder, input[i], out);
            if (len > 0) {
                print_hex(out, len);
            }
        }
    } else if (strcmp(argv[1], "bench") == 0 && argc == 3) {
        long rounds = strtol(argv[2], NULL, 10);
        unsigned long checksum = 0;
        struct timespec start, end;
        clock_gettime(CLOCK_MONOTONIC, &start);
        for (long r = 0; r < rounds; r++) {
            for (size_t i = 0; i < n; i++) {
                size_t len = fb_decoder_push(&decoder, input[i], out);
                checksum += len;
            }
        }
        clock_gettime(CLOCK_MONOTONIC, &end);
        double seconds = (double)(end.tv_sec - start.tv_sec) + (double)(end.tv_nsec - start.tv_nsec) / 1e9;
        printf("frames %lu bytes %lu seconds %.6f checksum %lu\n", (unsigned long)decoder.counters.frames_ok,
               (unsigned long)(n * (size_t)rounds), seconds, checksum);
        return 0;
    } else {
        fprintf(stderr, "fb_tool: unknown mode %s\n", argv[1]);
        return 2;
    }
    const fb_frame_counters_t *c = &decoder.counters;
    printf("counters %lu %lu %lu %lu %lu\n", (unsigned long)c->frames_ok, (unsigned long)c->oversize,
           (unsigned long)c->cobs_error, (unsigned long)c->short_frame, (unsigned long)c->crc_error);
    return 0;
}
