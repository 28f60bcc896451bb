package safetensors

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"github.com/tapir-ml/tapir/backend"
	"github.com/tapir-ml/tapir/tensor"
)

// TestHalfAllBits reads every float16 and bfloat16 bit pattern from a
// hand-made file, compares the values with an IEEE 754 decoder written
// here, writes the tensor back and compares the bits: every non-NaN
// pattern (±0, subnormals, ±Inf included) survives exactly. NaNs stay
// NaNs of the same sign; their payload is what package tensor makes of
// it: float16 NaNs become the quiet NaN 0x7e00 (with the sign), bfloat16
// NaNs get their quiet bit (0x0040) set.
func TestHalfAllBits(t *testing.T) {
	for _, dt := range []string{"F16", "BF16"} {
		t.Run(dt, func(t *testing.T) {
			brain := dt == "BF16"
			data := make([]byte, 2*65536)
			for i := range 65536 {
				binary.LittleEndian.PutUint16(data[2*i:], uint16(i))
			}
			file := rawFile(`{"h":{"dtype":"`+dt+`","shape":[256,256],"data_offsets":[0,131072]}}`, data)
			f, err := Read(bytes.NewReader(file), int64(len(file)))
			if err != nil {
				t.Fatal(err)
			}
			x, err := f.Tensor("h")
			if err != nil {
				t.Fatal(err)
			}
			if x.DType() != wantDType(dt) {
				t.Fatalf("dtype %v", x.DType())
			}
			bad := 0
			for i, v := range x.Float64s() {
				w := refHalf(uint16(i), brain)
				ok := math.Float64bits(v) == math.Float64bits(w) ||
					(math.IsNaN(w) && math.IsNaN(v) && math.Signbit(v) == math.Signbit(w))
				if !ok && bad < 5 {
					t.Errorf("%#04x reads as %v, want %v", i, v, w)
					bad++
				}
			}

			var buf bytes.Buffer
			if err := Write(&buf, map[string]*tensor.Tensor{"h": x}, nil, nil); err != nil {
				t.Fatal(err)
			}
			out := buf.Bytes()[buf.Len()-len(data):]
			for i := range 65536 {
				h := uint16(i)
				want := h
				if math.IsNaN(refHalf(h, brain)) {
					if brain {
						want = h | 0x40
					} else {
						want = h&0x8000 | 0x7e00
					}
				}
				if got := binary.LittleEndian.Uint16(out[2*i:]); got != want && bad < 10 {
					t.Errorf("%#04x written back as %#04x, want %#04x", h, got, want)
					bad++
				}
			}
		})
	}
}

// TestFloat32ToHalf: narrowing inverts the exact widening for every
// pattern, NaN payloads included, so Write keeps whatever bits a tensor
// holds.
func TestFloat32ToHalf(t *testing.T) {
	for i := range 65536 {
		h := uint16(i)
		if got := float32ToHalf(backend.Float16ToFloat32(h), false); got != h {
			t.Errorf("float16 %#04x → %#04x", h, got)
		}
		if got := float32ToHalf(backend.BFloat16ToFloat32(h), true); got != h {
			t.Errorf("bfloat16 %#04x → %#04x", h, got)
		}
	}
	// a float32 NaN whose payload lies only in the bits narrowing drops
	// stays a NaN
	nan := math.Float32frombits(0x7f800001)
	if h := float32ToHalf(nan, false); !math.IsNaN(refHalf(h, false)) {
		t.Errorf("float16 of %#x = %#04x, not a NaN", 0x7f800001, h)
	}
	if h := float32ToHalf(nan, true); !math.IsNaN(refHalf(h, true)) {
		t.Errorf("bfloat16 of %#x = %#04x, not a NaN", 0x7f800001, h)
	}
}

// TestLargeTensors loads tensors bigger than the chunk size (made small
// here), through the chunked path (from a ReaderAt) and from a mapped
// file, with dtypes that convert on the way in and one that does not.
func TestLargeTensors(t *testing.T) {
	defer func(old int) { chunkBytes = old }(chunkBytes)
	chunkBytes = 4096
	type big struct {
		dtype string
		size  int
		n     int
		put   func(b []byte, i int)      // writes the file's bytes of element i
		check func(x *tensor.Tensor) int // index of the first wrong element, or -1
	}
	cases := []big{
		{"F16", 2, chunkBytes/2 + 12345, func(b []byte, i int) { binary.LittleEndian.PutUint16(b, uint16(i*7)&0x7bff) },
			func(x *tensor.Tensor) int {
				for i, v := range x.Float32s() {
					if float64(v) != refHalf(uint16(i*7)&0x7bff, false) {
						return i
					}
				}
				return -1
			}},
		{"F32", 4, chunkBytes/4 + 777, func(b []byte, i int) { binary.LittleEndian.PutUint32(b, math.Float32bits(float32(i)/3)) },
			func(x *tensor.Tensor) int {
				for i, v := range x.Float32s() {
					if v != float32(i)/3 {
						return i
					}
				}
				return -1
			}},
		{"I8", 1, chunkBytes + 99, func(b []byte, i int) { b[0] = byte(i * 13) },
			func(x *tensor.Tensor) int {
				for i, v := range x.Int64s() {
					if v != int64(int8(byte(i*13))) {
						return i
					}
				}
				return -1
			}},
	}
	dir := t.TempDir()
	for _, c := range cases {
		data := make([]byte, c.n*c.size)
		for i := range c.n {
			c.put(data[i*c.size:], i)
		}
		// a 4-byte offset so that nothing is 8-byte aligned in the file
		pad := `{"pad":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},`
		file := rawFile(pad+`"x":{"dtype":"`+c.dtype+`","shape":[`+itoa(int64(c.n))+`],"data_offsets":[4,`+itoa(int64(4+len(data)))+`]}}`,
			append([]byte{1, 2, 3, 4}, data...))
		path := filepath.Join(dir, c.dtype+".safetensors")
		if err := os.WriteFile(path, file, 0o600); err != nil {
			t.Fatal(err)
		}
		for _, op := range openers {
			f := op.open(t, path)
			x, err := f.Tensor("x")
			if err != nil {
				t.Fatalf("%s %s: %v", c.dtype, op.name, err)
			}
			if x.Numel() != c.n || x.DType() != wantDType(c.dtype) {
				t.Errorf("%s %s: %d elements of %v", c.dtype, op.name, x.Numel(), x.DType())
			} else if i := c.check(x); i >= 0 {
				t.Errorf("%s %s: element %d is wrong", c.dtype, op.name, i)
			}
			f.Close()
		}
	}
}

// TestDirectAlignment: the zero-copy path takes only slices aligned for
// their element type (misaligned ones would fault on some CPUs), and
// gives what the portable decoder gives.
func TestDirectAlignment(t *testing.T) {
	backing := make([]uint64, 4) // 8-byte aligned
	raw := unsafe.Slice((*byte)(unsafe.Pointer(&backing[0])), 32)
	for i := range raw {
		raw[i] = byte(i*37 + 1)
	}
	// align is the Go type's alignment: 4 for the 8-byte types on 386
	for _, c := range []struct {
		dtype       string
		size, align int
	}{{"F64", 8, int(unsafe.Alignof(float64(0)))}, {"F32", 4, 4}, {"I64", 8, int(unsafe.Alignof(int64(0)))},
		{"I32", 4, 4}, {"U8", 1, 1}, {"F16", 2, 2}, {"BOOL", 1, 1}} {
		for off := 0; off < 8; off++ {
			b := raw[off : off+2*c.size]
			got, ok := direct(c.dtype, b, nil)
			wantOK := littleEndian && off%c.align == 0 && c.dtype != "F16" && c.dtype != "BOOL"
			if ok != wantOK {
				t.Errorf("%s at offset %d: direct ok = %v, want %v", c.dtype, off, ok, wantOK)
			}
			if ok && fingerprint(got) != fingerprint(decode(c.dtype, b, nil)) {
				t.Errorf("%s at offset %d: direct %s, decode %s", c.dtype, off, fingerprint(got), fingerprint(decode(c.dtype, b, nil)))
			}
		}
	}
}
