// Package bme280 is the "bme280" device kind: a Bosch BME280 temperature,
// pressure and humidity sensor (or a BMP280, which has no humidity) on I2C
// at 0x76 or 0x77, or on SPI. It wraps periph.io/x/devices/v3/bmxx80, which
// reads the chip id and calibration, configures oversampling and the IIR
// filter, and does the datasheet's integer compensation.
//
// Readings: "temperature" in C, "pressure" in hPa (hectopascal, the unit of
// weather reports; 1 hPa = 100 Pa = 1 mbar) and "humidity" in %RH. A
// quantity whose oversampling is off is not reported.
//
// Without a standby time each Read triggers one forced-mode measurement and
// takes the measurement time (about 26 ms at the default 4x oversampling,
// up to 113 ms at 16x). With filter and standby set the chip runs in normal
// mode, measuring on its own every standby period through its IIR filter,
// and Read only fetches the latest filtered values.
//
// What this package adds to bmxx80, which users of it and of other BME280
// drivers have tripped over:
//   - bmxx80 polls the status register in a tight loop with no bound, so a
//     chip that stays "measuring" (or a bus stuck high) would spin a core
//     forever. The driver sits between bmxx80 and the bus: it sleeps 1 ms
//     between status polls, gives up after 100 and stops the measurement's
//     bus traffic when the Read's context ends.
//   - A data register still holding its reset value (0x80000 for
//     temperature and pressure, 0x8000 for humidity) means no measurement
//     was made; compensated, it looks like a plausible 26 °C. It is an
//     error, as is any value outside the sensor's range (-40–85 °C,
//     300–1100 hPa, 0–100 %RH).
//   - bmxx80 formats its errors with %v; the driver reports the bus's own
//     error with %w, naming the device, bus and address.
//   - The IIR filter only runs in normal mode, so filter without standby is
//     refused instead of being silently ignored.
package bme280
