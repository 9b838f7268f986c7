package mqttload

import (
	"math/bits"
	"slices"
)

// idsPerClient is the id space of one client: ID(client, i) = client*idsPerClient + i.
const idsPerClient = 1_000_000_000

// MaxClient is the largest client number; it keeps every id below 2^53.
const MaxClient = 9_000_000

// ProbeClient is the client number of the probe messages the scenarios
// publish to check that the path to the cloud is up. The Collector keeps
// probe ids apart: they never count towards Wait or Stats.Unique.
const ProbeClient = 999_999

// ID returns the id of message i (0 ≤ i < 1e9) of client (0 ≤ client ≤ MaxClient).
func ID(client, i int) int64 { return int64(client)*idsPerClient + int64(i) }

// SplitID returns the client and message number of id.
func SplitID(id int64) (client, i int) {
	return int(id / idsPerClient), int(id % idsPerClient)
}

// IDSet is a set of message ids: one bitmap per client. The zero value is
// an empty set ready to use. It is not safe for concurrent use.
type IDSet struct {
	bits map[int][]uint64
	n    int
}

// Add adds id and reports whether it was new. Negative ids and ids of
// clients above MaxClient are not added.
func (s *IDSet) Add(id int64) bool {
	if id < 0 || id/idsPerClient > MaxClient {
		return false
	}
	c, i := SplitID(id)
	if s.bits == nil {
		s.bits = make(map[int][]uint64)
	}
	w := s.bits[c]
	if i/64 >= len(w) {
		w = slices.Grow(w, i/64+1-len(w))[:i/64+1]
		s.bits[c] = w
	}
	m := uint64(1) << (i % 64)
	if w[i/64]&m != 0 {
		return false
	}
	w[i/64] |= m
	s.n++
	return true
}

// Has reports whether id is in the set.
func (s *IDSet) Has(id int64) bool {
	if s == nil || id < 0 {
		return false
	}
	c, i := SplitID(id)
	w := s.bits[c]
	return i/64 < len(w) && w[i/64]&(1<<(i%64)) != 0
}

// Len returns the number of ids in the set.
func (s *IDSet) Len() int {
	if s == nil {
		return 0
	}
	return s.n
}

// AddSet adds every id of o to s.
func (s *IDSet) AddSet(o *IDSet) {
	if o == nil {
		return
	}
	for c, ow := range o.bits {
		if s.bits == nil {
			s.bits = make(map[int][]uint64)
		}
		w := s.bits[c]
		if len(ow) > len(w) {
			w = slices.Grow(w, len(ow)-len(w))[:len(ow)]
			s.bits[c] = w
		}
		for k, x := range ow {
			s.n += bits.OnesCount64(x &^ w[k])
			w[k] |= x
		}
	}
}

// Clone returns a copy of s.
func (s *IDSet) Clone() *IDSet {
	c := &IDSet{}
	c.AddSet(s)
	return c
}

// Missing returns, in ascending order, the ids of s that are not in o.
func (s *IDSet) Missing(o *IDSet) []int64 {
	var out []int64
	s.eachWord(o, func(c, k int, x uint64) {
		for x != 0 {
			b := bits.TrailingZeros64(x)
			out = append(out, ID(c, k*64+b))
			x &= x - 1
		}
	})
	return out
}

// CountMissing returns how many ids of s are not in o.
func (s *IDSet) CountMissing(o *IDSet) int {
	n := 0
	s.eachWord(o, func(_, _ int, x uint64) { n += bits.OnesCount64(x) })
	return n
}

// IDs returns the ids in ascending order.
func (s *IDSet) IDs() []int64 { return s.Missing(nil) }

// eachWord calls f, in ascending order of client and word, for every
// non-zero word of s with the bits of o cleared.
func (s *IDSet) eachWord(o *IDSet, f func(client, word int, x uint64)) {
	if s == nil {
		return
	}
	clients := make([]int, 0, len(s.bits))
	for c := range s.bits {
		clients = append(clients, c)
	}
	slices.Sort(clients)
	for _, c := range clients {
		var ow []uint64
		if o != nil {
			ow = o.bits[c]
		}
		for k, x := range s.bits[c] {
			if k < len(ow) {
				x &^= ow[k]
			}
			if x != 0 {
				f(c, k, x)
			}
		}
	}
}
