package data

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tapir-ml/tapir/tensor"
)

const irisCSV = `sepal_length,sepal_width,species
5.1,3.5,setosa
7.0,3.2,versicolor

6.3, 3.3 ,virginica
4.9,3.0,setosa
`

func TestReadCSV(t *testing.T) {
	ds, err := ReadCSV(strings.NewReader(irisCSV), CSVConfig{Label: "species"})
	if err != nil {
		t.Fatal(err)
	}
	if ds.Len() != 4 || !slices.Equal(ds.Features, []string{"sepal_length", "sepal_width"}) {
		t.Fatalf("%d rows, features %v", ds.Len(), ds.Features)
	}
	if !slices.Equal(ds.Classes, []string{"setosa", "versicolor", "virginica"}) || !slices.Equal(ds.Y, []int64{0, 1, 2, 0}) {
		t.Fatalf("classes %v labels %v", ds.Classes, ds.Y)
	}
	s, err := ds.At(2)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.Input.Float32s(), []float32{6.3, 3.3}) || s.Target.DType() != tensor.Int64 || s.Target.Item() != 2 {
		t.Fatalf("row 2: %v %v", s.Input, s.Target)
	}
	x, y := ds.Tensors()
	if !slices.Equal(x.Shape(), []int{4, 2}) || !slices.Equal(y.Int64s(), []int64{0, 1, 2, 0}) {
		t.Fatalf("tensors %v %v", x, y)
	}
}

func TestReadCSVOptions(t *testing.T) {
	in := "a;b;y;c\n1;2;3;4\n5;6;1;8\n"
	// numeric class labels are kept as they are; features chosen and ordered
	ds, err := ReadCSV(strings.NewReader(in), CSVConfig{Label: "y", Features: []string{"c", "a"}, Comma: ';'})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ds.X, []float32{4, 1, 8, 5}) || !slices.Equal(ds.Y, []int64{3, 1}) || ds.Classes != nil {
		t.Fatalf("X %v Y %v classes %v", ds.X, ds.Y, ds.Classes)
	}
	// regression label
	ds, err = ReadCSV(strings.NewReader(in), CSVConfig{Label: "y", FloatLabel: true, Comma: ';'})
	if err != nil {
		t.Fatal(err)
	}
	s, _ := ds.At(1)
	if s.Target.DType() != tensor.Float32 || s.Target.Dim() != 0 || s.Target.Item() != 1 || !slices.Equal(s.Input.Float32s(), []float32{5, 6, 8}) {
		t.Fatalf("regression sample %v %v", s.Input, s.Target)
	}
	// no label: Target nil, all columns are features
	ds, err = ReadCSV(strings.NewReader(in), CSVConfig{Comma: ';'})
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := ds.At(0); s.Target != nil || s.Input.Numel() != 4 {
		t.Fatalf("unlabelled %v", s)
	}
}

func TestReadCSVErrors(t *testing.T) {
	cases := []struct {
		name, in string
		cfg      CSVConfig
		want     string // in the message
	}{
		{"empty", "", CSVConfig{}, "no header"},
		{"bad number", "a,b,y\n1,2,0\n3,x,1\n", CSVConfig{Label: "y"}, `line 3, column "b" (2): "x" is not a number`},
		{"bad number after a blank line", "a,y\n\n1,0\n\nnan?,1\n", CSVConfig{Label: "y"}, `line 5, column "a" (1)`},
		{"wrong field count", "a,b\n1,2\n3\n", CSVConfig{}, "line 3"},
		{"missing label column", "a,b\n1,2\n", CSVConfig{Label: "y"}, `label column "y"`},
		{"missing feature column", "a,b\n1,2\n", CSVConfig{Features: []string{"z"}}, `feature column "z"`},
		{"duplicate column", "a,a\n1,2\n", CSVConfig{}, `"a" appears twice`},
		{"bad float label", "a,y\n1,?\n", CSVConfig{Label: "y", FloatLabel: true}, `line 2, label column "y" (2)`},
		{"empty label", "a,y\n1,\n", CSVConfig{Label: "y"}, "empty label"},
		{"negative class", "a,y\n1,-1\n", CSVConfig{Label: "y"}, "negative class"},
		{"bare quote", "a,b\n1,\"2\n", CSVConfig{}, "line"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ReadCSV(strings.NewReader(c.in), c.cfg)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "data: csv: ") {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
		})
	}
}

func TestCSVFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "iris.csv")
	os.WriteFile(p, []byte(irisCSV), 0o644)
	ds, err := CSV(p, CSVConfig{Label: "species"})
	if err != nil || ds.Len() != 4 {
		t.Fatalf("%v %v", ds, err)
	}
	os.WriteFile(p, []byte("a\nz\n"), 0o644)
	if _, err := CSV(p, CSVConfig{}); err == nil || !strings.Contains(err.Error(), p) {
		t.Fatalf("error %v does not name the file", err)
	}
}
