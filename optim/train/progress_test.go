package train

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock advances by step at each call.
type fakeClock struct {
	t    time.Time
	step time.Duration
}

func (c *fakeClock) now() time.Time {
	c.t = c.t.Add(c.step)
	return c.t
}

func TestProgressPlainLines(t *testing.T) {
	var buf bytes.Buffer
	p := NewProgress(&buf, "epoch 1/3", 20)
	if p.Terminal {
		t.Fatal("a bytes.Buffer taken for a terminal")
	}
	clock := &fakeClock{t: time.Unix(0, 0), step: 500 * time.Millisecond}
	p.Now = clock.now
	p.Lines = 4
	for i := range 20 {
		p.Set("loss", 1/float64(i+1))
		p.Add(1)
	}
	p.Finish()
	p.Finish() // no second closing line
	p.Add(1)   // nor anything after it
	// The first Set starts the clock (at 0.5 s); each Add reads it,
	// advancing it 0.5 s, and so does Finish: 20 done in 10.5 s.
	want := strings.Join([]string{
		"epoch 1/3: 5/20  25% 2.0 it/s ETA 7.5s loss=0.2",
		"epoch 1/3: 10/20  50% 2.0 it/s ETA 5.0s loss=0.1",
		"epoch 1/3: 15/20  75% 2.0 it/s ETA 2.5s loss=0.06667",
		"epoch 1/3: 20/20 100% 2.0 it/s loss=0.05",
		"epoch 1/3: done 20 in 10.5s (1.9 it/s) loss=0.05",
		"",
	}, "\n")
	if buf.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", buf.String(), want)
	}
	if p.Done() != 21 {
		t.Errorf("Done() = %d, want 21", p.Done())
	}
}

func TestProgressTerminal(t *testing.T) {
	var buf bytes.Buffer
	p := NewProgress(&buf, "train", 10)
	p.Terminal = true
	p.Width = 10
	p.Unit = "batch"
	clock := &fakeClock{t: time.Unix(0, 0), step: 40 * time.Millisecond}
	p.Now = clock.now
	p.Start()
	for range 10 {
		p.Add(1)
	}
	p.SetText("phase", "eval")
	p.Finish()
	out := buf.String()
	draws := strings.Split(out, "\r")[1:]
	// The clock ticks 40 ms at each reading: Start at 40 ms, the Adds at
	// 80…440 ms, Finish at 480 ms. The first Add draws, then one at least
	// 100 ms after the last draw (the 4th and 7th), the last Add, and
	// Finish.
	if len(draws) != 5 {
		t.Errorf("%d redraws, want 5:\n%q", len(draws), out)
	}
	if want := "train: [=>        ] 1/10  10% 25.0 batch/s ETA 0.4s\x1b[K"; draws[0] != want {
		t.Errorf("first draw %q, want %q", draws[0], want)
	}
	last := draws[len(draws)-1]
	if want := "train: [==========] 10/10 100% 22.7 batch/s phase=eval\x1b[K\n"; last != want {
		t.Errorf("last draw %q, want %q", last, want)
	}
	if strings.Count(out, "\n") != 1 {
		t.Errorf("a terminal progress wrote %d newlines, want 1", strings.Count(out, "\n"))
	}
}

func TestProgressUnknownTotal(t *testing.T) {
	var buf bytes.Buffer
	p := NewProgress(&buf, "stream", 0)
	clock := &fakeClock{t: time.Unix(0, 0), step: 3 * time.Second}
	p.Now = clock.now
	p.Start()
	for range 10 {
		p.Add(5)
	}
	// a line at the first Add (6 s), then at least 10 s after the last:
	// at 18 s and 30 s
	want := "stream: 5 1.7 it/s\nstream: 25 1.7 it/s\nstream: 45 1.7 it/s\n"
	if buf.String() != want {
		t.Errorf("output %q, want %q", buf.String(), want)
	}
}

func TestProgressSlowRateAndLongETA(t *testing.T) {
	var buf bytes.Buffer
	p := NewProgress(&buf, "x", 1000)
	clock := &fakeClock{t: time.Unix(0, 0), step: 2 * time.Minute}
	p.Now = clock.now
	p.Lines = 1000
	p.Start()
	p.Add(1)
	if want := "x: 1/1000   0% 0.5 it/min ETA 33h18m00s\n"; buf.String() != want {
		t.Errorf("output %q, want %q", buf.String(), want)
	}
}

func TestProgressNilWriter(t *testing.T) {
	p := NewProgress(nil, "quiet", 3)
	p.Add(3)
	p.Finish()
	if p.Done() != 3 {
		t.Errorf("Done() = %d, want 3", p.Done())
	}
}

func TestProgressConcurrent(t *testing.T) {
	var buf bytes.Buffer
	p := NewProgress(&buf, "c", 400)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				p.Add(1)
				p.Set("x", 1)
			}
		}()
	}
	wg.Wait()
	p.Finish()
	if p.Done() != 400 || strings.Count(buf.String(), "\n") != 11 {
		t.Errorf("Done() = %d and %d lines, want 400 and 11:\n%s", p.Done(), strings.Count(buf.String(), "\n"), buf.String())
	}
}

func TestIsTerminal(t *testing.T) {
	regular, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer regular.Close()
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	var nilFile *os.File
	for _, tc := range []struct {
		name string
		w    any
		want bool
	}{
		{"bytes.Buffer", &bytes.Buffer{}, false},
		{"regular file", regular, false},
		{"character device " + os.DevNull, null, true},
		{"nil *os.File", nilFile, false},
	} {
		w, _ := tc.w.(interface{ Write([]byte) (int, error) })
		if got := IsTerminal(w); got != tc.want {
			t.Errorf("%s: IsTerminal = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{-time.Second, "0s"},
		{0, "0.0s"},
		{1500 * time.Millisecond, "1.5s"},
		{59*time.Second + 960*time.Millisecond, "60.0s"},
		{61 * time.Second, "1m01s"},
		{time.Hour + 2*time.Minute + 3*time.Second, "1h02m03s"},
	} {
		if got := formatDuration(tc.d); got != tc.want {
			t.Errorf("formatDuration(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}
