#include "fb_boot.h"

#include "fb_port.h"
#include "fb_protocol.h"

int fb_boot_read(fb_boot_record_t *record) {
    if (port_flash_read(FB_FLASH_BOOT_RECORD, record, sizeof *record) != 0 || record->magic != FB_BOOT_MAGIC) {
        return -1;
    }
    return 0;
}

/* A real port keeps two copies of the record so a power cut between the erase and the
 * write cannot lose both; the reference keeps one. */
int fb_boot_write(const fb_boot_record_t *record) {
    if (port_flash_erase(FB_FLASH_BOOT_RECORD, FB_SECTOR_SIZE) != 0) {
        return -1;
    }
    return port_flash_write(FB_FLASH_BOOT_RECORD, record, sizeof *record);
}

fb_boot_t fb_boot_select(uint8_t power_on) {
    fb_boot_record_t record;
    fb_boot_t boot = {0, FB_IMAGE_CONFIRMED, power_on ? FB_BOOT_POWER_ON : FB_BOOT_RESET};
    if (fb_boot_read(&record) != 0) {
        record = (fb_boot_record_t){FB_BOOT_MAGIC, 0, 0, FB_REC_CONFIRMED, 0};
        fb_boot_write(&record);
    }
    if (record.state == FB_REC_PENDING) {
        record.state = FB_REC_TRIAL;
        fb_boot_write(&record);
        boot.slot = record.trial_slot;
        boot.image_state = FB_IMAGE_TRIAL;
        boot.boot_reason = FB_BOOT_UPDATE;
        return boot;
    }
    if (record.state == FB_REC_TRIAL) {
        record.state = FB_REC_CONFIRMED;
        fb_boot_write(&record);
        boot.boot_reason = FB_BOOT_ROLLBACK;
    }
    boot.slot = record.confirmed_slot;
    return boot;
}
