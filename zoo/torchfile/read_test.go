package torchfile

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// rezip rewrites the records of a torch zip file with archive/zip (an
// encoder independent of this package), through edit, which may rename,
// change or drop a record (returning ok false) and choose its method.
func rezip(t *testing.T, src []byte, edit func(name string, data []byte) (newName string, newData []byte, method uint16, ok bool), extra map[string][]byte) []byte {
	t.Helper()
	recs := zipRecords(t, src)
	names := make([]string, 0, len(recs))
	for name := range recs {
		names = append(names, name)
	}
	slices.Sort(names)
	slices.Reverse(names) // an order torch never writes
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	write := func(name string, data []byte, method uint16) {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: method})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range names {
		if n, d, m, ok := edit(name, recs[name]); ok {
			write(n, d, m)
		}
	}
	for name, data := range extra {
		write(name, data, zip.Store)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// oracleElemSize is the element size of each storage of writer_oracle.pt,
// by key, from the order gen_fixtures.py builds it in.
var oracleElemSize = map[string]int{
	"0": 4, "1": 8, "2": 2, "3": 2, "4": 8, "5": 4, "6": 1, "7": 1, "8": 4, "9": 4, "10": 2, "11": 1,
}

// TestZipVariants reads torch's files rewritten in ways torch.load
// accepts but torch.save never writes: compressed records, another
// archive name, records in another order, and big-endian storages with a
// byteorder record. Each must load as the original did.
func TestZipVariants(t *testing.T) {
	want := loadSidecar(t)["writer_oracle.pt"]
	src, err := os.ReadFile(filepath.Join("testdata", "writer_oracle.pt"))
	if err != nil {
		t.Fatal(err)
	}
	deflated := rezip(t, src, func(name string, data []byte) (string, []byte, uint16, bool) {
		return strings.Replace(name, "archive/", "my model/", 1), data, zip.Deflate, true
	}, nil)
	bigEndian := rezip(t, src, func(name string, data []byte) (string, []byte, uint16, bool) {
		key, ok := strings.CutPrefix(name, "archive/data/")
		if !ok {
			return name, data, zip.Store, true
		}
		size := oracleElemSize[key]
		swapped := slices.Clone(data)
		for i := 0; i+size <= len(swapped); i += size {
			slices.Reverse(swapped[i : i+size])
		}
		return name, swapped, zip.Store, true
	}, map[string][]byte{"archive/byteorder": []byte("big")})
	for _, c := range []struct {
		name string
		file []byte
	}{{"deflated", deflated}, {"big-endian", bigEndian}} {
		for _, chunk := range []int{4 << 20, 3} {
			withChunks(t, chunk, 2, func() {
				sd, order, err := Read(bytes.NewReader(c.file), int64(len(c.file)))
				if err != nil {
					t.Fatalf("%s: %v", c.name, err)
				}
				t.Run(c.name, func(t *testing.T) { checkAgainstSidecar(t, sd, order, want) })
			})
		}
	}
}

// TestZipErrors damages torch's zip files in ways that must be errors.
func TestZipErrors(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("testdata", "writer_oracle.pt"))
	if err != nil {
		t.Fatal(err)
	}
	flipped := slices.Clone(src)
	flipped[bytes.Index(src, []byte("archive/data/0"))+64] ^= 1 // a byte of conv.weight
	dir := t.TempDir()
	same := func(name string, data []byte) (string, []byte, uint16, bool) { return name, data, zip.Store, true }
	for _, c := range []struct {
		name string
		file []byte
		want string
	}{
		{"crc", flipped, "CRC-32 mismatch"},
		{"truncated", src[:len(src)-30], "zip: "},
		{"no data.pkl", rezip(t, src, func(n string, d []byte) (string, []byte, uint16, bool) {
			return n, d, zip.Store, n != "archive/data.pkl"
		}, nil), "no data.pkl"},
		{"two archives", rezip(t, src, same, map[string][]byte{"other/data.pkl": []byte(".")}), "two archives"},
		{"missing storage", rezip(t, src, func(n string, d []byte) (string, []byte, uint16, bool) {
			return n, d, zip.Store, n != "archive/data/3"
		}, nil), `tensor "bf16": storage "3" has no data`},
		{"short storage", rezip(t, src, func(n string, d []byte) (string, []byte, uint16, bool) {
			if n == "archive/data/1" {
				d = d[:len(d)-1]
			}
			return n, d, zip.Store, true
		}, nil), `storage "1": 3 elements of DoubleStorage, but its record holds 23 bytes`},
		{"byteorder", rezip(t, src, same, map[string][]byte{"archive/byteorder": []byte("middle")}), "byteorder record"},
		{"pickle", rezip(t, src, func(n string, d []byte) (string, []byte, uint16, bool) {
			if n == "archive/data.pkl" {
				d = d[:len(d)-1] // no STOP
			}
			return n, d, zip.Store, true
		}, nil), "data.pkl: pickle at byte 0: no STOP opcode"},
	} {
		for _, rd := range readers {
			path := filepath.Join(dir, c.name+".pt")
			if err := os.WriteFile(path, c.file, 0o644); err != nil {
				t.Fatal(err)
			}
			_, _, err := rd.read(path)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s, %s: error %v, want one containing %q", c.name, rd.name, err, c.want)
			}
		}
	}
}

// pk assembles a pickle from opcodes, written out by hand here as
// pickletools documents them, independently of the package's pickler.
type pk struct{ bytes.Buffer }

func (p *pk) op(b ...byte) *pk { p.Write(b); return p }
func (p *pk) str(s string) *pk {
	p.WriteByte('X')
	binary.Write(p, binary.LittleEndian, uint32(len(s)))
	p.WriteString(s)
	return p
}
func (p *pk) global(module, name string) *pk {
	p.WriteString("c" + module + "\n" + name + "\n")
	return p
}
func (p *pk) int(v int32) *pk {
	p.WriteByte('J')
	binary.Write(p, binary.LittleEndian, v)
	return p
}
func (p *pk) ints(vs ...int32) *pk {
	p.op('(')
	for _, v := range vs {
		p.int(v)
	}
	return p.op('t')
}

// legacyHead is the first three pickles of a legacy file as torch 1.13
// writes them (magic number, protocol version, system info).
func legacyHead(t *testing.T) []byte {
	b, err := os.ReadFile(filepath.Join("testdata", "dtypes_legacy.pt"))
	if err != nil {
		t.Fatal(err)
	}
	return b[:137] // pickletools.dis says the third pickle's STOP is byte 136
}

// storagePID pushes a legacy persistent id ('storage', torch.<class>,
// key, 'cpu', numel, None) and BINPERSID.
func (p *pk) storagePID(class, key string, numel int32) *pk {
	p.op('(').str("storage").global("torch", class).str(key).str("cpu").int(numel).op('N', 't', 'Q')
	return p
}

// legacyFile puts a legacy file together: torch's head, the object
// pickle, the storage keys and, per key, a count and raw data.
func legacyFile(t *testing.T, obj []byte, keys []string, counts []int64, data [][]byte) []byte {
	var b bytes.Buffer
	b.Write(legacyHead(t))
	b.Write(obj)
	var kp pk
	kp.op(0x80, 2, ']', '(')
	for _, k := range keys {
		kp.str(k)
	}
	kp.op('e', '.')
	b.Write(kp.Bytes())
	for i := range keys {
		binary.Write(&b, binary.LittleEndian, counts[i])
		b.Write(data[i])
	}
	return b.Bytes()
}

func f32le(vs ...float32) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, vs)
	return b.Bytes()
}

// TestHandMadePickles reads legacy files whose object pickle is written
// by hand: the older _rebuild_tensor, torch 2's _rebuild_from_type_v2 and
// a plain dict, then files broken in one way each.
func TestHandMadePickles(t *testing.T) {
	data := f32le(1, 2, 3, 4, 5, 6)
	// {"a": _rebuild_tensor(storage, 1, (2, 2), (1, 2)),
	//  "b": _rebuild_from_type_v2(_rebuild_tensor_v2, Parameter, (storage, 0, (6,), (1,), False, OrderedDict()), {})}
	var p pk
	p.op(0x80, 2, '}', '(')
	p.str("a").global("torch._utils", "_rebuild_tensor").op('(').storagePID("FloatStorage", "k", 6).
		int(1).ints(2, 2).ints(1, 2).op('t', 'R')
	p.str("b").global("torch._tensor", "_rebuild_from_type_v2").op('(').
		global("torch._utils", "_rebuild_tensor_v2").global("torch.nn.parameter", "Parameter").
		op('(').storagePID("FloatStorage", "k", 6).int(0).ints(6).ints(1).op(0x89).
		global("collections", "OrderedDict").op(')', 'R', 't').op('}', 't', 'R')
	p.op('u', '.')
	file := legacyFile(t, p.Bytes(), []string{"k"}, []int64{6}, [][]byte{data})
	sd, order, err := Read(bytes.NewReader(file), int64(len(file)))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(order, []string{"a", "b"}) {
		t.Fatalf("order %q", order)
	}
	if got := sd["a"].Float32s(); !slices.Equal(got, []float32{2, 4, 3, 5}) {
		t.Errorf("a = %v, want [2 4 3 5]", got)
	}
	if got := sd["b"].Float32s(); !slices.Equal(got, []float32{1, 2, 3, 4, 5, 6}) || !sd["b"].SharesStorage(sd["a"]) {
		t.Errorf("b = %v (sharing %v)", got, sd["b"].SharesStorage(sd["a"]))
	}

	// one tensor over storage "k" with the given shape, strides, offset
	one := func(class string, numel int32, off int32, shape, strides []int32) []byte {
		var p pk
		p.op(0x80, 2, '}', '(').str("x").global("torch._utils", "_rebuild_tensor_v2").op('(').
			storagePID(class, "k", numel).int(off).ints(shape...).ints(strides...).op(0x89, '}', 't', 'R', 'u', '.')
		return p.Bytes()
	}
	good := one("FloatStorage", 6, 0, []int32{6}, []int32{1})
	badName := bytes.Replace(good, []byte("X\x01\x00\x00\x00x"), []byte("X\x01\x00\x00\x00\xff"), 1)
	twoClasses := func() []byte {
		var p pk
		p.op(0x80, 2, '}', '(')
		for i, class := range []string{"FloatStorage", "IntStorage"} {
			p.str(string(rune('x'+i))).global("torch._utils", "_rebuild_tensor_v2").op('(').
				storagePID(class, "k", 6).int(0).ints(6).ints(1).op(0x89, '}', 't', 'R')
		}
		return p.op('u', '.').Bytes()
	}()
	head := legacyHead(t)
	badMagic := slices.Clone(head)
	badMagic[5] ^= 1
	for _, c := range []struct {
		name string
		file []byte
		want string
	}{
		{"count", legacyFile(t, good, []string{"k"}, []int64{5}, [][]byte{data}), `storage "k" has 5 elements, but its tensors declare 6`},
		{"truncated data", legacyFile(t, good, []string{"k"}, []int64{6}, [][]byte{data[:20]}), "run past the end of the file"},
		{"unknown key", legacyFile(t, good, []string{"j"}, []int64{6}, [][]byte{data}), `storage "j" has data but no tensor refers to it`},
		{"key twice", legacyFile(t, good, []string{"k", "k"}, []int64{6, 6}, [][]byte{data, data}), "listed twice"},
		{"no data", legacyFile(t, good, nil, nil, nil), `storage "k" has no data`},
		{"beyond", legacyFile(t, one("FloatStorage", 6, 2, []int32{2, 3}, []int32{3, 1}), []string{"k"}, []int64{6}, [][]byte{data}), "reach beyond the storage's 6 elements"},
		{"overflow", legacyFile(t, one("FloatStorage", 6, 0, []int32{1 << 30, 1 << 30, 1 << 30}, []int32{0, 0, 0}), []string{"k"}, []int64{6}, [][]byte{data}), "overflows"},
		{"negative", legacyFile(t, one("FloatStorage", 6, 0, []int32{-1}, []int32{1}), []string{"k"}, []int64{6}, [][]byte{data}), "negative value -1"},
		{"rank", legacyFile(t, one("FloatStorage", 6, 0, []int32{}, []int32{1}), []string{"k"}, []int64{6}, [][]byte{data}), "differ in length"},
		{"two classes", legacyFile(t, twoClasses, []string{"k"}, []int64{6}, [][]byte{data}), "both a FloatStorage and a IntStorage"},
		{"dtype", legacyFile(t, one("QInt8Storage", 6, 0, []int32{6}, []int32{1}), []string{"k"}, []int64{6}, [][]byte{data}), "torch.QInt8Storage: dtype not supported"},
		{"magic", append(badMagic, good...), "not torch's magic number"},
		{"name", legacyFile(t, badName, []string{"k"}, []int64{6}, [][]byte{data}), `tensor name "\xff" is not valid UTF-8`},
		{"only head", head, "object: pickle: unexpected end of file"},
		{"text", []byte("hello, world"), "not a PyTorch file"},
		{"tiny", []byte("PK"), "not a PyTorch file"},
	} {
		_, _, err := Read(bytes.NewReader(c.file), int64(len(c.file)))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
}

// TestScanLimits checks the pickle scanner's refusals, which keep
// gopickle from allocating what a malformed length claims.
func TestScanLimits(t *testing.T) {
	for _, c := range []struct {
		name, pickle, want string
	}{
		{"unknown opcode", "\x80\x02\xff.", "unknown opcode 0xff"},
		{"long string", "\x80\x02X\xff\xff\xff\x7f.", "runs past the end"},
		{"bytes8", "\x80\x02\x8e\xff\xff\xff\xff\xff\xff\xff\x7f.", "runs past the end"},
		{"frame", "\x80\x04\x95\x00\x00\x00\x00\x01\x00\x00\x00.", "runs past the end"},
		{"big long", "\x80\x02\x8b\x00\x10\x00\x00" + strings.Repeat("\x01", 4096) + ".", "too large"},
		{"negative length", "\x80\x02T\xff\xff\xff\xff.", "runs past the end"},
		{"line", "\x80\x02I" + strings.Repeat("1", 300) + "\n.", "longer than 256"},
		{"marks", strings.Repeat("(", maxMarkDepth+1) + ".", "nested marks"},
		{"pop mark", "\x80\x021.", "pops a mark"},
		{"no stop", "\x80\x02N", "no STOP"},
	} {
		_, err := scanPickle(strings.NewReader(c.pickle), 0, int64(len(c.pickle)), MaxPickleSize)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error containing %q", c.name, err, c.want)
		}
	}
	// and the unpickler's own panics (LONG1 of no bytes, DICT of an odd
	// number of items) come back as errors
	for _, p := range []string{"\x80\x02\x8a\x00.", "\x80\x02(N\x88\x89d."} {
		if _, err := unpickle([]byte(p), nil); err == nil || !strings.Contains(err.Error(), "malformed pickle") {
			t.Errorf("%q: %v", p, err)
		}
	}
}

// TestBufferedReads loads a fixture through a reader that returns short
// reads and io.EOF with data, as some io.ReaderAt implementations do.
func TestBufferedReads(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "dtypes_legacy.pt"))
	if err != nil {
		t.Fatal(err)
	}
	want, _, err := Read(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := Read(eofReader{b}, int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	if d := sameTensors(got, want); d != "" {
		t.Error(d)
	}
}

// eofReader returns io.EOF along with the last bytes of the data.
type eofReader struct{ b []byte }

func (r eofReader) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(r.b)) {
		return 0, io.EOF
	}
	n := copy(p, r.b[off:])
	if off+int64(n) == int64(len(r.b)) {
		return n, io.EOF
	}
	return n, nil
}
