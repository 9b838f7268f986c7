// Package sim is a simulated board: I²C buses, SPI ports and GPIO pins that
// implement periph's conn interfaces, with register-level models of a
// BME280 (on I²C or SPI), an ADS1115, an MCP3008 and an SHT3x on them. The
// real drivers, periph's own (periph.io/x/devices/v3/bmxx80, ads1x15) and
// edged's, run against it unchanged, so edged runs, is demonstrated and is
// tested without hardware. The config `hardware: {board: sim}` selects it.
//
// Each chip answers its datasheet's transactions: registers, commands,
// checksums, NACKs. Its physical inputs (temperature, pressure, humidity,
// volts) follow the deterministic waveforms of package waveform, evaluated
// at the board clock, which tests fix with WithClock to assert exact
// values. Measurements complete at once, so no driver waits on the
// simulation. Fault knobs make drivers' error paths testable: every chip
// can fail its next transactions (FailNext) or vanish from the bus
// (SetAbsent), and the SHT3x can corrupt its checksums (CorruptCRC).
//
// A test uses the board's handles directly:
//
//	clock := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
//	board, err := sim.New(sim.Config{}, sim.WithClock(func() time.Time { return clock }))
//	if err != nil { ... }
//	bus, err := board.I2C("i2c1")         // i2c.BusCloser
//	port, err := board.SPI("spi0.0")      // spi.PortCloser
//	pin, err := board.Pin("GPIO17")       // gpio.PinIO, plus SetLevel, Level, History, PWMSetting
//	chip, err := board.Chip("i2c1", 0x44) // sim.Chip: Kind, FailNext, SetAbsent
//	chip.(sim.CRCCorrupter).CorruptCRC(1)    // or chip.(*sim.SHT3x)
//	want, _ := chip.(*sim.SHT3x).Value("temperature", clock)
//
// The daemon registers the board in periph's registries instead, so that
// names resolve the same way as on real hardware:
//
//	if err := board.Register(); err != nil { ... }
//	defer board.Unregister()
//	bus, err := i2creg.Open("i2c1")
//
// The zero Config gives DefaultConfig: a bme280 (0x76), an ads1115 (0x48)
// and an sht3x (0x44) on i2c1, an mcp3008 on spi0.0, a bme280 on spi0.1,
// GPIO17 following a 2 s square wave, GPIO27 for a relay and GPIO18 for
// PWM.
//
// This package imports periph's conn packages, never its host drivers, and
// nothing of edged but package waveform.
package sim
