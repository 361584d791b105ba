/* The boot record and the boot decision (PROTOCOL.md section 4): which slot runs, on
 * trial or confirmed, and why. An MCU's bootloader calls fb_boot_select before it jumps
 * to the slot; port_posix.c calls it at every (simulated) boot. */
#ifndef FB_BOOT_H
#define FB_BOOT_H

#include <stdint.h>

#define FB_BOOT_MAGIC 0x46424254u /* "TBBF" */

enum fb_record_state { FB_REC_CONFIRMED = 0, FB_REC_PENDING = 1, FB_REC_TRIAL = 2 };

typedef struct {
    uint32_t magic;
    uint8_t confirmed_slot;
    uint8_t trial_slot;
    uint8_t state; /* enum fb_record_state */
    uint8_t reserved;
} fb_boot_record_t;

typedef struct {
    uint8_t slot;
    uint8_t image_state; /* enum fb_image_state */
    uint8_t boot_reason; /* enum fb_boot_reason */
} fb_boot_t;

/* 0 and the record, or -1 when flash holds none (a blank device). */
int fb_boot_read(fb_boot_record_t *record);
int fb_boot_write(const fb_boot_record_t *record);

/* Decides this boot: a pending slot starts on trial; a slot still on trial at boot failed
 * to be confirmed and the confirmed slot runs again (rollback). Writes the record back. */
fb_boot_t fb_boot_select(uint8_t power_on);

#endif
