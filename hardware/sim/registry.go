package sim

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/i2c/i2creg"
	"periph.io/x/conn/v3/spi"
	"periph.io/x/conn/v3/spi/spireg"
)

// registration records what Register put in periph's registries, so
// Unregister removes exactly that.
type registration struct {
	i2c     []string
	spi     []string
	pins    []string
	aliases []string // gpioreg aliases: "17" for GPIO17
}

// Register puts the board's buses, ports and pins in periph's registries,
// so i2creg.Open, spireg.Open and gpioreg.ByName (and package hardware's
// name resolution) find them:
//
//   - I²C bus i2c1 under the name "i2c1", with the alias "I2C1" and bus
//     number 1 when no other bus has them;
//   - SPI port spi0.0 under "spi0.0", with the alias "SPI0.0" and number 0
//     (chip select 0 only, as sysfs-spi does) when free;
//   - pin GPIO17 under "GPIO17", with the alias "17" when free.
//
// Registering a registered board again does nothing. When a name is taken
// (periph's host drivers registered a real GPIO17, or another board is
// registered) Register undoes what it did and returns periph's error.
// The registries are global to the process: tests that register boards
// must not run in parallel with each other.
func (b *Board) Register() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.reg != nil {
		return nil
	}
	reg := &registration{}
	if err := b.register(reg); err != nil {
		return errors.Join(err, reg.undo())
	}
	b.reg = reg
	return nil
}

func (b *Board) register(reg *registration) error {
	names, numbers := taken(i2cRefs())
	for _, name := range b.I2CBuses() {
		bus := b.i2c[name]
		alias, number := freeAlias(strings.ToUpper(name), names), freeNumber(bus.number, numbers)
		open := func() (i2c.BusCloser, error) { return b.I2C(name) }
		if err := i2creg.Register(name, alias, number, open); err != nil {
			return fmt.Errorf("sim: register %s in i2creg: %w", name, err)
		}
		reg.i2c = append(reg.i2c, name)
	}
	names, numbers = taken(spiRefs())
	for _, name := range b.SPIPorts() {
		p := b.spi[name]
		number := -1
		if p.cs == 0 {
			number = freeNumber(p.bus, numbers)
		}
		open := func() (spi.PortCloser, error) { return b.SPI(name) }
		if err := spireg.Register(name, freeAlias(strings.ToUpper(name), names), number, open); err != nil {
			return fmt.Errorf("sim: register %s in spireg: %w", name, err)
		}
		reg.spi = append(reg.spi, name)
	}
	for _, name := range b.Pins() {
		p := b.pins[name]
		if err := gpioreg.Register(p); err != nil {
			return fmt.Errorf("sim: register %s in gpioreg: %w", name, err)
		}
		reg.pins = append(reg.pins, name)
		num := strconv.Itoa(p.number)
		if gpioreg.ByName(num) == nil {
			if err := gpioreg.RegisterAlias(num, name); err != nil {
				return fmt.Errorf("sim: register alias %s of %s in gpioreg: %w", num, name, err)
			}
			reg.aliases = append(reg.aliases, num)
		}
	}
	return nil
}

// Unregister removes from periph's registries what Register put there.
// Unregistering a board that is not registered does nothing.
func (b *Board) Unregister() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.reg == nil {
		return nil
	}
	err := b.reg.undo()
	b.reg = nil
	return err
}

// Registered reports whether the board is in periph's registries.
func (b *Board) Registered() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.reg != nil
}

func (r *registration) undo() error {
	var errs []error
	for _, n := range r.i2c {
		errs = append(errs, i2creg.Unregister(n))
	}
	for _, n := range r.spi {
		errs = append(errs, spireg.Unregister(n))
	}
	for _, n := range r.aliases {
		errs = append(errs, gpioreg.Unregister(n))
	}
	for _, n := range r.pins {
		errs = append(errs, gpioreg.Unregister(n))
	}
	*r = registration{}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sim: unregister: %w", err)
	}
	return nil
}

// ref is what i2creg.Ref and spireg.Ref have in common.
type ref struct {
	name    string
	aliases []string
	number  int
}

func i2cRefs() []ref {
	var out []ref
	for _, r := range i2creg.All() {
		out = append(out, ref{r.Name, r.Aliases, r.Number})
	}
	return out
}

func spiRefs() []ref {
	var out []ref
	for _, r := range spireg.All() {
		out = append(out, ref{r.Name, r.Aliases, r.Number})
	}
	return out
}

// taken returns the names (and aliases) and numbers refs use.
func taken(refs []ref) (map[string]bool, map[int]bool) {
	names, numbers := map[string]bool{}, map[int]bool{}
	for _, r := range refs {
		names[r.name] = true
		for _, a := range r.aliases {
			names[a] = true
		}
		numbers[r.number] = true
	}
	return names, numbers
}

func freeAlias(alias string, taken map[string]bool) []string {
	if taken[alias] {
		return nil
	}
	return []string{alias}
}

func freeNumber(n int, taken map[int]bool) int {
	if taken[n] {
		return -1
	}
	return n
}
