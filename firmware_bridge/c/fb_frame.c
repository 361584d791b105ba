#include "fb_frame.h"

uint16_t fb_crc16(const uint8_t *data, size_t len) {
    uint32_t crc = 0xFFFFu;
    for (size_t i = 0; i < len; i++) {
        crc ^= (uint32_t)data[i] << 8;
        for (int bit = 0; bit < 8; bit++) {
            crc = (crc & 0x8000u) ? ((crc << 1) ^ 0x1021u) : (crc << 1);
        }
        crc &= 0xFFFFu;
    }
    return (uint16_t)crc;
}

size_t fb_cobs_encode(const uint8_t *data, size_t len, uint8_t *out) {
    size_t code_at = 0, o = 1;
    uint8_t code = 1;
    for (size_t i = 0; i < len; i++) {
        if (data[i] == 0) {
            out[code_at] = code;
            code_at = o++;
            code = 1;
            continue;
        }
        out[o++] = data[i];
        if (++code == 0xFF) {
            out[code_at] = code;
            code_at = o++;
            code = 1;
        }
    }
    out[code_at] = code;
    return o;
}

int fb_cobs_decode(const uint8_t *data, size_t len, uint8_t *out) {
    size_t i = 0, o = 0;
    while (i < len) {
        uint8_t code = data[i];
        if (code == 0 || i + code > len) {
            return -1;
        }
        for (size_t k = 1; k < code; k++) {
            out[o++] = data[i + k];
        }
        i += code;
        if (code != 0xFF && i < len) {
            out[o++] = 0;
        }
    }
    return (int)o;
}

size_t fb_frame_encode(const uint8_t *message, size_t len, uint8_t *out) {
    uint8_t raw[FB_MAX_MESSAGE + 2];
    if (len > FB_MAX_MESSAGE) {
        return 0;
    }
    for (size_t i = 0; i < len; i++) {
        raw[i] = message[i];
    }
    uint16_t crc = fb_crc16(message, len);
    raw[len] = (uint8_t)(crc >> 8);
    raw[len + 1] = (uint8_t)crc;
    size_t n = fb_cobs_encode(raw, len + 2, out);
    out[n] = 0;
    return n + 1;
}

void fb_decoder_init(fb_decoder_t *decoder) {
    decoder->len = 0;
    decoder->skipping = 0;
    decoder->counters = (fb_frame_counters_t){0};
}

size_t fb_decoder_push(fb_decoder_t *d, uint8_t byte, uint8_t *out) {
    if (byte != 0) {
        if (d->skipping) {
            return 0;
        }
        if (d->len == FB_MAX_ENCODED) {
            d->counters.oversize++;
            d->skipping = 1;
            d->len = 0;
            return 0;
        }
        d->buf[d->len++] = byte;
        return 0;
    }
    if (d->skipping) {
        d->skipping = 0;
        return 0;
    }
    if (d->len == 0) {
        return 0; /* an empty frame */
    }
    int n = fb_cobs_decode(d->buf, d->len, out);
    d->len = 0;
    if (n < 0) {
        d->counters.cobs_error++;
        return 0;
    }
    if ((size_t)n < FB_MIN_FRAME) {
        d->counters.short_frame++;
        return 0;
    }
    if (fb_crc16(out, (size_t)n) != 0) {
        d->counters.crc_error++;
        return 0;
    }
    d->counters.frames_ok++;
    return (size_t)n - 2;
}
