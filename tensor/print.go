package tensor

import (
	"math"
	"strconv"
	"strings"
)

// Printing follows torch/_tensor_str.py with its default options
// (precision 4, line width 80, summarizing above 1000 elements with 3
// edge items), so String gives what print(t) shows in Python.

const (
	printPrecision = 4
	printLineWidth = 80
	printThreshold = 1000
	printEdgeItems = 3
)

// String prints t as PyTorch does, e.g. "tensor([1., 2.], dtype=torch.float64)".
func (t *Tensor) String() string {
	const prefix = "tensor("
	indent := len(prefix)
	var suffixes []string
	if t.Device() != CPU {
		suffixes = append(suffixes, "device='"+t.Device().String()+"'")
	}
	dt := t.DType()
	defaultDT := dt == Float32 || dt == Int64 || dt == Bool
	var body string
	if t.Numel() == 0 {
		if t.Dim() != 1 {
			suffixes = append(suffixes, "size="+pyTuple(t.shape))
		}
		if dt != Float32 {
			suffixes = append(suffixes, "dtype="+dt.TorchName())
		}
		body = "[]"
	} else {
		if !defaultDT {
			suffixes = append(suffixes, "dtype="+dt.TorchName())
		}
		body = t.tensorStr(indent)
	}
	if t.gradFn != nil {
		suffixes = append(suffixes, "grad_fn=<"+t.gradFn.Name()+">")
	} else if t.requiresGrad {
		suffixes = append(suffixes, "requires_grad=True")
	}
	return addSuffixes(prefix+body, suffixes, indent)
}

func pyTuple(sh []int) string {
	parts := make([]string, len(sh))
	for i, s := range sh {
		parts[i] = strconv.Itoa(s)
	}
	if len(sh) == 1 {
		return "(" + parts[0] + ",)"
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

func addSuffixes(s string, suffixes []string, indent int) string {
	var b strings.Builder
	b.WriteString(s)
	// Python's len(s) - s.rfind('\n') + 1, which counts two more than the
	// last line's length; LastIndex gives -1 like rfind
	lastLine := len(s) - strings.LastIndex(s, "\n") + 1
	for _, suf := range suffixes {
		if lastLine+len(suf)+2 > printLineWidth {
			b.WriteString(",\n" + strings.Repeat(" ", indent) + suf)
			lastLine = indent + len(suf)
		} else {
			b.WriteString(", " + suf)
			lastLine += len(suf) + 2
		}
	}
	b.WriteString(")")
	return b.String()
}

// printData is t's elements as float64 (floats, ints and bools alike),
// with its shape, for the formatter.
type printData struct {
	shape []int
	vals  []float64
	kind  int // 0 float, 1 int, 2 bool
}

func (t *Tensor) printData() printData {
	p := printData{shape: t.shape}
	switch {
	case t.DType() == Bool:
		p.kind = 2
		for _, b := range t.Bools() {
			v := 0.0
			if b {
				v = 1
			}
			p.vals = append(p.vals, v)
		}
	case t.DType() == Int64 || t.DType() == Int32 || t.DType() == Uint8:
		p.kind = 1
		for _, i := range t.Int64s() {
			p.vals = append(p.vals, float64(i))
		}
	default:
		p.vals = t.Float64s()
	}
	return p
}

// sub returns the i-th slice along the first dim.
func (p printData) sub(i int) printData {
	n := len(p.vals) / max(p.shape[0], 1)
	return printData{shape: p.shape[1:], vals: p.vals[i*n : (i+1)*n], kind: p.kind}
}

// summarized keeps the first and last edge items of every long dim.
func (p printData) summarized() []float64 {
	if len(p.shape) == 0 {
		return p.vals
	}
	var idx []int
	if p.shape[0] > 2*printEdgeItems {
		for i := 0; i < printEdgeItems; i++ {
			idx = append(idx, i)
		}
		for i := p.shape[0] - printEdgeItems; i < p.shape[0]; i++ {
			idx = append(idx, i)
		}
	} else {
		for i := 0; i < p.shape[0]; i++ {
			idx = append(idx, i)
		}
	}
	var out []float64
	for _, i := range idx {
		out = append(out, p.sub(i).summarized()...)
	}
	return out
}

type formatter struct {
	kind     int
	intMode  bool
	sciMode  bool
	maxWidth int
}

func newFormatter(vals []float64, kind int) *formatter {
	f := &formatter{kind: kind, intMode: true, maxWidth: 1}
	if kind != 0 {
		for _, v := range vals {
			f.maxWidth = max(f.maxWidth, len(f.plain(v)))
		}
		return f
	}
	var nz []float64
	for _, v := range vals {
		if isFinite(v) && v != 0 {
			nz = append(nz, v)
		}
	}
	if len(nz) == 0 {
		return f
	}
	lo, hi := math.Inf(1), 0.0
	for _, v := range nz {
		a := math.Abs(v)
		lo, hi = math.Min(lo, a), math.Max(hi, a)
		if v != math.Ceil(v) {
			f.intMode = false
		}
	}
	if f.intMode {
		if hi/lo > 1000 || hi > 1e8 {
			f.sciMode = true
			for _, v := range nz {
				f.maxWidth = max(f.maxWidth, len(pyFloat(v, 'e', printPrecision)))
			}
		} else {
			for _, v := range nz {
				f.maxWidth = max(f.maxWidth, len(pyFloat(v, 'f', 0))+1)
			}
		}
		return f
	}
	if hi/lo > 1000 || hi > 1e8 || lo < 1e-4 {
		f.sciMode = true
		for _, v := range nz {
			f.maxWidth = max(f.maxWidth, len(pyFloat(v, 'e', printPrecision)))
		}
	} else {
		for _, v := range nz {
			f.maxWidth = max(f.maxWidth, len(pyFloat(v, 'f', printPrecision)))
		}
	}
	return f
}

// pyFloat formats like Python's '{:.Nf}' / '{:.Ne}', including nan/inf.
func pyFloat(v float64, verb byte, prec int) string {
	switch {
	case math.IsNaN(v):
		return "nan"
	case math.IsInf(v, 1):
		return "inf"
	case math.IsInf(v, -1):
		return "-inf"
	}
	return strconv.FormatFloat(v, verb, prec, 64)
}

func (f *formatter) plain(v float64) string {
	switch f.kind {
	case 2:
		if v != 0 {
			return "True"
		}
		return "False"
	case 1:
		return strconv.FormatInt(int64(v), 10)
	}
	return ""
}

func (f *formatter) format(v float64) string {
	var s string
	switch {
	case f.kind != 0:
		s = f.plain(v)
	case f.sciMode:
		s = pyFloat(v, 'e', printPrecision)
	case f.intMode:
		s = pyFloat(v, 'f', 0)
		if isFinite(v) {
			s += "."
		}
	default:
		s = pyFloat(v, 'f', printPrecision)
	}
	if pad := f.maxWidth - len(s); pad > 0 {
		s = strings.Repeat(" ", pad) + s
	}
	return s
}

func (t *Tensor) tensorStr(indent int) string {
	p := t.printData()
	summarize := t.Numel() > printThreshold
	vals := p.vals
	if summarize {
		vals = p.summarized()
	}
	f := newFormatter(vals, p.kind)
	return strWithFormatter(p, indent, summarize, f)
}

func strWithFormatter(p printData, indent int, summarize bool, f *formatter) string {
	dim := len(p.shape)
	switch dim {
	case 0:
		return f.format(p.vals[0])
	case 1:
		return vectorStr(p, indent, summarize, f)
	}
	var slices []string
	n := p.shape[0]
	if summarize && n > 2*printEdgeItems {
		for i := 0; i < printEdgeItems; i++ {
			slices = append(slices, strWithFormatter(p.sub(i), indent+1, summarize, f))
		}
		slices = append(slices, "...")
		for i := n - printEdgeItems; i < n; i++ {
			slices = append(slices, strWithFormatter(p.sub(i), indent+1, summarize, f))
		}
	} else {
		for i := 0; i < n; i++ {
			slices = append(slices, strWithFormatter(p.sub(i), indent+1, summarize, f))
		}
	}
	sep := "," + strings.Repeat("\n", dim-1) + strings.Repeat(" ", indent+1)
	return "[" + strings.Join(slices, sep) + "]"
}

func vectorStr(p printData, indent int, summarize bool, f *formatter) string {
	elemLen := f.maxWidth + 2
	perLine := max(1, (printLineWidth-indent)/elemLen)
	var data []string
	n := p.shape[0]
	if summarize && n > 2*printEdgeItems {
		for _, v := range p.vals[:printEdgeItems] {
			data = append(data, f.format(v))
		}
		data = append(data, " ...")
		for _, v := range p.vals[n-printEdgeItems:] {
			data = append(data, f.format(v))
		}
	} else {
		for _, v := range p.vals {
			data = append(data, f.format(v))
		}
	}
	var lines []string
	for i := 0; i < len(data); i += perLine {
		lines = append(lines, strings.Join(data[i:min(i+perLine, len(data))], ", "))
	}
	return "[" + strings.Join(lines, ",\n"+strings.Repeat(" ", indent+1)) + "]"
}
