package data

import (
	"fmt"
	"io"
	"os"
	"time"
)

// progress reports the advance of a long job (a download) on w. On a
// terminal it redraws one line with a bar; elsewhere (a log file, a pipe)
// it writes a plain line at every tenth of the job, so logs stay readable.
type progress struct {
	w        io.Writer
	label    string
	total    int64 // -1 when unknown
	done     int64
	tty      bool
	start    time.Time
	lastDraw time.Time
	lastStep int64 // last tenth (or MiB step, when total is unknown) written
}

func newProgress(w io.Writer, label string, total int64) *progress {
	if w == nil {
		return nil
	}
	p := &progress{w: w, label: label, total: total, start: time.Now(), lastStep: -1}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	return p
}

// Write counts n bytes, so that a progress can sit in an io.TeeReader.
func (p *progress) Write(b []byte) (int, error) {
	p.add(int64(len(b)))
	return len(b), nil
}

func (p *progress) add(n int64) {
	if p == nil {
		return
	}
	p.done += n
	if p.tty {
		if now := time.Now(); now.Sub(p.lastDraw) >= 100*time.Millisecond {
			p.lastDraw = now
			p.draw()
		}
		return
	}
	step := p.done >> 23 // every 8 MiB when the total is unknown
	if p.total > 0 {
		step = 10 * p.done / p.total
	}
	if step > p.lastStep {
		p.lastStep = step
		fmt.Fprintf(p.w, "%s: %s\n", p.label, p.status())
	}
}

func (p *progress) status() string {
	rate := float64(p.done) / max(time.Since(p.start).Seconds(), 1e-3)
	if p.total > 0 {
		return fmt.Sprintf("%3d%% %s / %s, %s/s", 100*p.done/p.total, byteSize(p.done), byteSize(p.total), byteSize(int64(rate)))
	}
	return fmt.Sprintf("%s, %s/s", byteSize(p.done), byteSize(int64(rate)))
}

func (p *progress) draw() {
	bar := ""
	if p.total > 0 {
		const width = 30
		filled := int(width * p.done / p.total)
		bar = "[" + repeat('=', filled) + repeat(' ', width-filled) + "] "
	}
	fmt.Fprintf(p.w, "\r%s: %s%s\x1b[K", p.label, bar, p.status())
}

// finish ends the report with err's outcome.
func (p *progress) finish(err error) {
	if p == nil {
		return
	}
	if p.tty {
		p.draw()
		fmt.Fprintln(p.w)
	}
	if err != nil {
		fmt.Fprintf(p.w, "%s: failed: %v\n", p.label, err)
		return
	}
	fmt.Fprintf(p.w, "%s: done, %s in %.1fs\n", p.label, byteSize(p.done), time.Since(p.start).Seconds())
}

func repeat(c byte, n int) string {
	b := make([]byte, max(n, 0))
	for i := range b {
		b[i] = c
	}
	return string(b)
}

func byteSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
