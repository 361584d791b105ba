/* The port layer: everything the reference node needs from the hardware. A port for an
 * MCU implements these over its UART driver, a millisecond tick and its flash driver;
 * port_posix.c implements them over a pty and a file. */
#ifndef FB_PORT_H
#define FB_PORT_H

#include <stddef.h>
#include <stdint.h>

/* Flash layout: three small sectors, then two image slots. */
#ifndef FB_SECTOR_SIZE
#define FB_SECTOR_SIZE 4096u
#endif
#ifndef FB_SLOT_SIZE
#define FB_SLOT_SIZE (64u * 1024u)
#endif
#define FB_FLASH_BOOT_RECORD 0u
#define FB_FLASH_PROGRESS FB_SECTOR_SIZE
#define FB_FLASH_CONFIG (2u * FB_SECTOR_SIZE)
#define FB_FLASH_SLOT(n) (3u * FB_SECTOR_SIZE + (uint32_t)(n) * FB_SLOT_SIZE)
#define FB_FLASH_SIZE FB_FLASH_SLOT(2)

/* Bytes received since the last call, at most max; never blocks. */
size_t port_uart_read(uint8_t *buf, size_t max);
/* Queues bytes for sending; may block until there is room. */
void port_uart_write(const uint8_t *buf, size_t len);
/* Milliseconds since boot (wraps after 49 days; the node only takes differences). */
uint32_t port_clock_ms(void);

/* 0 on success. Erase sets a sector-aligned range to 0xFF; write may only follow an erase
 * (or rewrite the same bytes). */
int port_flash_read(uint32_t address, void *buf, uint32_t len);
int port_flash_write(uint32_t address, const void *buf, uint32_t len);
int port_flash_erase(uint32_t address, uint32_t len);

/* Restarts the node (through the boot decision, fb_boot_select). On an MCU it does not
 * return; on POSIX it returns and the main loop restarts the node. */
void port_reset(void);

/* Sensors: how many channels, and one channel's reading (raw x 10^scale, status bits). */
uint8_t port_sensor_count(void);
void port_sensor_read(uint8_t channel, int32_t *raw, int8_t *scale, uint8_t *status);

#endif
