// Package hardware is edged's one door to the host's hardware: it loads
// periph's host drivers and reports what they found (Init, Report), tells a
// Raspberry Pi from a generic Linux machine (DetectBoard), and resolves the
// names a configuration uses, i2c1, spi0.0 and GPIO17, to periph handles
// (I2C, SPI, Pin), with errors that say how to enable a missing bus.
//
// Names resolve through periph's registries (i2creg, spireg, gpioreg), so
// they find the host's buses and, once registered, those of the simulated
// board of package hardware/sim. periph's own names work too: I2C1 and
// /dev/i2c-1, SPI0.0 and /dev/spidev0.0, and gpioreg's pin numbers (17).
//
// Config selects the board: auto (the default) uses the host and falls
// back to the simulated board when Init found no bus, host insists on the
// host, sim always simulates. A daemon does
//
//	rep, err := hardware.Init()
//	if err != nil { ... }
//	logger.Info("hardware", "report", rep)
//	if sel := cfg.Select(rep); sel.Sim {
//		logger.Warn("using the simulated board", "reason", sel.Reason)
//		board, err := sim.New(cfg.Sim)
//		...
//		if err := board.Register(); err != nil { ... }
//		defer board.Unregister()
//	}
//	bus, err := hardware.I2C("i2c1")
//
// periph's registries and host drivers are process-wide; this package keeps
// no state of its own.
package hardware
