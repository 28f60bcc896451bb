package train

import (
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"sync"
	"time"
)

// Progress reports the advance of long work, such as the steps of an
// epoch, on a writer. On a terminal (w is an *os.File on a character
// device) it redraws one line in place with a bar, the count, the rate,
// the estimated time left and the fields set with Set, at most every
// Interval. Anywhere else (a log file, a pipe, a bytes.Buffer) it writes a
// plain line at each tenth of the work (Lines per run), so that logs stay
// readable. A Progress is safe for concurrent use.
//
//	bar := train.NewProgress(os.Stderr, "epoch 1/5", loader.Len())
//	for batch, err := range loader.All(ctx) {
//		…
//		bar.Set("loss", meanLoss.Value())
//		bar.Add(1)
//	}
//	bar.Finish()
type Progress struct {
	// Terminal selects the in-place redraw; NewProgress sets it when w is
	// a character device. Change it before the first Add.
	Terminal bool
	// Interval is the least time between two redraws on a terminal
	// (100 ms by default) and, when the total is unknown, between two
	// plain lines (10 s by default).
	Interval time.Duration
	// Lines is the number of plain lines written over a run whose total
	// is known, one at each 1/Lines of it; 10 by default.
	Lines int
	// Width is the width of the bar in characters; 30 by default.
	Width int
	// Unit names what is counted in the rate ("12.5 it/s"); "it" by
	// default.
	Unit string
	// Now returns the current time; nil means time.Now. Tests and
	// examples set it to get reproducible rates.
	Now func() time.Time

	mu       sync.Mutex
	w        io.Writer
	label    string
	total    int
	done     int
	start    time.Time
	started  bool
	lastDraw time.Time
	lastLine int // the last 1/Lines step written in plain mode
	fields   []field
	finished bool
}

type field struct {
	name  string
	value float64
	text  string
	isTxt bool
}

// NewProgress returns a Progress for total units of work (total ≤ 0 when
// the total is unknown), labelled label, that writes to w. A nil w makes
// a Progress that counts but writes nothing.
func NewProgress(w io.Writer, label string, total int) *Progress {
	p := &Progress{w: w, label: label, total: total, lastLine: -1}
	p.Terminal = IsTerminal(w)
	return p
}

// IsTerminal reports whether w is an *os.File open on a character device
// (a terminal), where Progress redraws its line in place. It uses the
// file's mode only, so /dev/null counts as one too, harmlessly.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || f == nil {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func (p *Progress) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

// Start sets the time the rate and the estimate count from; the first
// Add or Set calls it when it has not been called.
func (p *Progress) Start() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.startLocked()
}

func (p *Progress) startLocked() {
	if !p.started {
		p.started = true
		p.start = p.now()
	}
}

// Set shows a named value after the counts, as name=value with four
// significant digits; fields keep the order in which they were first set.
func (p *Progress) Set(name string, value float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.startLocked()
	p.setField(field{name: name, value: value})
}

// SetText shows a named text field, as name=text.
func (p *Progress) SetText(name, text string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.startLocked()
	p.setField(field{name: name, text: text, isTxt: true})
}

func (p *Progress) setField(f field) {
	for i := range p.fields {
		if p.fields[i].name == f.name {
			p.fields[i] = f
			return
		}
	}
	p.fields = append(p.fields, f)
}

// Add counts n more units of work done and redraws or writes a line when
// it is time.
func (p *Progress) Add(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.startLocked()
	p.done += n
	if p.w == nil || p.finished {
		return
	}
	now := p.now()
	if p.Terminal {
		if p.done == n || now.Sub(p.lastDraw) >= p.interval(100*time.Millisecond) || (p.total > 0 && p.done >= p.total) {
			p.lastDraw = now
			fmt.Fprintf(p.w, "\r%s\x1b[K", p.line(now, true))
		}
		return
	}
	if p.total > 0 {
		lines := p.Lines
		if lines <= 0 {
			lines = 10
		}
		step := int(int64(min(p.done, p.total)) * int64(lines) / int64(p.total))
		if step > p.lastLine && step > 0 {
			p.lastLine = step
			fmt.Fprintln(p.w, p.line(now, false))
		}
		return
	}
	if now.Sub(p.lastDraw) >= p.interval(10*time.Second) {
		p.lastDraw = now
		fmt.Fprintln(p.w, p.line(now, false))
	}
}

func (p *Progress) interval(def time.Duration) time.Duration {
	if p.Interval > 0 {
		return p.Interval
	}
	return def
}

// Done returns the units of work counted so far.
func (p *Progress) Done() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.done
}

// Elapsed returns the time since the progress started.
func (p *Progress) Elapsed() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.started {
		return 0
	}
	return p.now().Sub(p.start)
}

// Finish ends the report: on a terminal it draws the line a last time and
// ends it; elsewhere it writes a closing line with the count, the time
// taken, the rate and the fields. Later calls do nothing.
func (p *Progress) Finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.finished {
		return
	}
	p.startLocked()
	p.finished = true
	if p.w == nil {
		return
	}
	now := p.now()
	if p.Terminal {
		fmt.Fprintf(p.w, "\r%s\x1b[K\n", p.line(now, true))
		return
	}
	elapsed := now.Sub(p.start)
	var b strings.Builder
	fmt.Fprintf(&b, "%s: done %d in %s (%s)", p.label, p.done, formatDuration(elapsed), formatRate(p.rate(now), p.Unit))
	p.writeFields(&b)
	fmt.Fprintln(p.w, b.String())
}

func (p *Progress) rate(now time.Time) float64 {
	s := now.Sub(p.start).Seconds()
	if s <= 0 {
		return 0
	}
	return float64(p.done) / s
}

// line formats the current state: label, bar (on a terminal, with a known
// total), count, percentage, rate, time left and fields.
func (p *Progress) line(now time.Time, bar bool) string {
	var b strings.Builder
	b.WriteString(p.label)
	b.WriteString(": ")
	rate := p.rate(now)
	if p.total > 0 {
		frac := math.Min(float64(p.done)/float64(p.total), 1)
		if bar {
			width := p.Width
			if width <= 0 {
				width = 30
			}
			filled := int(frac * float64(width))
			b.WriteByte('[')
			b.WriteString(strings.Repeat("=", filled))
			if filled < width {
				b.WriteByte('>')
				b.WriteString(strings.Repeat(" ", width-filled-1))
			}
			b.WriteString("] ")
		}
		fmt.Fprintf(&b, "%d/%d %3.0f%% %s", p.done, p.total, 100*frac, formatRate(rate, p.Unit))
		if p.done < p.total {
			b.WriteString(" ETA ")
			if rate > 0 {
				b.WriteString(formatDuration(time.Duration(float64(p.total-p.done) / rate * float64(time.Second))))
			} else {
				b.WriteString("?")
			}
		}
	} else {
		fmt.Fprintf(&b, "%d %s", p.done, formatRate(rate, p.Unit))
	}
	p.writeFields(&b)
	return b.String()
}

func (p *Progress) writeFields(b *strings.Builder) {
	for _, f := range p.fields {
		if f.isTxt {
			fmt.Fprintf(b, " %s=%s", f.name, f.text)
		} else {
			fmt.Fprintf(b, " %s=%.4g", f.name, f.value)
		}
	}
}

// formatRate gives a rate per second, or per minute when it is slow.
func formatRate(r float64, unit string) string {
	if unit == "" {
		unit = "it"
	}
	if r >= 1 || r == 0 {
		return fmt.Sprintf("%.1f %s/s", r, unit)
	}
	return fmt.Sprintf("%.1f %s/min", r*60, unit)
}

// formatDuration gives d as 1h02m03s, 2m03s or 3.4s.
func formatDuration(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Hour:
		d = d.Round(time.Second)
		return fmt.Sprintf("%dm%02ds", int(d/time.Minute), int(d%time.Minute/time.Second))
	default:
		d = d.Round(time.Second)
		return fmt.Sprintf("%dh%02dm%02ds", int(d/time.Hour), int(d%time.Hour/time.Minute), int(d%time.Minute/time.Second))
	}
}
