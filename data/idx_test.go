package data

import (
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"

	"github.com/tapir-ml/tapir/tensor"
)

func gz(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// hand-assembled IDX files, byte by byte from the format's description
// (yann.lecun.com/exdb/mnist: magic 0 0 TYPE NDIM, big-endian uint32 dims,
// big-endian data)
var (
	idxU8  = cat([]byte{0, 0, 0x08, 2}, []byte{0, 0, 0, 2, 0, 0, 0, 3}, []byte{0, 1, 2, 253, 254, 255})
	idxI8  = cat([]byte{0, 0, 0x09, 1, 0, 0, 0, 3}, []byte{0xff, 0x80, 0x7f})
	idxI16 = cat([]byte{0, 0, 0x0B, 1, 0, 0, 0, 2}, []byte{0xff, 0xfe, 0x01, 0x00})
	idxI32 = cat([]byte{0, 0, 0x0C, 1, 0, 0, 0, 2}, []byte{0x80, 0, 0, 0, 0, 0, 0x01, 0x02})
	// 1.5 = 0x3fc00000, -0.25 = 0xbe800000
	idxF32 = cat([]byte{0, 0, 0x0D, 2, 0, 0, 0, 1, 0, 0, 0, 2}, []byte{0x3f, 0xc0, 0, 0, 0xbe, 0x80, 0, 0})
	// -2.25 = 0xc002000000000000
	idxF64    = cat([]byte{0, 0, 0x0E, 1, 0, 0, 0, 1}, []byte{0xc0, 0x02, 0, 0, 0, 0, 0, 0})
	idxScalar = []byte{0, 0, 0x08, 0, 42}
	idxEmpty  = []byte{0, 0, 0x08, 1, 0, 0, 0, 0}
)

func TestReadIDX(t *testing.T) {
	cases := []struct {
		name  string
		in    []byte
		typ   IDXType
		shape []int
		dtype tensor.DType
		want  []float64
	}{
		{"uint8", idxU8, IDXUint8, []int{2, 3}, tensor.Uint8, []float64{0, 1, 2, 253, 254, 255}},
		{"uint8 gzip", gz(idxU8), IDXUint8, []int{2, 3}, tensor.Uint8, []float64{0, 1, 2, 253, 254, 255}},
		{"int8", idxI8, IDXInt8, []int{3}, tensor.Int32, []float64{-1, -128, 127}},
		{"int16", idxI16, IDXInt16, []int{2}, tensor.Int32, []float64{-2, 256}},
		{"int32", idxI32, IDXInt32, []int{2}, tensor.Int32, []float64{-2147483648, 258}},
		{"float32", idxF32, IDXFloat32, []int{1, 2}, tensor.Float32, []float64{1.5, -0.25}},
		{"float64 gzip", gz(idxF64), IDXFloat64, []int{1}, tensor.Float64, []float64{-2.25}},
		{"0-d", idxScalar, IDXUint8, []int{}, tensor.Uint8, []float64{42}},
		{"empty", idxEmpty, IDXUint8, []int{0}, tensor.Uint8, []float64{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			x, err := ReadIDX(bytes.NewReader(c.in))
			if err != nil {
				t.Fatal(err)
			}
			if x.Type != c.typ || !slices.Equal(x.Shape, c.shape) {
				t.Fatalf("type %v shape %v, want %v %v", x.Type, x.Shape, c.typ, c.shape)
			}
			tt, err := x.Tensor()
			if err != nil {
				t.Fatal(err)
			}
			if tt.DType() != c.dtype || !slices.Equal(tt.Shape(), c.shape) || !slices.Equal(tt.Float64s(), c.want) {
				t.Fatalf("tensor %v (%v), want %v %v", tt, tt.DType(), c.dtype, c.want)
			}
			// writing it back gives the uncompressed bytes
			var buf bytes.Buffer
			if err := WriteIDX(&buf, x); err != nil {
				t.Fatal(err)
			}
			plain := c.in
			if plain[0] == 0x1f {
				zr, _ := gzip.NewReader(bytes.NewReader(c.in))
				var b bytes.Buffer
				b.ReadFrom(zr)
				plain = b.Bytes()
			}
			if !bytes.Equal(buf.Bytes(), plain) {
				t.Fatalf("WriteIDX % x, want % x", buf.Bytes(), plain)
			}
		})
	}
}

func TestReadIDXMalformed(t *testing.T) {
	good := gz(idxU8)
	badCRC := append([]byte(nil), good...)
	badCRC[len(badCRC)-6] ^= 0xff // inside the CRC-32 trailer
	cases := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"one byte", []byte{0}},
		{"short magic", []byte{0, 0, 8}},
		{"nonzero magic", []byte{1, 0, 8, 1, 0, 0, 0, 0}},
		{"unknown type", []byte{0, 0, 0x0A, 1, 0, 0, 0, 1, 7}},
		{"truncated dims", []byte{0, 0, 8, 2, 0, 0, 0, 1, 0, 0}},
		{"truncated data", idxU8[:len(idxU8)-1]},
		{"trailing data", cat(idxU8, []byte{9})},
		{"declares 16 GiB", cat([]byte{0, 0, 8, 2, 0, 2, 0, 0, 0, 2, 0, 0}, make([]byte, 100))},
		{"overflowing dims", cat([]byte{0, 0, 0x0E, 4}, bytes.Repeat([]byte{0xff}, 16), make([]byte, 8))},
		{"gzip truncated", good[:len(good)-10]},
		{"gzip bad crc", badCRC},
		{"gzip header only", good[:5]},
		{"gzip of garbage", gz([]byte("hello, world"))},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var ms0, ms1 runtime.MemStats
			runtime.ReadMemStats(&ms0)
			x, err := ReadIDX(bytes.NewReader(c.in))
			runtime.ReadMemStats(&ms1)
			if err == nil {
				t.Fatalf("no error; got type %v shape %v", x.Type, x.Shape)
			}
			if !errors.Is(err, ErrIDXFormat) {
				t.Fatalf("error %v does not wrap ErrIDXFormat", err)
			}
			if a := ms1.TotalAlloc - ms0.TotalAlloc; a > 8<<20 {
				t.Fatalf("allocated %d bytes for a %d-byte input", a, len(c.in))
			}
		})
	}
}

func TestReadIDXFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, p := range []string{write("a", idxU8), write("a.gz", gz(idxU8))} {
		x, err := ReadIDXFile(p)
		if err != nil || !slices.Equal(x.Data, []byte{0, 1, 2, 253, 254, 255}) {
			t.Fatalf("%s: %v %v", p, x, err)
		}
	}
	// a header that disagrees with the file size is caught before reading
	_, err := ReadIDXFile(write("big", cat([]byte{0, 0, 8, 1, 0x10, 0, 0, 0}, make([]byte, 10))))
	if !errors.Is(err, ErrIDXFormat) {
		t.Fatalf("size mismatch: %v", err)
	}
	if _, err := ReadIDXFile(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}

// FuzzReadIDX feeds ReadIDX arbitrary bytes (seeded from
// testdata/fuzz/FuzzReadIDX and the files above): it must return an error
// or a consistent array, never panic, hang or allocate far beyond the
// input.
func FuzzReadIDX(f *testing.F) {
	for _, b := range [][]byte{idxU8, idxI8, idxI16, idxI32, idxF32, idxF64, idxScalar, idxEmpty, gz(idxU8), gz(idxF64)} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		x, err := ReadIDX(bytes.NewReader(in))
		if err != nil {
			if x != nil {
				t.Fatal("error with a result")
			}
			return
		}
		if len(x.Data) != x.Len()*x.Type.Size() {
			t.Fatalf("%d data bytes for shape %v of %v", len(x.Data), x.Shape, x.Type)
		}
		if len(x.Data) > 1100*len(in)+1<<20 { // gzip expands at most ~1032×
			t.Fatalf("%d bytes from a %d-byte input", len(x.Data), len(in))
		}
		if _, err := x.Tensor(); err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := WriteIDX(&buf, x); err != nil {
			t.Fatal(err)
		}
		y, err := ReadIDX(&buf)
		if err != nil || y.Type != x.Type || !slices.Equal(y.Shape, x.Shape) || !bytes.Equal(y.Data, x.Data) {
			t.Fatalf("round trip: %v", err)
		}
	})
}
