#include "fb_node.h"

#include "fb_port.h"
#include "fb_sha256.h"

#define PROGRESS_MAGIC 0x50524f47u /* "GORP" */
#define CONFIG_MAGIC 0x43464731u

typedef struct {
    int32_t min, max, fallback;
    uint8_t writable;
} key_rule_t;

/* PROTOCOL.md section 3, configuration keys: range, default, writable. */
static const key_rule_t KEY_RULES[FB_KEY_COUNT] = {
    {0, 0, 0, 0},
    {0, 86400, 0, 1},
    {0, 3600, 10, 1},
    {-100000, 100000, 0, 1},
    {1, 3600, 60, 1},
    {0, 0, 0, 0},
};

typedef struct {
    uint32_t magic;
    int32_t values[FB_KEY_COUNT];
} stored_config_t;

static void put16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static void put32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}
static void put64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}
static uint32_t get32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t get64(const uint8_t *p) {
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

/* Sends the message in node->tx: type, flags, seq, and `body` bytes already at tx + 5. */
static void send(fb_node_t *node, uint8_t type, uint8_t flags, uint16_t seq, uint8_t body) {
    node->tx[0] = FB_PROTOCOL_VERSION;
    node->tx[1] = type;
    node->tx[2] = flags;
    put16(node->tx + 3, seq);
    size_t n = fb_frame_encode(node->tx, FB_HEADER_BYTES + (size_t)body, node->frame);
    port_uart_write(node->frame, n);
}

/* A response to request `seq`, or an unsolicited message numbered from the node's counter. */
static void respond(fb_node_t *node, uint8_t type, int32_t seq, uint8_t body) {
    if (seq < 0) {
        send(node, type, 0, node->seq++, body);
    } else {
        send(node, type, FB_FLAG_RESPONSE, (uint16_t)seq, body);
    }
}

static void send_error(fb_node_t *node, int32_t seq, uint8_t code, uint8_t about, uint16_t detail) {
    uint8_t *b = node->tx + FB_HEADER_BYTES;
    b[0] = code;
    b[1] = about;
    put16(b + 2, detail);
    respond(node, FB_ERROR, seq, 4);
}

static void tick(fb_node_t *node) {
    uint32_t now = port_clock_ms();
    node->uptime_ms += (uint32_t)(now - node->last_tick); /* unsigned difference: right across the wrap */
    node->last_tick = now;
}

static uint64_t now_ms(fb_node_t *node) {
    tick(node);
    return node->time_synced ? node->time_offset_ms + node->uptime_ms : node->uptime_ms;
}

static void send_hello(fb_node_t *node, int32_t seq) {
    uint8_t *b = node->tx + FB_HEADER_BYTES;
    uint8_t n = 0;
    b[n++] = FB_PROTOCOL_VERSION;
    for (int i = 0; i < 3; i++) {
        b[n++] = node->identity.firmware[i];
    }
    b[n++] = node->boot.image_state;
    b[n++] = node->boot.boot_reason;
    const char *texts[2] = {node->identity.model, node->identity.serial};
    for (int t = 0; t < 2; t++) {
        uint8_t len = 0;
        while (texts[t][len] != 0 && len < FB_MAX_STR) {
            b[n + 1 + len] = (uint8_t)texts[t][len];
            len++;
        }
        b[n] = len;
        n = (uint8_t)(n + 1 + len);
    }
    respond(node, FB_HELLO, seq, n);
}

static void send_readings(fb_node_t *node, int32_t seq) {
    uint8_t *b = node->tx + FB_HEADER_BYTES;
    uint8_t count = port_sensor_count();
    if (count > FB_MAX_CHANNELS) {
        count = FB_MAX_CHANNELS;
    }
    put64(b, now_ms(node));
    b[8] = node->time_synced;
    b[9] = count;
    uint8_t *r = b + 10;
    for (uint8_t ch = 0; ch < count; ch++, r += 7) {
        int32_t raw = 0;
        int8_t scale = 0;
        uint8_t status = 0;
        port_sensor_read(ch, &raw, &scale, &status);
        if (ch == 0 && !(status & FB_STATUS_SENSOR_FAULT)) {
            /* level_offset_mm in the channel's own scale (millimetres are 10^-3 m) */
            int32_t offset = node->config[FB_KEY_LEVEL_OFFSET_MM];
            for (int8_t s = scale; s < -3; s++) {
                offset *= 10;
            }
            for (int8_t s = scale; s > -3; s--) {
                offset /= 10;
            }
            raw += offset;
        }
        uint32_t bit = 1u << ch;
        if (status & FB_STATUS_SENSOR_FAULT) {
            node->new_faults = (uint16_t)(node->new_faults | (bit & ~(uint32_t)node->faulted));
            node->faulted = (uint16_t)(node->faulted | bit);
        } else {
            node->faulted = (uint16_t)(node->faulted & ~bit);
        }
        r[0] = ch;
        put32(r + 1, (uint32_t)raw);
        r[5] = (uint8_t)scale;
        r[6] = status;
    }
    respond(node, FB_READINGS, seq, (uint8_t)(10 + 7 * count));
    /* A channel that has just failed is also reported as an unsolicited ERROR, once. */
    for (uint8_t ch = 0; ch < count; ch++) {
        if (node->new_faults & (1u << ch)) {
            send_error(node, -1, FB_ERR_SENSOR_FAULT, 0, ch);
        }
    }
    node->new_faults = 0;
}

static void send_heartbeat(fb_node_t *node) {
    uint8_t *b = node->tx + FB_HEADER_BYTES;
    const fb_frame_counters_t *c = &node->decoder.counters;
    uint32_t framing = c->oversize + c->cobs_error + c->short_frame;
#define SAT16(x) ((uint16_t)((x) > 0xFFFFu ? 0xFFFFu : (x)))
    tick(node);
    put32(b, (uint32_t)(node->uptime_ms / 1000u));
    put32(b + 4, c->frames_ok);
    put16(b + 8, SAT16(c->crc_error));
    put16(b + 10, SAT16(framing));
    put16(b + 12, SAT16(node->bad_messages));
    b[14] = node->boot.image_state;
    respond(node, FB_HEARTBEAT, -1, 15);
}

static void save_config(const fb_node_t *node) {
    stored_config_t stored = {CONFIG_MAGIC, {0}};
    for (int k = 0; k < FB_KEY_COUNT; k++) {
        stored.values[k] = node->config[k];
    }
    port_flash_erase(FB_FLASH_CONFIG, FB_SECTOR_SIZE);
    port_flash_write(FB_FLASH_CONFIG, &stored, sizeof stored);
}

static void load_config(fb_node_t *node) {
    stored_config_t stored;
    int valid = port_flash_read(FB_FLASH_CONFIG, &stored, sizeof stored) == 0 && stored.magic == CONFIG_MAGIC;
    for (int k = 0; k < FB_KEY_COUNT; k++) {
        const key_rule_t *rule = &KEY_RULES[k];
        int32_t v = valid ? stored.values[k] : rule->fallback;
        node->config[k] = (v < rule->min || v > rule->max) ? rule->fallback : v;
    }
}

int32_t fb_node_config(const fb_node_t *node, uint8_t key) {
    if (key == FB_KEY_CHANNEL_COUNT) {
        return port_sensor_count();
    }
    return key < FB_KEY_COUNT ? node->config[key] : 0;
}

static void config_request(fb_node_t *node, uint16_t seq, uint8_t type, const uint8_t *body) {
    uint8_t key = body[0];
    if (key == 0 || key >= FB_KEY_COUNT) {
        send_error(node, seq, FB_ERR_UNKNOWN_KEY, type, key);
        return;
    }
    if (type == FB_CONFIG_SET) {
        int32_t value = (int32_t)get32(body + 1);
        const key_rule_t *rule = &KEY_RULES[key];
        if (!rule->writable) {
            send_error(node, seq, FB_ERR_READ_ONLY, type, key);
            return;
        }
        if (value < rule->min || value > rule->max) {
            send_error(node, seq, FB_ERR_BAD_VALUE, type, key);
            return;
        }
        if (node->config[key] != value) {
            node->config[key] = value;
            save_config(node);
        }
    }
    uint8_t *b = node->tx + FB_HEADER_BYTES;
    b[0] = key;
    put32(b + 1, (uint32_t)fb_node_config(node, key));
    respond(node, FB_CONFIG_VALUE, seq, 5);
}

static void time_sync(fb_node_t *node, uint16_t seq, const uint8_t *body) {
    uint8_t *b = node->tx + FB_HEADER_BYTES;
    uint64_t previous = now_ms(node);
    uint8_t was_synced = node->time_synced;
    node->time_offset_ms = get64(body) - node->uptime_ms; /* now_ms above just ticked */
    node->time_synced = 1;
    put64(b, previous);
    b[8] = was_synced;
    respond(node, FB_TIME_ACK, seq, 9);
}

/* ---- firmware update (PROTOCOL.md section 4) ---- */

static void save_progress(const fb_node_t *node) {
    port_flash_erase(FB_FLASH_PROGRESS, FB_SECTOR_SIZE);
    port_flash_write(FB_FLASH_PROGRESS, &node->progress, sizeof node->progress);
}

static void forget_progress(fb_node_t *node) {
    node->progress.magic = 0;
    node->progress.size = 0;
    node->progress.next_offset = 0;
    node->update_state = node->boot.image_state == FB_IMAGE_TRIAL ? FB_UPD_TRIAL : FB_UPD_IDLE;
    port_flash_erase(FB_FLASH_PROGRESS, FB_SECTOR_SIZE);
}

static void update_status(fb_node_t *node, uint16_t seq, uint8_t result) {
    uint8_t *b = node->tx + FB_HEADER_BYTES;
    b[0] = node->update_state;
    b[1] = result;
    put32(b + 2, node->progress.next_offset);
    put32(b + 6, node->progress.size);
    respond(node, FB_UPDATE_STATUS, seq, 10);
}

static int same_image(const fb_progress_t *p, uint32_t size, const uint8_t *sha) {
    if (p->magic != PROGRESS_MAGIC || p->size != size) {
        return 0;
    }
    for (int i = 0; i < 32; i++) {
        if (p->sha256[i] != sha[i]) {
            return 0;
        }
    }
    return 1;
}

static void update_begin(fb_node_t *node, uint16_t seq, const uint8_t *body) {
    uint32_t size = get32(body);
    if (node->boot.image_state == FB_IMAGE_TRIAL) {
        update_status(node, seq, FB_RES_IN_TRIAL); /* the spare slot holds the fallback */
        return;
    }
    if (size == 0 || size > FB_SLOT_SIZE) {
        update_status(node, seq, FB_RES_TOO_LARGE);
        return;
    }
    if (!same_image(&node->progress, size, body + 4)) {
        fb_progress_t *p = &node->progress;
        p->magic = PROGRESS_MAGIC;
        p->size = size;
        for (int i = 0; i < 32; i++) {
            p->sha256[i] = body[4 + i];
        }
        for (int i = 0; i < 3; i++) {
            p->version[i] = body[36 + i];
        }
        p->target_slot = (uint8_t)(1u - node->boot.slot);
        p->next_offset = 0;
        if (port_flash_erase(FB_FLASH_SLOT(p->target_slot), FB_SLOT_SIZE) != 0) {
            forget_progress(node);
            update_status(node, seq, FB_RES_FLASH_ERROR);
            return;
        }
        save_progress(node);
    }
    node->update_state = FB_UPD_RECEIVING;
    update_status(node, seq, FB_RES_OK);
}

static void update_chunk(fb_node_t *node, uint16_t seq, const uint8_t *body, uint8_t len) {
    fb_progress_t *p = &node->progress;
    if (node->update_state != FB_UPD_RECEIVING) {
        update_status(node, seq, FB_RES_NO_UPDATE);
        return;
    }
    uint32_t offset = get32(body);
    uint32_t n = (uint32_t)len - 4u;
    if (offset != p->next_offset) {
        update_status(node, seq, FB_RES_BAD_OFFSET);
        return;
    }
    if (offset + n > p->size) {
        update_status(node, seq, FB_RES_TOO_LARGE);
        return;
    }
    if (port_flash_write(FB_FLASH_SLOT(p->target_slot) + offset, body + 4, n) != 0) {
        update_status(node, seq, FB_RES_FLASH_ERROR);
        return;
    }
    p->next_offset = offset + n;
    save_progress(node);
    update_status(node, seq, FB_RES_OK);
}

static void update_commit(fb_node_t *node, uint16_t seq) {
    fb_progress_t *p = &node->progress;
    if (node->update_state != FB_UPD_RECEIVING) {
        update_status(node, seq, FB_RES_NO_UPDATE);
        return;
    }
    if (p->next_offset != p->size) {
        update_status(node, seq, FB_RES_INCOMPLETE);
        return;
    }
    fb_sha256_t sha;
    uint8_t block[64], digest[32];
    fb_sha256_init(&sha);
    for (uint32_t at = 0; at < p->size; at += sizeof block) {
        uint32_t n = p->size - at < sizeof block ? p->size - at : (uint32_t)sizeof block;
        if (port_flash_read(FB_FLASH_SLOT(p->target_slot) + at, block, n) != 0) {
            update_status(node, seq, FB_RES_FLASH_ERROR);
            return;
        }
        fb_sha256_update(&sha, block, n);
    }
    fb_sha256_final(&sha, digest);
    if (!same_image(p, p->size, digest)) {
        forget_progress(node);
        update_status(node, seq, FB_RES_HASH_MISMATCH);
        return;
    }
    fb_boot_record_t record;
    if (fb_boot_read(&record) != 0) {
        record = (fb_boot_record_t){FB_BOOT_MAGIC, node->boot.slot, 0, FB_REC_CONFIRMED, 0};
    }
    record.trial_slot = p->target_slot;
    record.state = FB_REC_PENDING;
    if (fb_boot_write(&record) != 0) {
        update_status(node, seq, FB_RES_FLASH_ERROR);
        return;
    }
    node->update_state = FB_UPD_VERIFIED;
    update_status(node, seq, FB_RES_OK);
    forget_progress(node);
    node->restart = 1;
}

static void update_confirm(fb_node_t *node, uint16_t seq) {
    if (node->boot.image_state == FB_IMAGE_TRIAL) {
        fb_boot_record_t record;
        if (fb_boot_read(&record) == 0) {
            record.confirmed_slot = node->boot.slot;
            record.state = FB_REC_CONFIRMED;
            if (fb_boot_write(&record) != 0) {
                update_status(node, seq, FB_RES_FLASH_ERROR);
                return;
            }
        }
        node->boot.image_state = FB_IMAGE_CONFIRMED;
        node->update_state = FB_UPD_CONFIRMED;
        update_status(node, seq, FB_RES_OK);
        return;
    }
    update_status(node, seq, node->update_state == FB_UPD_CONFIRMED ? FB_RES_OK : FB_RES_NO_UPDATE);
}

/* ---- dispatch ---- */

/* Body length each request must have; -1: variable (checked by its handler). */
static int expected_body(uint8_t type) {
    switch (type) {
    case FB_IDENTIFY:
    case FB_POLL:
    case FB_UPDATE_COMMIT:
    case FB_UPDATE_CONFIRM:
        return 0;
    case FB_CONFIG_GET:
        return 1;
    case FB_CONFIG_SET:
        return 5;
    case FB_TIME_SYNC:
        return 8;
    case FB_UPDATE_BEGIN:
        return 39;
    case FB_UPDATE_CHUNK:
        return -1;
    default:
        return -2;
    }
}

static void handle(fb_node_t *node, const uint8_t *m, size_t len) {
    uint8_t type = m[1];
    uint16_t seq = (uint16_t)(m[3] | m[4] << 8);
    const uint8_t *body = m + FB_HEADER_BYTES;
    size_t body_len = len - FB_HEADER_BYTES;
    if (m[0] != FB_PROTOCOL_VERSION) {
        node->bad_messages++;
        send_error(node, seq, FB_ERR_BAD_VERSION, type, m[0]);
        return;
    }
    int expected = expected_body(type);
    if (expected == -2 || (m[2] & FB_FLAG_RESPONSE)) {
        node->bad_messages++;
        send_error(node, seq, FB_ERR_UNKNOWN_TYPE, type, 0);
        return;
    }
    if ((expected >= 0 && body_len != (size_t)expected) ||
        (expected == -1 && (body_len < 5 || body_len > 4 + FB_MAX_CHUNK))) {
        node->bad_messages++;
        send_error(node, seq, FB_ERR_BAD_LENGTH, type, (uint16_t)body_len);
        return;
    }
    switch (type) {
    case FB_IDENTIFY:
        send_hello(node, seq);
        break;
    case FB_POLL:
        send_readings(node, seq);
        break;
    case FB_CONFIG_GET:
    case FB_CONFIG_SET:
        config_request(node, seq, type, body);
        break;
    case FB_TIME_SYNC:
        time_sync(node, seq, body);
        break;
    case FB_UPDATE_BEGIN:
        update_begin(node, seq, body);
        break;
    case FB_UPDATE_CHUNK:
        update_chunk(node, seq, body, (uint8_t)body_len);
        break;
    case FB_UPDATE_COMMIT:
        update_commit(node, seq);
        break;
    default:
        update_confirm(node, seq);
        break;
    }
}

void fb_node_start(fb_node_t *node, const fb_identity_t *identity, const fb_boot_t *boot) {
    node->identity = *identity;
    node->boot = *boot;
    fb_decoder_init(&node->decoder);
    node->seq = 0;
    node->bad_messages = 0;
    node->time_synced = 0;
    node->time_offset_ms = 0;
    node->uptime_ms = port_clock_ms();
    node->last_tick = (uint32_t)node->uptime_ms;
    node->restart = 0;
    node->faulted = 0;
    node->new_faults = 0;
    load_config(node);
    if (port_flash_read(FB_FLASH_PROGRESS, &node->progress, sizeof node->progress) != 0 ||
        node->progress.magic != PROGRESS_MAGIC || boot->image_state == FB_IMAGE_TRIAL) {
        node->progress = (fb_progress_t){0};
    }
    node->update_state = boot->image_state == FB_IMAGE_TRIAL       ? FB_UPD_TRIAL
                         : node->progress.magic == PROGRESS_MAGIC ? FB_UPD_RECEIVING
                                                                  : FB_UPD_IDLE;
    node->last_heartbeat_ms = port_clock_ms();
    node->last_report_ms = node->last_heartbeat_ms;
    uint8_t zero = 0;
    port_uart_write(&zero, 1); /* ends whatever the line picked up while we were down */
    send_hello(node, -1);
}

int fb_node_poll(fb_node_t *node) {
    uint8_t chunk[64];
    size_t got;
    /* At most 256 bytes per call, so the timers below run even while the line is flooded. */
    for (int round = 0; round < 4 && (got = port_uart_read(chunk, sizeof chunk)) > 0; round++) {
        for (size_t i = 0; i < got; i++) {
            size_t len = fb_decoder_push(&node->decoder, chunk[i], node->rx);
            if (len >= FB_HEADER_BYTES) {
                handle(node, node->rx, len);
            }
            if (node->restart) {
                port_reset();
                return 1;
            }
        }
    }
    uint32_t now = port_clock_ms();
    uint32_t heartbeat_ms = (uint32_t)node->config[FB_KEY_HEARTBEAT_S] * 1000u;
    if (heartbeat_ms != 0 && now - node->last_heartbeat_ms >= heartbeat_ms) {
        node->last_heartbeat_ms = now;
        send_heartbeat(node);
    }
    uint32_t report_ms = (uint32_t)node->config[FB_KEY_REPORT_INTERVAL_S] * 1000u;
    if (report_ms != 0 && now - node->last_report_ms >= report_ms) {
        node->last_report_ms = now;
        send_readings(node, -1);
    }
    if (node->boot.image_state == FB_IMAGE_TRIAL &&
        now >= (uint32_t)node->config[FB_KEY_TRIAL_TIMEOUT_S] * 1000u) {
        port_reset(); /* not confirmed in time: the next boot rolls back */
        return 1;
    }
    return 0;
}
