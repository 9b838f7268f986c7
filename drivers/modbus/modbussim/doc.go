// Package modbussim is the "modbus-sim" device kind: a Modbus TCP slave on
// a loopback port serving simulated devices (an energy meter and a VFD
// whose values follow waveforms), so the modbus driver runs end to end
// with no hardware. Its own reading is the number of requests it served.
package modbussim
