// Package busname parses the bus and pin names users write in edged's
// configuration (i2c1, I2C1, /dev/i2c-1; spi0.0; GPIO17, 17) for both the
// host (package hardware) and the simulated board (hardware/sim).
package busname
