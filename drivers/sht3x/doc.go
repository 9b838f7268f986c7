// Package sht3x is the "sht3x" device kind: a Sensirion SHT30/SHT31/SHT35
// temperature and humidity sensor on I2C (address 0x44, or 0x45 with ADDR
// high).
//
// Each Read sends a single-shot measurement command without clock
// stretching (0x2400, 0x240B or 0x2416 for high, medium or low
// repeatability), waits the datasheet's maximum measurement time and reads
// the 6-byte result: temperature word, CRC, humidity word, CRC. Both CRC-8s
// (polynomial 0x31, init 0xFF) are checked; a frame that fails its check is
// an error, never a reading. Clock stretching is avoided on purpose: the
// Raspberry Pi's I2C controller mishandles it.
//
// New sends a soft reset (0x30A2), which also proves the sensor answers at
// its address; Reset sends one on demand.
//
// Readings: "temperature" in C and "humidity" in %RH.
package sht3x
