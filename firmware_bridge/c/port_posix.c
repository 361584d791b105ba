/* The POSIX port: the reference node as a process on one end of a pty (socat), with a file
 * for its flash and a text file for its sensors. Tests and the benchmark run it.
 *
 *   fb_node_posix --port PATH --flash FILE --sensors FILE [--model M] [--serial S]
 *                 [--version 1.0.0] [--watchdog-ms 2000] [--clock-start-ms N]
 *
 * Sensors file: one line per channel, "raw scale status" (status: the READINGS bits);
 * re-read at every reading, so a test changes the river by rewriting it.
 *
 * Images. A real node runs the code in its slot; this one simulates that: an image starts
 * with "FBIM", its version (3 bytes) and a flags byte, and the process reports that
 * version. Flag bit 0 "hang": the image never gets as far as the UART (a crash at boot), so
 * only the watchdog resets the node after --watchdog-ms. A blank flash gets a factory image
 * of --version in slot 0.
 *
 * --clock-start-ms starts port_clock_ms() at N instead of 0 (a test of the 32-bit wrap).
 *
 * At every boot it prints "boot slot N firmware X.Y.Z" on stdout once the UART is ready.
 */
#define _DEFAULT_SOURCE /* cfmakeraw */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "fb_boot.h"
#include "fb_node.h"
#include "fb_port.h"

#define IMAGE_HANG 0x01u

static int uart_fd = -1;
static int flash_fd = -1;
static const char *sensors_path = "";
static uint64_t boot_ms;
static struct {
    int32_t raw;
    int8_t scale;
    uint8_t status;
} sensors[FB_MAX_CHANNELS];
static uint8_t sensor_count;

static uint64_t monotonic_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint32_t clock_start_ms; /* --clock-start-ms: as if the node had been up this long at boot */

uint32_t port_clock_ms(void) { return (uint32_t)(monotonic_ms() - boot_ms + clock_start_ms); }

size_t port_uart_read(uint8_t *buf, size_t max) {
    ssize_t n = read(uart_fd, buf, max);
    return n > 0 ? (size_t)n : 0;
}

void port_uart_write(const uint8_t *buf, size_t len) {
    while (len > 0) {
        ssize_t n = write(uart_fd, buf, len);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                struct pollfd p = {uart_fd, POLLOUT, 0};
                poll(&p, 1, 10);
                continue;
            }
            return; /* the line is gone: bytes are lost, as on a cut cable */
        }
        buf += n;
        len -= (size_t)n;
    }
}

int port_flash_read(uint32_t address, void *buf, uint32_t len) {
    if (address + len > FB_FLASH_SIZE) {
        return -1;
    }
    return pread(flash_fd, buf, len, address) == (ssize_t)len ? 0 : -1;
}

int port_flash_write(uint32_t address, const void *buf, uint32_t len) {
    if (address + len > FB_FLASH_SIZE) {
        return -1;
    }
    return pwrite(flash_fd, buf, len, address) == (ssize_t)len ? 0 : -1;
}

int port_flash_erase(uint32_t address, uint32_t len) {
    static uint8_t blank[FB_SECTOR_SIZE];
    memset(blank, 0xFF, sizeof blank);
    if (address % FB_SECTOR_SIZE != 0 || len % FB_SECTOR_SIZE != 0 || address + len > FB_FLASH_SIZE) {
        return -1;
    }
    for (uint32_t at = address; at < address + len; at += FB_SECTOR_SIZE) {
        if (port_flash_write(at, blank, FB_SECTOR_SIZE) != 0) {
            return -1;
        }
    }
    return 0;
}

void port_reset(void) {} /* the main loop restarts the node when fb_node_poll returns 1 */

uint8_t port_sensor_count(void) {
    FILE *file = fopen(sensors_path, "r");
    sensor_count = 0;
    if (file == NULL) {
        return 0;
    }
    long raw;
    int scale;
    unsigned status;
    while (sensor_count < FB_MAX_CHANNELS && fscanf(file, "%ld %d %u", &raw, &scale, &status) == 3) {
        sensors[sensor_count].raw = (int32_t)raw;
        sensors[sensor_count].scale = (int8_t)scale;
        sensors[sensor_count].status = (uint8_t)status;
        sensor_count++;
    }
    fclose(file);
    return sensor_count;
}

void port_sensor_read(uint8_t channel, int32_t *raw, int8_t *scale, uint8_t *status) {
    if (channel >= sensor_count) {
        *raw = 0;
        *scale = 0;
        *status = FB_STATUS_SENSOR_FAULT;
        return;
    }
    *raw = sensors[channel].raw;
    *scale = sensors[channel].scale;
    *status = sensors[channel].status;
}

static int open_uart(const char *path) {
    int fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        return -1;
    }
    struct termios tio;
    if (tcgetattr(fd, &tio) == 0) {
        cfmakeraw(&tio);
        cfsetispeed(&tio, B115200);
        cfsetospeed(&tio, B115200);
        tcsetattr(fd, TCSANOW, &tio);
    }
    return fd;
}

static int open_flash(const char *path) {
    int fd = open(path, O_RDWR | O_CREAT, 0644);
    if (fd < 0) {
        return -1;
    }
    off_t size = lseek(fd, 0, SEEK_END);
    if (size < (off_t)FB_FLASH_SIZE) {
        flash_fd = fd;
        port_flash_erase(0, FB_FLASH_SIZE); /* a blank chip */
    }
    return fd;
}

static void write_factory_image(uint8_t slot, const uint8_t version[3]) {
    uint8_t image[256];
    for (size_t i = 0; i < sizeof image; i++) {
        image[i] = (uint8_t)(i * 7u + 1u);
    }
    memcpy(image, "FBIM", 4);
    memcpy(image + 4, version, 3);
    image[7] = 0;
    port_flash_write(FB_FLASH_SLOT(slot), image, sizeof image);
}

static int parse_version(const char *text, uint8_t version[3]) {
    unsigned a, b, c;
    if (sscanf(text, "%u.%u.%u", &a, &b, &c) != 3 || a > 255 || b > 255 || c > 255) {
        return -1;
    }
    version[0] = (uint8_t)a;
    version[1] = (uint8_t)b;
    version[2] = (uint8_t)c;
    return 0;
}

static fb_node_t node;

int main(int argc, char **argv) {
    const char *port = NULL, *flash = NULL;
    fb_identity_t identity = {"fb-ref-level", "SIM-0001", {1, 0, 0}};
    uint8_t factory[3] = {1, 0, 0};
    uint32_t watchdog_ms = 2000;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--port") == 0) {
            port = argv[i + 1];
        } else if (strcmp(argv[i], "--flash") == 0) {
            flash = argv[i + 1];
        } else if (strcmp(argv[i], "--sensors") == 0) {
            sensors_path = argv[i + 1];
        } else if (strcmp(argv[i], "--model") == 0) {
            identity.model = argv[i + 1];
        } else if (strcmp(argv[i], "--serial") == 0) {
            identity.serial = argv[i + 1];
        } else if (strcmp(argv[i], "--version") == 0) {
            if (parse_version(argv[i + 1], factory) != 0) {
                fprintf(stderr, "fb_node_posix: --version %s: expected MAJOR.MINOR.PATCH\n", argv[i + 1]);
                return 2;
            }
        } else if (strcmp(argv[i], "--clock-start-ms") == 0) {
            clock_start_ms = (uint32_t)strtoul(argv[i + 1], NULL, 10);
        } else if (strcmp(argv[i], "--watchdog-ms") == 0) {
            watchdog_ms = (uint32_t)strtoul(argv[i + 1], NULL, 10);
        } else {
            fprintf(stderr, "fb_node_posix: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (port == NULL || flash == NULL) {
        fprintf(stderr, "usage: fb_node_posix --port PATH --flash FILE --sensors FILE [--model M] [--serial S] "
                        "[--version 1.0.0] [--watchdog-ms N] [--clock-start-ms N]\n");
        return 2;
    }
    uart_fd = open_uart(port);
    if (uart_fd < 0) {
        fprintf(stderr, "fb_node_posix: cannot open %s: %s\n", port, strerror(errno));
        return 1;
    }
    flash_fd = open_flash(flash);
    if (flash_fd < 0) {
        fprintf(stderr, "fb_node_posix: cannot open flash file %s: %s\n", flash, strerror(errno));
        return 1;
    }
    uint8_t power_on = 1;
    for (;;) {
        boot_ms = monotonic_ms();
        fb_boot_t boot = fb_boot_select(power_on);
        power_on = 0;
        uint8_t header[8];
        port_flash_read(FB_FLASH_SLOT(boot.slot), header, sizeof header);
        if (memcmp(header, "FBIM", 4) != 0) {
            write_factory_image(boot.slot, factory);
            port_flash_read(FB_FLASH_SLOT(boot.slot), header, sizeof header);
        }
        memcpy(identity.firmware, header + 4, 3);
        tcflush(uart_fd, TCIFLUSH); /* what arrived while the node was down is lost */
        /* For whoever started the process: from here on, bytes sent to the node are read. */
        printf("boot slot %u firmware %u.%u.%u%s\n", boot.slot, header[4], header[5], header[6],
               (header[7] & IMAGE_HANG) ? " hangs" : "");
        fflush(stdout);
        if (header[7] & IMAGE_HANG) {
            while (port_clock_ms() < watchdog_ms) {
                poll(NULL, 0, 10);
            }
            continue; /* the watchdog resets the node */
        }
        fb_node_start(&node, &identity, &boot);
        while (!fb_node_poll(&node)) {
            struct pollfd p = {uart_fd, POLLIN, 0};
            poll(&p, 1, 10);
            if (p.revents & (POLLHUP | POLLERR)) {
                poll(NULL, 0, 10); /* the other end is closed for now */
            }
        }
    }
}
