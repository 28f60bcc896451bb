package data

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/tapir-ml/tapir/tensor"
)

// CSVConfig configures CSV and ReadCSV.
type CSVConfig struct {
	// Label names the target column; empty means none (the samples'
	// Target is nil). Its values are class labels: whole numbers are
	// used as they are, anything else is a class name, numbered in sorted
	// order (see CSVDataset.Classes). With FloatLabel they are numbers
	// for regression.
	Label string
	// FloatLabel makes the label a Float32 number instead of a class.
	FloatLabel bool
	// Features names the input columns, in order; nil means every column
	// but the label, in file order. They must hold numbers.
	Features []string
	// Comma is the field separator; 0 means ','.
	Comma rune
}

// CSVDataset is a table of numbers read from a CSV file with a header
// line. Sample i's Input is row i's features as a Float32 tensor
// [len(Features)]; its Target is the label as a 0-d Int64 tensor (a class)
// or Float32 (with FloatLabel), nil without a label column.
type CSVDataset struct {
	// Features are the names of the input columns.
	Features []string
	// X holds the features, row after row.
	X []float32
	// Y holds the class labels (when there is a label column and not
	// FloatLabel), YFloat the numeric ones (with FloatLabel).
	Y      []int64
	YFloat []float32
	// Classes are the class names in label order, when the labels are
	// names rather than numbers.
	Classes []string
	rows    int
}

// CSV reads the CSV file at path; see ReadCSV.
func CSV(path string, cfg CSVConfig) (*CSVDataset, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("data: csv: %w", err)
	}
	defer f.Close()
	d, err := ReadCSV(f, cfg)
	if err != nil {
		return nil, fmt.Errorf("%w (file %s)", err, path)
	}
	return d, nil
}

// ReadCSV reads CSV data whose first record is a header of column names.
// Every record must have the header's number of fields; blank lines are
// skipped. Errors name the line and the column, e.g.
// `data: csv: line 7, column "petal_width" (4): "n/a" is not a number`.
func ReadCSV(r io.Reader, cfg CSVConfig) (*CSVDataset, error) {
	cr := csv.NewReader(r)
	if cfg.Comma != 0 {
		cr.Comma = cfg.Comma
	}
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err == io.EOF {
		return nil, errors.New("data: csv: empty input: no header line")
	}
	if err != nil {
		return nil, fmt.Errorf("data: csv: %w", err)
	}
	header = append([]string(nil), header...)
	col := map[string]int{}
	for i, h := range header {
		h = strings.TrimSpace(h)
		header[i] = h
		if _, dup := col[h]; dup {
			return nil, fmt.Errorf("data: csv: line 1: column %q appears twice in the header", h)
		}
		col[h] = i
	}
	label := -1
	if cfg.Label != "" {
		i, ok := col[cfg.Label]
		if !ok {
			return nil, fmt.Errorf("data: csv: label column %q is not in the header %q", cfg.Label, header)
		}
		label = i
	}
	var feat []int
	d := &CSVDataset{}
	if cfg.Features != nil {
		for _, name := range cfg.Features {
			i, ok := col[name]
			if !ok {
				return nil, fmt.Errorf("data: csv: feature column %q is not in the header %q", name, header)
			}
			feat = append(feat, i)
			d.Features = append(d.Features, name)
		}
	} else {
		for i, h := range header {
			if i != label {
				feat = append(feat, i)
				d.Features = append(d.Features, h)
			}
		}
	}
	var names []string // label values, before we know whether they are numbers
	var lines []int
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, fmt.Errorf("data: csv: line %d: %v", pe.Line, pe.Err)
			}
			return nil, fmt.Errorf("data: csv: %w", err)
		}
		for k, i := range feat {
			s := strings.TrimSpace(rec[i])
			v, err := strconv.ParseFloat(s, 32)
			if err != nil {
				line, _ := cr.FieldPos(i)
				return nil, fmt.Errorf("data: csv: line %d, column %q (%d): %q is not a number", line, d.Features[k], i+1, s)
			}
			d.X = append(d.X, float32(v))
		}
		if label >= 0 {
			s := strings.TrimSpace(rec[label])
			line, _ := cr.FieldPos(label)
			if cfg.FloatLabel {
				v, err := strconv.ParseFloat(s, 32)
				if err != nil {
					return nil, fmt.Errorf("data: csv: line %d, label column %q (%d): %q is not a number", line, cfg.Label, label+1, s)
				}
				d.YFloat = append(d.YFloat, float32(v))
			} else {
				if s == "" {
					return nil, fmt.Errorf("data: csv: line %d, label column %q (%d): empty label", line, cfg.Label, label+1)
				}
				names = append(names, s)
				lines = append(lines, line)
			}
		}
		d.rows++
	}
	if names != nil {
		d.Y = make([]int64, len(names))
		numeric := true
		for i, s := range names {
			v, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				numeric = false
				break
			}
			if v < 0 {
				return nil, fmt.Errorf("data: csv: line %d, label column %q (%d): negative class %d", lines[i], cfg.Label, label+1, v)
			}
			d.Y[i] = v
		}
		if !numeric {
			set := map[string]int{}
			for _, s := range names {
				set[s] = 0
			}
			for s := range set {
				d.Classes = append(d.Classes, s)
			}
			sort.Strings(d.Classes)
			for i, s := range d.Classes {
				set[s] = i
			}
			for i, s := range names {
				d.Y[i] = int64(set[s])
			}
		}
	}
	return d, nil
}

// Len returns the number of rows.
func (d *CSVDataset) Len() int { return d.rows }

// At returns row i.
func (d *CSVDataset) At(i int) (Sample, error) {
	if err := checkIndex(i, d.rows); err != nil {
		return Sample{}, err
	}
	f := len(d.Features)
	s := Sample{Input: tensor.FromSlice(append([]float32(nil), d.X[i*f:(i+1)*f]...))}
	switch {
	case d.Y != nil:
		s.Target = Label(int(d.Y[i]))
	case d.YFloat != nil:
		s.Target = tensor.FromSlice([]float32{d.YFloat[i]}).Reshape()
	}
	return s, nil
}

// Tensors returns the whole table: the features as Float32 [Len(),
// len(Features)] and the labels as Int64 or Float32 [Len()] (nil without a
// label column).
func (d *CSVDataset) Tensors() (x, y *tensor.Tensor) {
	x = tensor.FromSlice(append([]float32(nil), d.X...), d.rows, len(d.Features))
	switch {
	case d.Y != nil:
		y = tensor.FromSlice(append([]int64(nil), d.Y...))
	case d.YFloat != nil:
		y = tensor.FromSlice(append([]float32(nil), d.YFloat...))
	}
	return x, y
}
