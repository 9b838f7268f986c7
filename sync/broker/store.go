package broker

import (
	"strconv"
	"strings"

	"github.com/mochi-mqtt/server/v2/hooks/storage"
	"github.com/mochi-mqtt/server/v2/hooks/storage/bolt"
)

// boltStore is mochi's bbolt store with one fix. mochi v2.7.9 does not
// save a queued message's packet id (storage.Message.PacketID stays 0), so
// after a restart every message queued for a persistent session collapsed
// into one under id 0, and resending it failed ("missing packet id") on
// every reconnect of that client. The id is in the record's key
// ("IFM_<client>:<id>"); it is restored from there.
type boltStore struct {
	*bolt.Hook
}

// StoredInflightMessages returns the queued messages with their packet ids.
func (s *boltStore) StoredInflightMessages() ([]storage.Message, error) {
	v, err := s.Hook.StoredInflightMessages()
	for i := range v {
		if v[i].PacketID != 0 {
			continue
		}
		if j := strings.LastIndexByte(v[i].ID, ':'); j >= 0 {
			if id, perr := strconv.ParseUint(v[i].ID[j+1:], 10, 16); perr == nil {
				v[i].PacketID = uint16(id)
			}
		}
	}
	return v, err
}
