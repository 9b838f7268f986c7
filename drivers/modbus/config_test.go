package modbus

import (
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func decodeConfig(t *testing.T, src string) Config {
	t.Helper()
	var c Config
	dec := yaml.NewDecoder(strings.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("yaml: %v", err)
	}
	return c
}

func TestValidateNamesTheFieldOfEveryMistake(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       []string
	}{
		{"no url", `registers: [{metric: v, table: holding, address: 0}]`, []string{"options.url: missing"}},
		{"bad scheme", `{url: "tpc://x:502", registers: [{metric: v, table: holding, address: 0}]}`,
			[]string{`options.url: "tpc://" is not a Modbus connection`, "did you mean tcp?"}},
		{"rtu relative", `{url: "rtu://ttyUSB0", registers: [{metric: v, table: holding, address: 0}]}`, []string{"options.url:", "absolute path"}},
		{"rtuovertcp no port", `{url: "rtuovertcp://gw", registers: [{metric: v, table: holding, address: 0}]}`, []string{"options.url:", "has no port"}},
		{"unit on rtu", `{url: "rtu:///dev/ttyUSB0", unit: 0, registers: [{metric: v, table: holding, address: 0}]}`, []string{"options.unit: 0 is not a slave id: use 1 to 247"}},
		{"parity", `{url: "rtu:///dev/ttyUSB0", parity: mark, registers: [{metric: v, table: holding, address: 0}]}`, []string{"options.parity:"}},
		{"serial on tcp", `{url: "tcp://h:502", stop_bits: 1, registers: [{metric: v, table: holding, address: 0}]}`, []string{"options.stop_bits: only rtu://"}},
		{"max registers", `{url: "tcp://h", max_registers: 200, registers: [{metric: v, table: holding, address: 0}]}`, []string{"options.max_registers: 200 is out of range"}},
		{"no registers", `{url: "tcp://h"}`, []string{"options.registers: no registers"}},
		{"table", `{url: "tcp://h", registers: [{metric: v, table: holdng, address: 0}]}`, []string{`options.registers[0].table: "holdng" is not a table`, "did you mean holding?"}},
		{"type", `{url: "tcp://h", registers: [{metric: v, table: holding, address: 0, type: flaot32}]}`, []string{`options.registers[0].type: "flaot32" is not a type`, "did you mean float32?"}},
		{"address out of range", `{url: "tcp://h", registers: [{metric: v, table: holding, address: 70000}]}`, []string{"options.registers[0].address: 70000 is out of range"}},
		{"address end out of range", `{url: "tcp://h", registers: [{metric: v, table: holding, address: 65534, type: float64}]}`, []string{"options.registers[0].address: 65534: a float64 of 4 registers ends past 65535"}},
		{"no address", `{url: "tcp://h", registers: [{metric: v, table: holding}]}`, []string{"options.registers[0].address: missing"}},
		{"string length 0", `{url: "tcp://h", registers: [{metric: v, table: holding, address: 0, type: string}]}`, []string{"options.registers[0].length: a string needs its length"}},
		{"float32 odd count", `{url: "tcp://h", registers: [{metric: v, table: holding, address: 0, type: float32, length: 3}]}`, []string{"options.registers[0].length: a float32 is 2 register(s), not 3"}},
		{"byte order did you mean", `{url: "tcp://h", registers: [{metric: v, table: holding, address: 0, type: float32, byte_order: ABDC}]}`,
			[]string{`options.registers[0].byte_order: "ABDC" is not a byte order`, "(did you mean ABCD?)"}},
		{"byte order CDBA", `{url: "tcp://h", registers: [{metric: v, table: holding, address: 0, type: float32, byte_order: CDBA}]}`, []string{"did you mean"}},
		{"word order", `{url: "tcp://h", registers: [{metric: v, table: holding, address: 0, type: float32, word_order: lowfirst}]}`, []string{`options.registers[0].word_order: "lowfirst"`, "did you mean low_first?"}},
		{"both orders", `{url: "tcp://h", registers: [{metric: v, table: holding, address: 0, type: float32, byte_order: CDAB, word_order: little}]}`, []string{"options.registers[0].word_order: byte_order CDAB already sets"}},
		{"device byte order", `{url: "tcp://h", byte_order: XYZW, registers: [{metric: v, table: holding, address: 0}]}`, []string{`options.byte_order: "XYZW"`}},
		{"overlap", `{url: "tcp://h", registers: [{metric: a, table: holding, address: 10, type: float32}, {metric: b, table: holding, address: 11}]}`,
			[]string{"options.registers[1].address: holding 11 overlaps registers[0] (holding 10..11, a)"}},
		{"duplicate metric", `{url: "tcp://h", registers: [{metric: a, table: holding, address: 1}, {metric: a, table: input, address: 1}]}`, []string{`options.registers[1].metric: "a" is already the metric of registers[0]`}},
		{"bit range", `{url: "tcp://h", registers: [{metric: a, table: holding, address: 1, bit: 16}]}`, []string{"options.registers[0].bit: 16 is not a bit"}},
		{"bit on coil", `{url: "tcp://h", registers: [{metric: a, table: coil, address: 1, bit: 1}]}`, []string{"options.registers[0].bit: a coil is already one bit"}},
		{"coil type", `{url: "tcp://h", registers: [{metric: a, table: coil, address: 1, type: uint16}]}`, []string{"options.registers[0].type: a coil is one bit"}},
		{"writable input", `{url: "tcp://h", registers: [{metric: a, table: input, address: 1, writable: true}]}`, []string{"options.registers[0].writable: a input is read-only"}},
		{"writable bit", `{url: "tcp://h", registers: [{metric: a, table: holding, address: 1, bit: 3, writable: true}]}`, []string{"options.registers[0].writable: a bit within a register"}},
		{"safe not writable", `{url: "tcp://h", registers: [{metric: a, table: holding, address: 1, safe: 0}]}`, []string{"options.registers[0].safe: only a writable register"}},
		{"safe out of range", `{url: "tcp://h", registers: [{metric: a, table: holding, address: 1, writable: true, max: 50, safe: 60}]}`, []string{"options.registers[0].safe: 60 is above max 50"}},
		{"safe does not fit", `{url: "tcp://h", registers: [{metric: a, table: holding, address: 1, type: int16, scale: 0.01, writable: true, safe: 400}]}`, []string{"options.registers[0].safe: 400 does not fit a int16"}},
		{"scale 0", `{url: "tcp://h", registers: [{metric: a, table: holding, address: 1, scale: 0}]}`, []string{"options.registers[0].scale: 0 would make"}},
		{"min max", `{url: "tcp://h", registers: [{metric: a, table: holding, address: 1, writable: true, min: 5, max: 1}]}`, []string{"options.registers[0].max: 1 is below min (5)"}},
		{"string over max_registers", `{url: "tcp://h", max_registers: 2, registers: [{metric: s, table: holding, address: 0, type: string, length: 8}]}`, []string{"options.registers[0].length: 8 registers is more than max_registers (2)"}},
		{"close after poll on rtu", `{url: "rtu:///dev/ttyUSB0", close_after_poll: true, registers: [{metric: a, table: holding, address: 1}]}`, []string{"options.close_after_poll:"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := decodeConfig(t, tc.yaml).Validate()
			if err == nil {
				t.Fatal("Validate = nil")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, "options.") {
					t.Errorf("line %q names no option", line)
				}
			}
		})
	}
}

func TestValidAndDefaults(t *testing.T) {
	c := decodeConfig(t, `
url: tcp://127.0.0.1
byte_order: CDAB
registers:
  - {metric: v, table: input, address: 0, type: float32, unit: V}
  - {metric: e, table: input, address: 2, type: uint32, byte_order: ABCD, scale: 0.01, unit: kWh}
  - {metric: alarm, table: holding, address: 5, bit: 3}
  - {metric: fault, table: holding, address: 5, bit: 4}
  - {metric: run, table: coil, address: 0, writable: true, safe: 0}
  - {metric: name, table: holding, address: 10, type: string, length: 4}
  - {metric: raw, table: holding, address: 20, byte_order: little, word_order: little, type: int32}
`)
	s, err := c.compile()
	if err != nil {
		t.Fatal(err)
	}
	if s.addr != "127.0.0.1:502" || s.unit != 1 || s.timeout != DefaultTimeout || s.maxRegs != 125 || s.maxGap != DefaultMaxGap || !s.batch {
		t.Fatalf("defaults: %+v", s)
	}
	want := []Order{{WordSwap: true}, {}, {WordSwap: true}, {WordSwap: true}, {WordSwap: true}, {WordSwap: true}, {ByteSwap: true, WordSwap: true}}
	for i, f := range s.fields {
		if f.order != want[i] {
			t.Errorf("%s order %v, want %v", f.metric, f.order, want[i])
		}
	}
	if s.fields[2].typ != Bool || s.fields[2].bit != 3 || s.fields[4].typ != Bool || s.fields[5].count != 4 {
		t.Fatalf("fields: %+v", s.fields)
	}
}

func TestTableRefsUseTheConventionalNumbers(t *testing.T) {
	for _, tc := range []struct {
		t    Table
		addr uint16
		want string
	}{{Holding, 0, "holding 40001"}, {Input, 99, "input 30100"}, {Coil, 0, "coil 00001"}, {DiscreteInput, 9, "discrete_input 10010"}, {Holding, 20000, "holding 420001"}} {
		if got := tc.t.ref(tc.addr); got != tc.want {
			t.Errorf("ref = %q, want %q", got, tc.want)
		}
	}
}
