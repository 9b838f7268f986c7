// Package modbus is the "modbus" device kind: one device is one slave (unit)
// on a Modbus TCP, RTU or RTU-over-TCP connection, read through a register
// map and written through commands.
//
// The register map (Config.Registers) names, for each metric, its table
// (coil, discrete_input, holding, input), its protocol address (0-based),
// its type (bool, int16 … float64, string of N registers), its byte and word
// order, its scale, offset and unit, and optionally a bit within a register.
// Reads of nearby registers are batched (Plan) into as few requests as
// MaxRegisters and MaxGap allow.
//
// Devices that name the same rtu:// port or rtuovertcp:// gateway share one
// connection through a Pool: one transaction at a time, in the order the
// devices asked (FIFO), with the library keeping the 3.5-character
// inter-frame gap. Transport is github.com/simonvetter/modbus.
package modbus
