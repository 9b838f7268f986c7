package sim

import (
	"errors"
	"testing"

	"periph.io/x/conn/v3"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/spi"
)

func TestSPIConnect(t *testing.T) {
	tests := []struct {
		name    string
		port    string
		f       physic.Frequency
		mode    spi.Mode
		bits    int
		wantErr string
	}{
		{"mode 0", "spi0.0", physic.MegaHertz, spi.Mode0, 8, ""},
		{"mode 3", "spi0.1", 10 * physic.MegaHertz, spi.Mode3, 8, ""},
		{"no speed", "spi0.0", 0, spi.Mode0, 8, ""},
		{"mode 1", "spi0.0", physic.MegaHertz, spi.Mode1, 8, "sim spi0.0: connect: mcp3008 supports Mode0 and Mode3, not Mode1"},
		{"half duplex", "spi0.0", physic.MegaHertz, spi.Mode0 | spi.HalfDuplex, 8,
			"sim spi0.0: connect: mode Mode0|HalfDuplex is not supported, use Mode0 or Mode3 without flags"},
		{"9 bits", "spi0.0", physic.MegaHertz, spi.Mode0, 9, "sim spi0.0: connect: 9 bits per word, the simulated chips use 8"},
		{"speed in Hz by mistake", "spi0.0", 10 * physic.Hertz, spi.Mode0, 8,
			"sim spi0.0: connect: invalid speed 10Hz, use 100Hz–1GHz (did you forget physic.MegaHertz?)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, _ := newBoard(t, Config{})
			port, err := b.SPI(tt.port)
			if err != nil {
				t.Fatal(err)
			}
			c, err := port.Connect(tt.f, tt.mode, tt.bits)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("Connect: %v\nwant %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.String() != tt.port || c.Duplex() != conn.Full || c.(conn.Limits).MaxTxSize() != 4096 {
				t.Fatalf("conn %s %s", c, c.Duplex())
			}
			if _, err := port.Connect(tt.f, tt.mode, tt.bits); err == nil {
				t.Fatal("second Connect accepted")
			}
		})
	}
}

func TestSPITx(t *testing.T) {
	tests := []struct {
		name    string
		w, r    []byte
		wantErr string
	}{
		{"same length", []byte{1, 0x80, 0}, make([]byte, 3), ""},
		{"write only", []byte{1, 0x80, 0}, nil, ""},
		{"read only", nil, make([]byte, 3), ""},
		{"empty", nil, nil, "sim spi0.0: tx: empty buffers"},
		{"lengths differ", []byte{1, 0x80, 0}, make([]byte, 2),
			"sim spi0.0: tx: when both w and r are used they must be the same size; got 3 and 2 bytes"},
		{"too long", make([]byte, 4097), nil, "sim spi0.0: tx: maximum length is 4096, got 4097 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, _ := newBoard(t, Config{})
			port, _ := b.SPI("spi0.0")
			c, _ := port.Connect(physic.MegaHertz, spi.Mode0, 8)
			err := c.Tx(tt.w, tt.r)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.wantErr {
				t.Fatalf("Tx: %q, want %q", got, tt.wantErr)
			}
		})
	}
}

func TestSPIPackets(t *testing.T) {
	b, _ := newBoard(t, Config{Chips: []ChipConfig{{Kind: KindMCP3008, Signals: map[string]Signal{"ch1": constant(1.65)}}}})
	port, _ := b.SPI("spi0.0")
	c, _ := port.Connect(physic.MegaHertz, spi.Mode0, 8)
	// A start byte and the rest, chip select held between them: one frame.
	r := make([]byte, 2)
	if err := c.TxPackets([]spi.Packet{{W: []byte{0x01}, KeepCS: true}, {W: []byte{0x90, 0x00}, R: r}}); err != nil {
		t.Fatal(err)
	}
	if r[0] != 0x02 || r[1] != 0x00 {
		t.Fatalf("one frame in two packets read % x, want 02 00", r)
	}
	// Without KeepCS the second packet is a new frame with no start bit.
	r = make([]byte, 2)
	if err := c.TxPackets([]spi.Packet{{W: []byte{0x01}}, {W: []byte{0x90, 0x00}, R: r}}); err != nil {
		t.Fatal(err)
	}
	if r[0] != 0x00 || r[1] != 0x00 {
		t.Fatalf("two frames read % x, want zeros", r)
	}
	if err := c.TxPackets([]spi.Packet{{W: []byte{1, 2}, R: make([]byte, 1)}}); err == nil {
		t.Fatal("TxPackets accepted packets of different lengths")
	}
}

func TestSPIPortHandle(t *testing.T) {
	b, _ := newBoard(t, Config{})
	port, _ := b.SPI("spi0.1")
	if err := port.LimitSpeed(0); err == nil {
		t.Fatal("LimitSpeed(0) accepted")
	}
	if err := port.LimitSpeed(2 * physic.MegaHertz); err != nil {
		t.Fatal(err)
	}
	c, err := port.Connect(10*physic.MegaHertz, spi.Mode3, 8)
	if err != nil {
		t.Fatal(err)
	}
	sc := c.(*SPIConn)
	if sc.Speed() != 2*physic.MegaHertz || sc.Mode() != spi.Mode3 {
		t.Fatalf("speed %s mode %s", sc.Speed(), sc.Mode())
	}
	port.FailNext(1)
	if err := c.Tx([]byte{0xD0, 0}, make([]byte, 2)); !errors.Is(err, ErrInjected) {
		t.Fatalf("Tx with a port fault: %v", err)
	}
	if err := port.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Tx([]byte{0xD0, 0}, make([]byte, 2)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Tx after Close: %v", err)
	}
	if _, err := port.Connect(0, spi.Mode0, 8); !errors.Is(err, ErrClosed) {
		t.Fatalf("Connect after Close: %v", err)
	}
	if err := port.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
