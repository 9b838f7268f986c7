package progress

import (
	"fmt"
	"io"
	"strings"
)

// width is the number of cells between the brackets of the bar.
const width = 30

// Bar returns a func that draws a one-line progress bar for label on w,
// redrawing it in place with '\r':
//
//	label [=============>                ]  45% 5.4/12.0 MiB
//
// With total < 0 (unknown) it shows the bytes only ("label 5.4 MiB"). The
// call with done == total (total >= 0) ends the line with a newline. The
// func suits the progress argument of artifacts.Store.Fetch; it is not safe
// for concurrent use.
func Bar(w io.Writer, label string) func(done, total int64) {
	prev := 0 // length of the last line, to blank out what it leaves
	return func(done, total int64) {
		var line string
		if total < 0 {
			line = fmt.Sprintf("%s %s", label, Bytes(done))
		} else {
			done = min(max(done, 0), total)
			frac := 1.0
			if total > 0 {
				frac = float64(done) / float64(total)
			}
			line = fmt.Sprintf("%s [%s] %3d%% %s", label, bar(frac), int(frac*100), pair(done, total))
		}
		pad := ""
		if n := len(line); n < prev {
			pad = strings.Repeat(" ", prev-n)
		}
		prev = len(line)
		end := ""
		if total >= 0 && done == total {
			end = "\n"
			prev = 0
		}
		fmt.Fprintf(w, "\r%s%s%s", line, pad, end)
	}
}

// bar draws frac (0 to 1) of the bar: '=' cells with a '>' at the head
// while it is not full.
func bar(frac float64) string {
	n := int(frac * width)
	if n >= width {
		return strings.Repeat("=", width)
	}
	if n == 0 {
		return ">" + strings.Repeat(" ", width-1)
	}
	return strings.Repeat("=", n-1) + ">" + strings.Repeat(" ", width-n)
}

// units are the binary prefixes Bytes uses.
var units = []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}

// unit returns the largest unit index that n reaches, and its size.
func unit(n int64) (int, float64) {
	i, size := 0, 1.0
	for f := float64(n); f >= 1024 && i < len(units)-1; f /= 1024 {
		i++
		size *= 1024
	}
	return i, size
}

// Bytes formats n with a binary unit and one decimal: "512 B", "1.5 KiB",
// "3.1 MiB".
func Bytes(n int64) string {
	if n < 0 {
		return "-" + Bytes(-n)
	}
	i, size := unit(n)
	if i == 0 {
		return fmt.Sprintf("%d B", n)
	}
	return fmt.Sprintf("%.1f %s", float64(n)/size, units[i])
}

// pair formats done of total in total's unit: "3.1/12.0 MiB".
func pair(done, total int64) string {
	i, size := unit(total)
	if i == 0 {
		return fmt.Sprintf("%d/%d B", done, total)
	}
	return fmt.Sprintf("%.1f/%.1f %s", float64(done)/size, float64(total)/size, units[i])
}
