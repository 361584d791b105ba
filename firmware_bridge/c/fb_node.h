/* The reference node: answers the host's requests, pushes readings and heartbeats, takes
 * a firmware update in chunks (PROTOCOL.md). One static fb_node_t, no heap; hardware only
 * through fb_port.h.
 *
 *     fb_boot_t boot = fb_boot_select(power_on);      // the bootloader's part
 *     fb_node_start(&node, &identity, &boot);         // sends HELLO
 *     for (;;) fb_node_poll(&node);                   // from the main loop or a task
 */
#ifndef FB_NODE_H
#define FB_NODE_H

#include <stdint.h>

#include "fb_boot.h"
#include "fb_frame.h"
#include "fb_protocol.h"

typedef struct {
    const char *model;
    const char *serial;
    uint8_t firmware[3]; /* major, minor, patch of the running image */
} fb_identity_t;

typedef struct {
    uint32_t magic;
    uint32_t size;
    uint8_t sha256[32];
    uint8_t version[3];
    uint8_t target_slot;
    uint32_t next_offset;
} fb_progress_t;

typedef struct {
    fb_identity_t identity;
    fb_boot_t boot;
    fb_decoder_t decoder;
    uint8_t rx[FB_MAX_ENCODED];
    uint8_t tx[FB_MAX_MESSAGE];
    uint8_t frame[FB_MAX_FRAME];
    uint16_t seq;
    uint32_t bad_messages;
    int32_t config[FB_KEY_COUNT];
    uint8_t time_synced;
    uint64_t time_offset_ms; /* unix ms = offset + uptime_ms once synced */
    uint64_t uptime_ms;      /* port_clock_ms() widened: it keeps counting past the u32 wrap (49 days) */
    uint32_t last_tick;
    uint32_t last_heartbeat_ms;
    uint32_t last_report_ms;
    uint8_t update_state; /* enum fb_update_state */
    fb_progress_t progress;
    uint8_t restart; /* set when the node must restart after its response went out */
    uint16_t new_faults;
    uint16_t faulted; /* channels whose last reading had sensor_fault, one bit each */
} fb_node_t;

void fb_node_start(fb_node_t *node, const fb_identity_t *identity, const fb_boot_t *boot);

/* Handles what the UART received and what the timers say. Returns 1 when the node asked
 * for a restart (port_reset was called), else 0. */
int fb_node_poll(fb_node_t *node);

/* The value of a config key, for the port (e.g. trial_timeout_s). */
int32_t fb_node_config(const fb_node_t *node, uint8_t key);

#endif
