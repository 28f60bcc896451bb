package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/tapir-ml/tapir/tensor"
)

// le encodes values little-endian with encoding/binary: the bytes a file
// must hold, computed without Write.
func le(values any) []byte {
	var b bytes.Buffer
	if err := binary.Write(&b, binary.LittleEndian, values); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// TestWrite writes tensors of every dtype and layout and checks the file
// against an independent reading of the format: the header parsed with
// encoding/json, the data compared with bytes encoding/binary makes from
// the values, the layout rules (8-byte aligned data, every tensor aligned
// for its dtype, no holes), and then Read gives the tensors back.
func TestWrite(t *testing.T) {
	m := tensor.FromSlice([]float32{1, 2, 3, 4, 5, 6}, 2, 3)
	cube := tensor.FromSlice([]int64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, 2, 3, 2)
	cases := []struct {
		name  string
		t     *tensor.Tensor
		dtype string
		shape []int
		data  []byte
	}{
		{"f64", tensor.FromSlice([]float64{1.5, math.Copysign(0, -1), math.Inf(-1), math.SmallestNonzeroFloat64}), "F64", []int{4},
			le([]float64{1.5, math.Copysign(0, -1), math.Inf(-1), math.SmallestNonzeroFloat64})},
		{"f32", m, "F32", []int{2, 3}, le([]float32{1, 2, 3, 4, 5, 6})},
		{"f16", tensor.FromSlice([]float32{1, -2, 65504, 0.5}).To(tensor.Float16), "F16", []int{4},
			le([]uint16{0x3c00, 0xc000, 0x7bff, 0x3800})},
		{"bf16", tensor.FromSlice([]float32{1, -2, 0.5}).To(tensor.BFloat16), "BF16", []int{3},
			le([]uint16{0x3f80, 0xc000, 0x3f00})},
		{"i64", tensor.FromSlice([]int64{math.MinInt64, -1, math.MaxInt64}), "I64", []int{3},
			le([]int64{math.MinInt64, -1, math.MaxInt64})},
		{"i32", tensor.FromSlice([]int32{math.MinInt32, -1, 7, math.MaxInt32}, 2, 2), "I32", []int{2, 2},
			le([]int32{math.MinInt32, -1, 7, math.MaxInt32})},
		{"u8", tensor.FromSlice([]uint8{0, 1, 255}), "U8", []int{3}, []byte{0, 1, 255}},
		{"bool", tensor.FromSlice([]bool{true, false, true}), "BOOL", []int{3}, []byte{1, 0, 1}},
		{"0-d", tensor.Scalar(2.5), "F32", []int{}, le([]float32{2.5})},
		{"empty", tensor.ZerosOf(tensor.Int32, 3, 0), "I32", []int{3, 0}, nil},
		{"transpose", m.T(), "F32", []int{3, 2}, le([]float32{1, 4, 2, 5, 3, 6})},
		{"slice with step", cube.Slice(1, 0, 3, 2), "I64", []int{2, 2, 2}, le([]int64{0, 1, 4, 5, 6, 7, 10, 11})},
		{"permute", cube.Permute(2, 0, 1), "I64", []int{2, 2, 3}, le([]int64{0, 2, 4, 6, 8, 10, 1, 3, 5, 7, 9, 11})},
		{"narrow at an offset", cube.Narrow(0, 1, 1).Narrow(1, 1, 2), "I64", []int{1, 2, 2}, le([]int64{8, 9, 10, 11})},
		{"select", m.Select(1, 2), "F32", []int{2}, le([]float32{3, 6})},
		{"expand", tensor.FromSlice([]uint8{7, 9}, 2, 1).Expand(2, 3), "U8", []int{2, 3}, []byte{7, 7, 7, 9, 9, 9}},
		{"f16 transpose", tensor.FromSlice([]float32{1, 2, 3, 4}, 2, 2).To(tensor.Float16).T(), "F16", []int{2, 2},
			le([]uint16{0x3c00, 0x4200, 0x4000, 0x4400})},
		{"i32 flip", tensor.FromSlice([]int32{1, 2, 3}).Flip(0), "I32", []int{3}, le([]int32{3, 2, 1})},
		{"bool transpose", tensor.FromSlice([]bool{true, true, false, false}, 2, 2).T(), "BOOL", []int{2, 2}, []byte{1, 0, 1, 0}},
	}
	ts := map[string]*tensor.Tensor{}
	for _, c := range cases {
		ts[c.name] = c.t
	}
	meta := map[string]string{"format": "pt", "<&>": "a \"b\" \\ ü"}
	var buf bytes.Buffer
	if err := Write(&buf, ts, nil, meta); err != nil {
		t.Fatal(err)
	}
	file := buf.Bytes()

	n := binary.LittleEndian.Uint64(file)
	if (8+n)%8 != 0 {
		t.Errorf("data starts at %d, not a multiple of 8", 8+n)
	}
	text := string(file[8 : 8+n])
	if trimmed := strings.TrimRight(text, " "); !strings.HasSuffix(trimmed, "}") || len(text)-len(trimmed) >= 8 {
		t.Errorf("header %q is not a JSON object padded with fewer than 8 spaces", text)
	}
	var hdr map[string]json.RawMessage
	if err := json.Unmarshal([]byte(text), &hdr); err != nil {
		t.Fatal(err)
	}
	var gotMeta map[string]string
	if err := json.Unmarshal(hdr["__metadata__"], &gotMeta); err != nil || !equalMaps(gotMeta, meta) {
		t.Errorf("metadata %q (%v), want %q", gotMeta, err, meta)
	}
	data := file[8+n:]
	covered := 0
	for _, c := range cases {
		var e struct {
			DType   string  `json:"dtype"`
			Shape   []int   `json:"shape"`
			Offsets []int64 `json:"data_offsets"`
		}
		if err := json.Unmarshal(hdr[c.name], &e); err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if e.DType != c.dtype || !sameInts(e.Shape, c.shape) || e.Shape == nil {
			t.Errorf("%s: header says %s %v, want %s %v", c.name, e.DType, e.Shape, c.dtype, c.shape)
		}
		if len(e.Offsets) != 2 || e.Offsets[1] > int64(len(data)) || e.Offsets[0] > e.Offsets[1] {
			t.Errorf("%s: offsets %v", c.name, e.Offsets)
			continue
		}
		if got := data[e.Offsets[0]:e.Offsets[1]]; !bytes.Equal(got, c.data) {
			t.Errorf("%s: data % x, want % x", c.name, got, c.data)
		}
		if size := dtypes[c.dtype].size; e.Offsets[0]%int64(size) != 0 {
			t.Errorf("%s: %s data at %d is not aligned", c.name, c.dtype, e.Offsets[0])
		}
		covered += len(c.data)
	}
	if covered != len(data) || len(hdr) != len(cases)+1 {
		t.Errorf("%d header entries covering %d of %d data bytes", len(hdr), covered, len(data))
	}

	f, err := Read(bytes.NewReader(file), int64(len(file)))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		got, err := f.Tensor(c.name)
		if err != nil {
			t.Fatal(err)
		}
		want := c.t.Contiguous()
		if got.DType() != want.DType() || !sameInts(got.Shape(), want.Shape()) {
			t.Errorf("%s: read back %v %v, want %v %v", c.name, got.DType(), got.Shape(), want.DType(), want.Shape())
			continue
		}
		g, w := got.Float64s(), want.Float64s()
		for i := range w {
			if math.Float64bits(g[i]) != math.Float64bits(w[i]) {
				t.Errorf("%s[%d] = %v, want %v", c.name, i, g[i], w[i])
			}
		}
	}
}

// TestWriteOrder: the header lists the tensors in the order given, or
// sorted when it is nil; the data is laid out widest dtype first.
func TestWriteOrder(t *testing.T) {
	ts := map[string]*tensor.Tensor{
		"c": tensor.FromSlice([]uint8{1}),
		"a": tensor.FromSlice([]float32{1}),
		"b": tensor.FromSlice([]float64{1}),
		"d": tensor.FromSlice([]uint8{2, 3}),
	}
	for _, c := range []struct {
		order, want []string
	}{
		{nil, []string{"a", "b", "c", "d"}},
		{[]string{"d", "c", "b", "a"}, []string{"d", "c", "b", "a"}},
		{[]string{"c", "a", "d", "b"}, []string{"c", "a", "d", "b"}},
	} {
		var buf bytes.Buffer
		if err := Write(&buf, ts, c.order, nil); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(buf.String(), "__metadata__") {
			t.Error("no metadata given, but the header has __metadata__")
		}
		f, err := Read(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
		if err != nil {
			t.Fatal(err)
		}
		if !equalStrings(f.Names(), c.want) {
			t.Errorf("order %q: names %q, want %q", c.order, f.Names(), c.want)
		}
		// F64 first, then F32, then the U8s in header order
		wantBegin := map[string]int64{"b": 0, "a": 8}
		u8 := int64(12)
		for _, name := range c.want {
			if name == "c" || name == "d" {
				wantBegin[name] = u8
				u8 += int64(ts[name].Numel())
			}
		}
		for name, b := range wantBegin {
			if info, _ := f.Info(name); info.Offsets[0] != b {
				t.Errorf("order %q: %s at %d, want %d", c.order, name, info.Offsets[0], b)
			}
		}
	}
}

func TestWriteEmpty(t *testing.T) {
	var buf bytes.Buffer
	if err := Write(&buf, nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	if want := rawFile("{}      ", nil); !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("empty file % x, want % x", buf.Bytes(), want)
	}
}

func TestWriteRejects(t *testing.T) {
	x := tensor.Ones(2)
	cases := []struct {
		name    string
		tensors map[string]*tensor.Tensor
		order   []string
		meta    map[string]string
		want    string
	}{
		{"name twice in order", map[string]*tensor.Tensor{"a": x}, []string{"a", "a"}, nil, "twice"},
		{"unknown name in order", map[string]*tensor.Tensor{"a": x}, []string{"a", "b"}, nil, `"b" is in the order`},
		{"name missing from order", map[string]*tensor.Tensor{"a": x, "b": x}, []string{"a"}, nil, `"b" is missing`},
		{"empty order", map[string]*tensor.Tensor{"a": x}, []string{}, nil, `"a" is missing`},
		{"nil tensor", map[string]*tensor.Tensor{"a": nil}, nil, nil, "nil"},
		{"reserved name", map[string]*tensor.Tensor{"__metadata__": x}, nil, nil, "cannot be named"},
		{"invalid UTF-8 name", map[string]*tensor.Tensor{"a\xff": x}, nil, nil, "UTF-8"},
		{"invalid UTF-8 metadata", map[string]*tensor.Tensor{"a": x}, nil, map[string]string{"k": "\xfe"}, "UTF-8"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := Write(&buf, c.tensors, c.order, c.meta)
			if err == nil || !strings.HasPrefix(err.Error(), "safetensors: ") || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want one containing %q", err, c.want)
			}
			if buf.Len() != 0 {
				t.Errorf("%d bytes written before the error", buf.Len())
			}
		})
	}
}

// failAfter is a writer that fails once n bytes have gone through.
type failAfter struct {
	w io.Writer
	n int
}

var errInjected = errors.New("injected write failure")

func (f *failAfter) Write(p []byte) (int, error) {
	if len(p) > f.n {
		k, _ := f.w.Write(p[:f.n])
		f.n = 0
		return k, errInjected
	}
	f.n -= len(p)
	return f.w.Write(p)
}

// dirNames lists dir's entries.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

// TestSaveAtomic: a Save that fails part way (a write error injected at
// several points, or bad arguments) leaves the previous file as it was
// and no temporary file behind; one that succeeds replaces the file
// whole and keeps its permissions.
func TestSaveAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "model.safetensors")
	old := []byte("the previous file")
	if err := os.WriteFile(path, old, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o640); err != nil { // whatever the umask
		t.Fatal(err)
	}
	big := tensor.Arange(0, 1<<19, 1).To(tensor.Float32) // 2 MiB, more than the write buffer
	ts := map[string]*tensor.Tensor{"big": big, "small": tensor.Ones(3)}

	for _, n := range []int{0, 5, 8, 100, 1 << 20, 2<<20 - 1} {
		err := save(path, ts, nil, nil, func(w io.Writer) io.Writer { return &failAfter{w, n} })
		if !errors.Is(err, errInjected) || !strings.HasPrefix(err.Error(), "safetensors: ") {
			t.Errorf("failure after %d bytes: err = %v", n, err)
		}
		if got, _ := os.ReadFile(path); !bytes.Equal(got, old) {
			t.Errorf("failure after %d bytes: the previous file now holds %d bytes", n, len(got))
		}
		if names := dirNames(t, dir); len(names) != 1 {
			t.Errorf("failure after %d bytes: directory holds %q", n, names)
		}
	}
	if err := Save(path, ts, []string{"nope"}, nil); err == nil {
		t.Error("Save with a bad order: no error")
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, old) || len(dirNames(t, dir)) != 1 {
		t.Error("a Save with bad arguments touched the directory")
	}

	if err := Save(path, ts, nil, map[string]string{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	if names := dirNames(t, dir); len(names) != 1 {
		t.Errorf("after Save the directory holds %q", names)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o640 && runtime.GOOS != "windows" { // Windows has no such bits
		t.Errorf("replaced file has mode %v, want the previous -rw-r-----", st.Mode().Perm())
	}
	got, order, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if !equalStrings(order, []string{"big", "small"}) {
		t.Errorf("order %q", order)
	}
	if g, w := got["big"].Float32s(), big.Float32s(); len(g) != len(w) || g[len(g)-1] != w[len(w)-1] || g[12345] != 12345 {
		t.Error("big tensor read back wrong")
	}
}

// TestSaveNew: a new file gets os.Create's permissions; a missing
// directory is an error that leaves nothing behind.
func TestSaveNew(t *testing.T) {
	dir := t.TempDir()
	ref, err := os.Create(filepath.Join(dir, "ref"))
	if err != nil {
		t.Fatal(err)
	}
	ref.Close()
	refSt, _ := os.Stat(filepath.Join(dir, "ref"))
	path := filepath.Join(dir, "new.safetensors")
	if err := Save(path, map[string]*tensor.Tensor{"x": tensor.Ones(2)}, nil, nil); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != refSt.Mode().Perm() {
		t.Errorf("new file has mode %v, os.Create gives %v", st.Mode().Perm(), refSt.Mode().Perm())
	}
	if err := Save(filepath.Join(dir, "missing", "x.safetensors"), nil, nil, nil); err == nil ||
		!strings.HasPrefix(err.Error(), "safetensors: ") {
		t.Errorf("Save into a missing directory: err = %v", err)
	}
	if names := dirNames(t, dir); len(names) != 2 {
		t.Errorf("directory holds %q", names)
	}
}

// TestFileClosed: Close makes Tensor fail, leaves the header readable, and
// may be called twice; tensors loaded before stay valid.
func TestFileClosed(t *testing.T) {
	f, err := Open(filepath.Join("testdata", "torch_written.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	x, err := f.Tensor("f64")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := f.Tensor("f64"); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("Tensor after Close: err = %v", err)
	}
	if _, ok := f.Info("f64"); !ok || len(f.Names()) == 0 {
		t.Error("header gone after Close")
	}
	if _, err := f.Tensor("no such"); err == nil || !strings.Contains(err.Error(), `"no such"`) {
		t.Errorf("Tensor of a missing name: err = %v", err)
	}
	if x.Sum().Item() == 0 {
		t.Error("tensor loaded before Close changed")
	}
	if _, err := Open(t.TempDir()); err == nil {
		t.Error("Open of a directory: no error")
	}
	if _, err := Open(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("Open of a missing file: no error")
	}
}

// TestShortReader: a reader that holds less than the size it was given
// fails when a tensor's bytes are missing, with an error.
func TestShortReader(t *testing.T) {
	file := rawFile(`{"a":`+f32(0, 4)+`,"b":`+f32(4, 8)+`}`, []byte{0, 0, 128, 63, 0, 0, 0, 64})
	f, err := Read(bytes.NewReader(file[:len(file)-2]), int64(len(file)))
	if err != nil {
		t.Fatal(err)
	}
	if a, err := f.Tensor("a"); err != nil || a.Item() != 1 {
		t.Errorf("Tensor(a) = %v, %v; want 1", a, err)
	}
	if _, err := f.Tensor("b"); err == nil || !strings.Contains(err.Error(), `tensor "b": reading data`) {
		t.Errorf("Tensor(b) err = %v", err)
	}
}

// TestBoolBytes: BOOL bytes other than 0 and 1 load as true.
func TestBoolBytes(t *testing.T) {
	file := rawFile(`{"b":{"dtype":"BOOL","shape":[4],"data_offsets":[0,4]}}`, []byte{0, 1, 2, 255})
	f, err := Read(bytes.NewReader(file), int64(len(file)))
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.Tensor("b")
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(b.Bools()); got != "[false true true true]" {
		t.Errorf("Bools() = %s", got)
	}
}
