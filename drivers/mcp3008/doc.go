// Package mcp3008 is the "mcp3008" device kind: a Microchip MCP3008
// 8-channel 10-bit ADC on SPI, read channel by channel, each channel scaled
// to engineering units of its own.
//
// Each conversion is one 3-byte SPI frame as in the datasheet's figure 6-1:
// the MCU sends 0x01 (the start bit), then SGL/DIFF and D2–D0 in the top
// nibble of the second byte, then a padding byte; the reply carries a null
// bit (always 0) in bit 2 of the second byte, B9–B8 in its low two bits and
// B7–B0 in the third byte. A reply whose null bit is 1 is an error (no chip
// driving MISO, or a bus fault), never a reading. A missing chip with MISO
// pulled low reads as 0 V and cannot be told apart.
//
// Inputs are ch0–ch7 (single-ended) or a pseudo-differential pair ch0-ch1,
// ch1-ch0, ch2-ch3, ch3-ch2, ch4-ch5, ch5-ch4, ch6-ch7, ch7-ch6 (IN+ first;
// a negative difference reads 0). The value in volts is code × vref / 1024.
//
// The driver connects to the port in SPI mode 0 at 1 MHz, within the chip's
// limit at 2.7 V (1.35 MHz).
package mcp3008
