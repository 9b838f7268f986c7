package modbus

import "slices"

// block is one read request: a run of addresses in one table and the
// fields it carries.
type block struct {
	table  Table
	addr   uint16
	count  int
	fields []int // indices into the device's fields
}

func (b block) end() int { return int(b.addr) + b.count - 1 }

// plan groups fields into as few reads as the limits allow: per table, in
// address order, a field joins the block before it when the unmapped gap
// between them is at most maxGap and the block stays within maxRegs (or
// maxBits). With batch false, only fields over the very same registers
// (bits of one register) share a read.
func plan(fs []field, idx []int, batch bool, maxRegs, maxBits, maxGap int) []block {
	order := slices.Clone(idx)
	slices.SortStableFunc(order, func(a, b int) int {
		if fs[a].table != fs[b].table {
			return int(fs[a].table) - int(fs[b].table)
		}
		return int(fs[a].addr) - int(fs[b].addr)
	})
	var out []block
	for _, i := range order {
		f := fs[i]
		if n := len(out); n > 0 {
			b := &out[n-1]
			limit := maxRegs
			if f.table.bits() {
				limit = maxBits
			}
			same := b.table == f.table && int(b.addr) == int(f.addr) && b.count == f.count
			near := b.table == f.table && int(f.addr)-b.end()-1 <= maxGap && max(b.end(), f.end())-int(b.addr)+1 <= limit
			if same || (batch && near) {
				b.count = max(b.end(), f.end()) - int(b.addr) + 1
				b.fields = append(b.fields, i)
				continue
			}
		}
		out = append(out, block{table: f.table, addr: f.addr, count: f.count, fields: []int{i}})
	}
	return out
}
