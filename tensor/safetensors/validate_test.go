package safetensors

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"runtime"
	"strings"
	"testing"
)

// f32 is a one-element F32 entry with the given offsets, for building
// headers.
func f32(begin, end int64) string {
	return `{"dtype":"F32","shape":[` + itoa((end-begin)/4) + `],"data_offsets":[` + itoa(begin) + `,` + itoa(end) + `]}`
}

// lenOnly is a file whose 8-byte header length is n, followed by rest.
func lenOnly(n uint64, rest string) []byte {
	return append(binary.LittleEndian.AppendUint64(nil, n), rest...)
}

// badFiles are malformed files, each with a piece of the error Read must
// give. They are also the fuzz seed corpus (see TestWriteFuzzCorpus).
var badFiles = []struct {
	name string
	file []byte
	want string
}{
	{"empty file", nil, "too short"},
	{"7 bytes", []byte{2, 0, 0, 0, 0, 0, 0}, "too short"},
	{"header past end", lenOnly(100, "{}"), "past the end"},
	{"header over 100MB", lenOnly(100_000_001, "{}"), "larger than the limit"},
	{"header length 2^64-1", lenOnly(1<<64-1, "{}"), "larger than the limit"},
	{"header length 2^63", lenOnly(1<<63, "{}"), "larger than the limit"},
	{"zero-length header", rawFile("", nil), "start with '{'"},
	{"truncated JSON", rawFile(`{"a":`, nil), "end of the header"},
	{"unclosed object", rawFile(`{"a":`+f32(0, 4), make([]byte, 4)), "end of the header"},
	{"JSON array", rawFile(`[]`, nil), "start with '{'"},
	{"leading space", rawFile(` {}`, nil), "start with '{'"},
	{"trailing garbage", rawFile(`{}x`, nil), "after the JSON object"},
	{"second object", rawFile(`{}{}`, nil), "after the JSON object"},
	{"trailing comma", rawFile(`{"a":`+f32(0, 4)+`,}`, make([]byte, 4)), "header"},
	{"invalid UTF-8", rawFile("{\"\xff\":"+f32(0, 4)+"}", make([]byte, 4)), "UTF-8"},
	{"NUL padding", rawFile("{}\x00\x00", nil), "after the JSON object"},
	{"unknown dtype", rawFile(`{"a":{"dtype":"F7","shape":[1],"data_offsets":[0,4]}}`, make([]byte, 4)), `unknown dtype "F7"`},
	{"lower-case dtype", rawFile(`{"a":{"dtype":"f32","shape":[1],"data_offsets":[0,4]}}`, make([]byte, 4)), "unknown dtype"},
	{"dtype not a string", rawFile(`{"a":{"dtype":5,"shape":[1],"data_offsets":[0,4]}}`, make([]byte, 4)), `tensor "a"`},
	{"no dtype", rawFile(`{"a":{"shape":[1],"data_offsets":[0,4]}}`, make([]byte, 4)), "no dtype"},
	{"no shape", rawFile(`{"a":{"dtype":"F32","data_offsets":[0,4]}}`, make([]byte, 4)), "no shape"},
	{"null shape", rawFile(`{"a":{"dtype":"F32","shape":null,"data_offsets":[0,4]}}`, make([]byte, 4)), "no shape"},
	{"no offsets", rawFile(`{"a":{"dtype":"F32","shape":[1]}}`, make([]byte, 4)), "no data_offsets"},
	{"entry not an object", rawFile(`{"a":5}`, nil), `tensor "a"`},
	{"entry null", rawFile(`{"a":null}`, nil), "no dtype"},
	{"negative dim", rawFile(`{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}`, make([]byte, 4)), `tensor "a"`},
	{"fractional dim", rawFile(`{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}`, make([]byte, 4)), `tensor "a"`},
	{"dim 1e30", rawFile(`{"a":{"dtype":"F32","shape":[1e30],"data_offsets":[0,4]}}`, make([]byte, 4)), `tensor "a"`},
	{"dim 2^64", rawFile(`{"a":{"dtype":"F32","shape":[18446744073709551616],"data_offsets":[0,4]}}`, make([]byte, 4)), `tensor "a"`},
	{"dim 2^63", rawFile(`{"a":{"dtype":"U8","shape":[9223372036854775808],"data_offsets":[0,4]}}`, make([]byte, 4)), "too large"},
	{"shape product overflows", rawFile(`{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}}`, nil), "too many elements"},
	{"shape product wraps to the range", rawFile(`{"a":{"dtype":"U8","shape":[4294967296,4294967296,4],"data_offsets":[0,0]}}`, nil), "too many elements"},
	{"bytes overflow", rawFile(`{"a":{"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,0]}}`, nil), "too many bytes"},
	{"empty dims overflow", rawFile(`{"a":{"dtype":"F32","shape":[4294967296,4294967296,0],"data_offsets":[0,0]}}`, nil), "too many elements"},
	{"shape needs more bytes", rawFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}`, make([]byte, 4)), "needs 8 bytes"},
	{"shape needs fewer bytes", rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,8]}}`, make([]byte, 8)), "needs 4 bytes"},
	{"0-d needs one element", rawFile(`{"a":{"dtype":"F32","shape":[],"data_offsets":[0,0]}}`, nil), "needs 4 bytes"},
	{"offsets reversed", rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}`, make([]byte, 4)), "invalid data_offsets"},
	{"three offsets", rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}}`, make([]byte, 8)), "not 2"},
	{"one offset", rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4]}}`, make([]byte, 4)), "not 2"},
	{"negative offset", rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}}`, make([]byte, 4)), `tensor "a"`},
	{"offset 2^64-1", rawFile(`{"a":{"dtype":"U8","shape":[0],"data_offsets":[18446744073709551615,18446744073709551615]}}`, nil), "invalid data_offsets"},
	{"offsets not an array", rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":"0,4"}}`, make([]byte, 4)), `tensor "a"`},
	{"offsets past the buffer", rawFile(`{"a":`+f32(0, 8)+`}`, make([]byte, 4)), "run past"},
	{"offsets past the file", rawFile(`{"a":`+f32(1<<40, 1<<40+4)+`}`, make([]byte, 4)), "unused"},
	{"overlap", rawFile(`{"a":`+f32(0, 8)+`,"b":`+f32(4, 12)+`}`, make([]byte, 12)), "overlap"},
	{"same range twice", rawFile(`{"a":`+f32(0, 4)+`,"b":`+f32(0, 4)+`}`, make([]byte, 4)), "overlap"},
	{"hole between", rawFile(`{"a":`+f32(0, 4)+`,"b":`+f32(8, 12)+`}`, make([]byte, 12)), "unused"},
	{"hole at the start", rawFile(`{"a":`+f32(4, 8)+`}`, make([]byte, 8)), "unused"},
	{"bytes after the data", rawFile(`{"a":`+f32(0, 4)+`}`, make([]byte, 6)), "cover 4 bytes of the 6"},
	{"data but no tensors", rawFile(`{}`, []byte{1}), "cover 0 bytes of the 1"},
	{"duplicate name", rawFile(`{"a":`+f32(0, 4)+`,"a":`+f32(4, 8)+`}`, make([]byte, 8)), `"a" appears twice`},
	{"duplicate metadata", rawFile(`{"__metadata__":{},"__metadata__":{}}`, nil), "appears twice"},
	{"metadata number", rawFile(`{"__metadata__":{"k":1}}`, nil), "strings to strings"},
	{"metadata nested", rawFile(`{"__metadata__":{"k":{"x":"y"}}}`, nil), "strings to strings"},
	{"metadata a string", rawFile(`{"__metadata__":"x"}`, nil), "strings to strings"},
	{"metadata an array", rawFile(`{"__metadata__":["x"]}`, nil), "strings to strings"},
	{"deep nesting", rawFile(`{"a":{"dtype":"F32","shape":`+strings.Repeat("[", 20000)+strings.Repeat("]", 20000)+`,"data_offsets":[0,4]}}`, make([]byte, 4)), `tensor "a"`},
}

func TestReadRejects(t *testing.T) {
	for _, c := range badFiles {
		t.Run(c.name, func(t *testing.T) {
			f, err := Read(bytes.NewReader(c.file), int64(len(c.file)))
			if err == nil {
				t.Fatalf("Read accepted it: names %q", f.Names())
			}
			want := c.want
			if bits.UintSize == 32 && strings.HasPrefix(want, "too many") {
				// a dim of 2^32 or more is rejected on its own where an
				// int has 32 bits, before the product is formed
				want = "is too large"
			}
			if !strings.HasPrefix(err.Error(), "safetensors: ") || !strings.Contains(err.Error(), want) {
				t.Errorf("err = %q, want one starting \"safetensors: \" and containing %q", err, c.want)
			}
		})
	}
}

// TestReadRejectsCheaply: whatever a header claims, rejecting a file costs
// memory in proportion to the file, not to the numbers in it.
func TestReadRejectsCheaply(t *testing.T) {
	for _, c := range badFiles {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		Read(bytes.NewReader(c.file), int64(len(c.file)))
		runtime.ReadMemStats(&after)
		if got, limit := after.TotalAlloc-before.TotalAlloc, uint64(64<<10+64*len(c.file)); got > limit {
			t.Errorf("%s: Read of %d bytes allocated %d bytes (limit %d)", c.name, len(c.file), got, limit)
		}
	}
}

// TestReadAccepts lists unusual files the format allows.
func TestReadAccepts(t *testing.T) {
	cases := []struct {
		name  string
		file  []byte
		names []string
		meta  map[string]string
	}{
		{"no tensors", rawFile(`{}`, nil), nil, nil},
		{"space padding", rawFile(`{"a":`+f32(0, 4)+`}       `, make([]byte, 4)), []string{"a"}, nil},
		{"whitespace inside", rawFile("{ \"a\" :\n\t"+f32(0, 4)+" \r\n}", make([]byte, 4)), []string{"a"}, nil},
		{"metadata only", rawFile(`{"__metadata__":{"k":"v"}}`, nil), nil, map[string]string{"k": "v"}},
		{"metadata null", rawFile(`{"__metadata__":null}`, nil), nil, nil},
		{"metadata last", rawFile(`{"a":`+f32(0, 4)+`,"__metadata__":{"k":"v"}}`, make([]byte, 4)), []string{"a"}, map[string]string{"k": "v"}},
		{"header order differs from data order", rawFile(`{"b":`+f32(4, 8)+`,"a":`+f32(0, 4)+`}`, make([]byte, 8)), []string{"b", "a"}, nil},
		{"empty tensors share an offset", rawFile(`{"e1":{"dtype":"F64","shape":[0],"data_offsets":[4,4]},"a":`+f32(0, 4)+`,"e2":{"dtype":"I8","shape":[3,0],"data_offsets":[4,4]}}`, make([]byte, 4)), []string{"e1", "a", "e2"}, nil},
		{"empty tensor at 0", rawFile(`{"e":{"dtype":"BOOL","shape":[0],"data_offsets":[0,0]},"a":`+f32(0, 4)+`}`, make([]byte, 4)), []string{"e", "a"}, nil},
		{"zero dim with huge dims", rawFile(`{"e":{"dtype":"F32","shape":[0,4294967296,1073741824],"data_offsets":[0,0]}}`, nil), []string{"e"}, nil},
		{"unknown fields ignored", rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"extra":[1,{"x":2}]}}`, make([]byte, 4)), []string{"a"}, nil},
		{"empty name", rawFile(`{"":`+f32(0, 4)+`}`, make([]byte, 4)), []string{""}, nil},
		{"escaped name", rawFile(`{"a\u00e9\"\n":`+f32(0, 4)+`}`, make([]byte, 4)), []string{"aé\"\n"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if bits.UintSize == 32 && strings.Contains(c.name, "huge") {
				t.Skip("dims of 2^32 do not fit a 32-bit int")
			}
			f, err := Read(bytes.NewReader(c.file), int64(len(c.file)))
			if err != nil {
				t.Fatal(err)
			}
			if !equalStrings(f.Names(), c.names) {
				t.Errorf("Names() = %q, want %q", f.Names(), c.names)
			}
			if !equalMaps(f.Metadata(), c.meta) {
				t.Errorf("Metadata() = %q, want %q", f.Metadata(), c.meta)
			}
			for _, name := range f.Names() {
				if _, err := f.Tensor(name); err != nil {
					t.Errorf("Tensor(%q): %v", name, err)
				}
			}
		})
	}
}
