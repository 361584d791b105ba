/* The Floodwatch node protocol, version 1: numbers from PROTOCOL.md, nothing else. */
#ifndef FB_PROTOCOL_H
#define FB_PROTOCOL_H

#define FB_PROTOCOL_VERSION 1u
#define FB_HEADER_BYTES 5u
#define FB_MAX_MESSAGE 250u  /* header + body */
#define FB_MAX_ENCODED 253u  /* COBS of a message and its CRC, without the 0x00 */
#define FB_MAX_FRAME 254u    /* with the 0x00 */
#define FB_MIN_FRAME 7u      /* header + CRC */
#define FB_MAX_CHUNK 128u
#define FB_MAX_CHANNELS 16u
#define FB_MAX_STR 32u
#define FB_FLAG_RESPONSE 0x01u

enum fb_type {
    FB_IDENTIFY = 0x01,
    FB_POLL = 0x02,
    FB_CONFIG_GET = 0x03,
    FB_CONFIG_SET = 0x04,
    FB_TIME_SYNC = 0x05,
    FB_UPDATE_BEGIN = 0x06,
    FB_UPDATE_CHUNK = 0x07,
    FB_UPDATE_COMMIT = 0x08,
    FB_UPDATE_CONFIRM = 0x09,
    FB_HELLO = 0x41,
    FB_READINGS = 0x42,
    FB_CONFIG_VALUE = 0x43,
    FB_TIME_ACK = 0x44,
    FB_UPDATE_STATUS = 0x45,
    FB_ERROR = 0x46,
    FB_HEARTBEAT = 0x47
};

enum fb_image_state { FB_IMAGE_CONFIRMED = 0, FB_IMAGE_TRIAL = 1 };
enum fb_boot_reason { FB_BOOT_POWER_ON = 0, FB_BOOT_RESET = 1, FB_BOOT_UPDATE = 2, FB_BOOT_ROLLBACK = 3 };
enum fb_update_state {
    FB_UPD_IDLE = 0,
    FB_UPD_RECEIVING = 1,
    FB_UPD_VERIFIED = 2,
    FB_UPD_TRIAL = 3,
    FB_UPD_CONFIRMED = 4
};
enum fb_update_result {
    FB_RES_OK = 0,
    FB_RES_HASH_MISMATCH = 1,
    FB_RES_BAD_OFFSET = 2,
    FB_RES_TOO_LARGE = 3,
    FB_RES_NO_UPDATE = 4,
    FB_RES_INCOMPLETE = 5,
    FB_RES_FLASH_ERROR = 6,
    FB_RES_IN_TRIAL = 7
};
enum fb_error_code {
    FB_ERR_UNKNOWN_TYPE = 1,
    FB_ERR_BAD_LENGTH = 2,
    FB_ERR_BAD_VERSION = 3,
    FB_ERR_UNKNOWN_KEY = 4,
    FB_ERR_BAD_VALUE = 5,
    FB_ERR_READ_ONLY = 6,
    FB_ERR_SENSOR_FAULT = 7
};
enum fb_config_key {
    FB_KEY_REPORT_INTERVAL_S = 1,
    FB_KEY_HEARTBEAT_S = 2,
    FB_KEY_LEVEL_OFFSET_MM = 3,
    FB_KEY_TRIAL_TIMEOUT_S = 4,
    FB_KEY_CHANNEL_COUNT = 5,
    FB_KEY_COUNT = 6 /* keys are 1..FB_KEY_COUNT-1 */
};
#define FB_STATUS_SENSOR_FAULT 0x01u
#define FB_STATUS_OUT_OF_RANGE 0x02u
#define FB_STATUS_NOT_CALIBRATED 0x04u

#endif
