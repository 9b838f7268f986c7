package bme280

import (
	"errors"
	"fmt"

	"periph.io/x/conn/v3/physic"
)

// measurement is one set of compensated values in reading units.
type measurement struct {
	celsius, hPa, rh float64
}

// The sensor's operating range (datasheet table 1); anything outside is a
// fault, not weather.
const (
	minC, maxC     = -40, 85
	minHPa, maxHPa = 300, 1100
)

// Reset values of the data registers: a quantity that was not measured.
const (
	skippedTP = 0x80000
	skippedH  = 0x8000
)

// decode checks the raw data burst (press_msb … hum_lsb, 6 or 8 bytes) that
// bmxx80 compensated into e, and converts e to reading units. Only the
// quantities asked for are checked and converted.
func decode(raw []byte, e physic.Env, pressure, humidity bool) (measurement, error) {
	need := 6
	if humidity {
		need = 8
	}
	if len(raw) < need {
		return measurement{}, fmt.Errorf("data burst is %d bytes, want %d", len(raw), need)
	}
	if uint32(raw[3])<<12|uint32(raw[4])<<4|uint32(raw[5])>>4 == skippedTP {
		return measurement{}, errors.New("temperature register holds its reset value 0x80000: no measurement was made")
	}
	if pressure && uint32(raw[0])<<12|uint32(raw[1])<<4|uint32(raw[2])>>4 == skippedTP {
		return measurement{}, errors.New("pressure register holds its reset value 0x80000: no measurement was made")
	}
	if humidity && uint32(raw[6])<<8|uint32(raw[7]) == skippedH {
		return measurement{}, errors.New("humidity register holds its reset value 0x8000: no measurement was made")
	}
	m := measurement{
		celsius: float64(e.Temperature-physic.ZeroCelsius) / float64(physic.Kelvin),
		hPa:     float64(e.Pressure) / float64(100*physic.Pascal),
		rh:      float64(e.Humidity) / float64(physic.PercentRH),
	}
	if m.celsius < minC || m.celsius > maxC {
		return measurement{}, fmt.Errorf("temperature %.2f C is outside the sensor's %d..%d C (raw % x): bad calibration or a bus fault", m.celsius, minC, maxC, raw[3:6])
	}
	if pressure && (m.hPa < minHPa || m.hPa > maxHPa) {
		return measurement{}, fmt.Errorf("pressure %.2f hPa is outside the sensor's %d..%d hPa (raw % x): bad calibration or a bus fault", m.hPa, minHPa, maxHPa, raw[0:3])
	}
	if humidity && (m.rh < 0 || m.rh > 100) {
		return measurement{}, fmt.Errorf("humidity %.2f %%RH is outside 0..100 %%RH (raw % x)", m.rh, raw[6:8])
	}
	return m, nil
}
