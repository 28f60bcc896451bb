package train

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/tapir-ml/tapir/tensor/safetensors"
)

// Point is one value of a series at a training step.
type Point struct {
	Step  int
	Value float64
}

// History records named series of (step, value) points, such as
// "train/loss" per batch and "test/acc" per epoch, for plotting
// ([History.WritePNG]) and for checkpoints. Names are TensorBoard-style
// tags: the part after the last "/" ("loss", "acc") says which panel of
// the plot a series goes to, the part before it ("train", "test") names
// the line. The zero value is empty and ready to use; a History is safe
// for concurrent use.
type History struct {
	mu     sync.Mutex
	names  []string
	series map[string][]Point
}

// Add appends (step, value) to the series called name.
func (h *History) Add(step int, name string, value float64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.series == nil {
		h.series = map[string][]Point{}
	}
	if _, ok := h.series[name]; !ok {
		h.names = append(h.names, name)
	}
	h.series[name] = append(h.series[name], Point{step, value})
}

// Names returns the series' names in the order they were first added.
func (h *History) Names() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.names)
}

// Series returns a copy of the points of the series called name, in the
// order they were added; nil if there is none.
func (h *History) Series(name string) []Point {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.series[name])
}

// Last returns the last point of the series called name, and false when
// it is empty.
func (h *History) Last(name string) (Point, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.series[name]
	if len(s) == 0 {
		return Point{}, false
	}
	return s[len(s)-1], true
}

// Reset forgets every series.
func (h *History) Reset() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.names, h.series = nil, nil
}

// Truncate drops the points after step in every series, as when training
// resumes from a checkpoint taken at step and will record those steps
// again.
func (h *History) Truncate(step int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for name, s := range h.series {
		h.series[name] = slices.DeleteFunc(s, func(p Point) bool { return p.Step > step })
	}
}

// panels groups the series by the part of their name after the last "/",
// in order of first appearance.
func (h *History) panels() (titles []string, members map[string][]string) {
	members = map[string][]string{}
	for _, n := range h.names {
		t := n[strings.LastIndex(n, "/")+1:]
		if _, ok := members[t]; !ok {
			titles = append(titles, t)
		}
		members[t] = append(members[t], n)
	}
	return titles, members
}

// PlotConfig sets the size of the image [History.WritePNG] draws. The zero
// value is 8×3 inches per panel at 96 dots per inch.
type PlotConfig struct {
	Width, PanelHeight vg.Length // 0 means 8 and 3 inches
	DPI                int       // 0 means 96
}

// WritePNG plots every series with gonum.org/v1/plot and writes the image
// to path as a PNG: one panel per metric (the part of the names after the
// last "/", e.g. "loss" and "acc"), stacked top to bottom, each with one
// line per series against the step and a legend naming the series by the
// part before the "/". A series with a single point is drawn as a dot.
// The file is written atomically (a temporary file renamed over path).
func (h *History) WritePNG(path string, cfg ...PlotConfig) error {
	var c PlotConfig
	if len(cfg) > 0 {
		c = cfg[0]
	}
	if c.Width == 0 {
		c.Width = 8 * vg.Inch
	}
	if c.PanelHeight == 0 {
		c.PanelHeight = 3 * vg.Inch
	}
	if c.DPI == 0 {
		c.DPI = 96
	}

	h.mu.Lock()
	titles, members := h.panels()
	plots := make([][]*plot.Plot, len(titles))
	var err error
	xmin, xmax := math.Inf(1), math.Inf(-1)
	for i, t := range titles {
		var p *plot.Plot
		p, err = h.panel(t, members[t])
		if err != nil {
			break
		}
		plots[i] = []*plot.Plot{p}
		xmin, xmax = math.Min(xmin, p.X.Min), math.Max(xmax, p.X.Max)
	}
	h.mu.Unlock()
	for _, row := range plots { // one step axis for every panel
		if row != nil && xmin < xmax {
			row[0].X.Min, row[0].X.Max = xmin, xmax
		}
	}
	if err != nil {
		return fmt.Errorf("train: plot %s: %w", path, err)
	}
	if len(titles) == 0 {
		return fmt.Errorf("train: plot %s: the history is empty", path)
	}

	img := vgimg.NewWith(vgimg.UseWH(c.Width, c.PanelHeight*vg.Length(len(titles))), vgimg.UseDPI(c.DPI))
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: len(titles), Cols: 1, PadX: vg.Millimeter, PadY: 2 * vg.Millimeter,
		PadTop: vg.Millimeter, PadBottom: vg.Millimeter, PadLeft: vg.Millimeter, PadRight: 2 * vg.Millimeter}
	canvases := plot.Align(plots, tiles, dc)
	for i := range plots {
		plots[i][0].Draw(canvases[i][0])
	}
	return safetensors.WriteFileAtomic(path, "train: write plot", func(w io.Writer) error {
		_, err := vgimg.PngCanvas{Canvas: img}.WriteTo(w)
		return err
	})
}

// panel makes the plot of one metric; h.mu is held.
func (h *History) panel(title string, names []string) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "step"
	p.X.Tick.Marker = plainTicks{}
	p.Add(plotter.NewGrid())
	lo, hi := math.Inf(1), math.Inf(-1)
	var tail []float64 // the last values of the first series
	for i, name := range names {
		pts := h.series[name]
		xy := make(plotter.XYs, 0, len(pts))
		for _, q := range pts {
			if math.IsNaN(q.Value) || math.IsInf(q.Value, 0) {
				continue
			}
			xy = append(xy, plotter.XY{X: float64(q.Step), Y: q.Value})
			lo, hi = math.Min(lo, q.Value), math.Max(hi, q.Value)
		}
		if len(xy) == 0 {
			continue
		}
		if tail == nil {
			for _, q := range xy[len(xy)-max(len(xy)/5, 1):] {
				tail = append(tail, q.Y)
			}
		}
		label := name
		if k := strings.LastIndex(name, "/"); k > 0 {
			label = name[:k]
		}
		col := plotutil.Color(i)
		line, points, err := plotter.NewLinePoints(xy)
		if err != nil {
			return nil, err
		}
		line.Color = col
		line.Width = vg.Points(1.5)
		points.Color = col
		points.Shape = draw.CircleGlyph{}
		points.Radius = vg.Points(2.5)
		if len(xy) > 50 { // dense series: the line alone
			p.Add(line)
			p.Legend.Add(label, line)
		} else {
			p.Add(line, points)
			p.Legend.Add(label, line, points)
		}
	}
	if lo <= hi && lo == hi { // a flat series: give the axis some height
		p.Y.Min, p.Y.Max = lo-0.5, hi+0.5
	}
	// the legend goes in the right-hand corner the curves end away from:
	// at the top for a falling loss, at the bottom for a rising accuracy
	end := 0.0
	for _, v := range tail {
		end += v / float64(len(tail))
	}
	p.Legend.Top = lo < hi && end < (lo+hi)/2
	p.BackgroundColor = color.White
	return p, nil
}

// plainTicks are gonum's default ticks labelled without trailing zeros
// (25, not 25.00), as steps are integers.
type plainTicks struct{}

func (plainTicks) Ticks(min, max float64) []plot.Tick {
	ticks := plot.DefaultTicks{}.Ticks(min, max)
	for i, t := range ticks {
		if t.Label != "" {
			ticks[i].Label = strconv.FormatFloat(t.Value, 'f', -1, 64)
		}
	}
	return ticks
}
