// Package waveform generates deterministic physical values over time: sine,
// square, random walk and constant signals between a min and a max.
//
// A waveform is a pure function of time (the random walk of time and seed), so
// the same configuration gives the same value at the same instant on every
// run. The sim device kind reads from it, and the simulated board's chip
// models use it for the physical quantities they measure, which lets tests
// assert exact values. It imports only the standard library.
package waveform
