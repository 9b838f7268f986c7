// Package ads1115 is the "ads1115" device kind: a TI ADS1115 16-bit
// 4-input ADC on I2C (address 0x48–0x4B), read input by input, each input
// scaled to engineering units of its own.
//
// Every conversion is single-shot, as the datasheet (section 9.3.3)
// describes: write the config register (pointer 0x01) with OS=1, the input
// multiplexer, the PGA gain, MODE=single and the data rate; wait one
// conversion period (1/data rate); read the config register until OS reads
// 1 (conversion done), then read the conversion register (pointer 0x00), a
// big-endian two's-complement code. volts = code × FSR / 32768.
//
// This is our own register code rather than a wrapper of
// periph.io/x/devices/v3/ads1x15: that driver sleeps exactly 1/data rate
// and reads the result without checking OS, which returns the previous
// conversion whenever the chip's oscillator runs slow (the datasheet allows
// 10%), a failure users of several ADS1x15 libraries have reported; it
// also cannot be cancelled and takes gain as a voltage.
//
// Inputs are ch0–ch3 (single-ended, against GND) or the differential pairs
// the multiplexer offers: ch0-ch1, ch0-ch3, ch1-ch3, ch2-ch3. Gains are
// 2/3, 1, 2, 4, 8 and 16, for full-scale ranges of ±6.144, ±4.096, ±2.048,
// ±1.024, ±0.512 and ±0.256 V; no input may exceed VDD+0.3 V whatever the
// range. Data rates are 8, 16, 32, 64, 128, 250, 475 and 860 samples/s.
package ads1115
