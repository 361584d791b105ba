/* Frames: CRC-16/CCITT-FALSE, COBS, and a byte-at-a-time decoder with one fixed buffer
 * (PROTOCOL.md section 1). No heap, no stdio. */
#ifndef FB_FRAME_H
#define FB_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "fb_protocol.h"

typedef struct {
    uint32_t frames_ok;
    uint32_t oversize;
    uint32_t cobs_error;
    uint32_t short_frame;
    uint32_t crc_error;
} fb_frame_counters_t;

typedef struct {
    uint8_t buf[FB_MAX_ENCODED];
    uint16_t len;
    uint8_t skipping;
    fb_frame_counters_t counters;
} fb_decoder_t;

uint16_t fb_crc16(const uint8_t *data, size_t len);

/* COBS-encodes len bytes into out (room for len + len / 254 + 1); returns the length. */
size_t fb_cobs_encode(const uint8_t *data, size_t len, uint8_t *out);

/* Decodes a COBS run without 0x00; returns the decoded length, or -1 if a code byte
 * points past the end. out needs room for len bytes. */
int fb_cobs_decode(const uint8_t *data, size_t len, uint8_t *out);

/* One message (at most FB_MAX_MESSAGE bytes) into a wire frame; out holds FB_MAX_FRAME.
 * Returns the frame length with its 0x00, or 0 if the message is too long. */
size_t fb_frame_encode(const uint8_t *message, size_t len, uint8_t *out);

void fb_decoder_init(fb_decoder_t *decoder);

/* Pushes one received byte. When it completes a good frame, the message (without its CRC)
 * is in out (room for FB_MAX_ENCODED bytes) and its length is returned; otherwise 0. */
size_t fb_decoder_push(fb_decoder_t *decoder, uint8_t byte, uint8_t *out);

#endif
