package modbus

import (
	"fmt"
	"testing"
)

func fieldsAt(t *testing.T, table string, addrs ...int) []field {
	t.Helper()
	c := Config{URL: "tcp://h"}
	for i, a := range addrs {
		a := a
		c.Registers = append(c.Registers, Register{Metric: fmt.Sprint("m", i), Table: table, Address: &a})
	}
	s, err := c.compile()
	if err != nil {
		t.Fatal(err)
	}
	return s.fields
}

func all(fs []field) []int {
	idx := make([]int, len(fs))
	for i := range idx {
		idx[i] = i
	}
	return idx
}

func TestPlanJoinsNearbyRegistersWithinTheLimits(t *testing.T) {
	fs := fieldsAt(t, "holding", 0, 1, 2, 10, 30, 31, 200)
	for _, tc := range []struct {
		name            string
		batch           bool
		maxRegs, maxGap int
		want            string
	}{
		{"gap 10", true, 125, 10, "[0+11 30+2 200+1]"},
		{"gap 0", true, 125, 0, "[0+3 10+1 30+2 200+1]"},
		{"gap 30 joins all but 200", true, 125, 30, "[0+32 200+1]"},
		{"max 5 registers", true, 5, 124, "[0+3 10+1 30+2 200+1]"},
		{"batch off", false, 125, 10, "[0+1 1+1 2+1 10+1 30+1 31+1 200+1]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bs := plan(fs, all(fs), tc.batch, tc.maxRegs, 2000, tc.maxGap)
			got := "["
			for i, b := range bs {
				if i > 0 {
					got += " "
				}
				got += fmt.Sprintf("%d+%d", b.addr, b.count)
			}
			if got += "]"; got != tc.want {
				t.Fatalf("plan = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestPlanKeepsTablesApartAndBitsOfARegisterTogether(t *testing.T) {
	zero, one, five := 0, 1, 5
	c := Config{URL: "tcp://h", Batch: new(bool), Registers: []Register{
		{Metric: "a", Table: "holding", Address: &five, Bit: &zero},
		{Metric: "b", Table: "holding", Address: &five, Bit: &one},
		{Metric: "c", Table: "input", Address: &five},
		{Metric: "d", Table: "coil", Address: &five},
	}}
	s, err := c.compile()
	if err != nil {
		t.Fatal(err)
	}
	bs := plan(s.fields, all(s.fields), s.batch, 125, 2000, 10)
	if len(bs) != 3 || len(bs[1].fields) != 2 || bs[1].table != Holding {
		t.Fatalf("plan = %+v", bs)
	}
}

func TestPlanNeverExceedsTheLimit(t *testing.T) {
	var addrs []int
	for a := 0; a < 1000; a += 3 {
		addrs = append(addrs, a)
	}
	fs := fieldsAt(t, "input", addrs...)
	for _, max := range []int{1, 7, 125} {
		for _, b := range plan(fs, all(fs), true, max, 2000, 10) {
			if b.count > max {
				t.Fatalf("max %d: block %d+%d", max, b.addr, b.count)
			}
		}
	}
}
