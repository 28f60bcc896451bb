package train

import (
	"bytes"
	"encoding/json"
	"math"
	"math/bits"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Two records of a real TensorFlow 2 event file, written for
// tf.summary.scalar("accuracy", 0.99, step=77) and quoted byte for byte in
// TensorBoard's own tests (tensorboard/data/server/tf_record.rs,
// test_success): the file_version event, and a scalar in TF 2's tensor
// form.
var (
	tfRecord1 = []byte("\x18\x00\x00\x00\x00\x00\x00\x00" + "\xa3\x7f\x4b\x22" +
		"\x09\x00\x00\x80\x38\x99\xd6\xd7\x41\x1a\x0dbrain.Event:2" + "\x12\x4b\x36\xab")
	tfRecord2Data = []byte("\x09\xc4\x05\xb7\x3d\x99\xd6\xd7\x41" + "\x10\x4d\x2a\x25" +
		"\x0a\x23\x0a\x08accuracy" +
		"\x42\x0a\x08\x01\x12\x00\x22\x04\xa4\x70\x7d\x3f\x4a" +
		"\x0b\x0a\x09\x0a\x07scalars")
	tfRecord2 = append(append([]byte("\x32\x00\x00\x00\x00\x00\x00\x00"+"\x24\x19\x56\xec"),
		tfRecord2Data...), "\xa5\x5b\x64\x33"...)
)

func TestMaskedCRCPublished(t *testing.T) {
	mask := func(c uint32) uint32 { return (c>>15 | c<<17) + 0xa282ead8 }
	for _, tc := range []struct {
		name string
		data []byte
		want uint32
	}{
		// TensorBoard's masked_crc.rs: from a real event file with
		// Event(file_version="CRC test, one two").
		{"tensorflow file_version record", []byte("\x1a\x11CRC test, one two"), 0x5794d08a},
		// CRC-32C check values (RFC 3720, section B.4), masked.
		{"32 zero bytes", make([]byte, 32), mask(0x8a9136aa)},
		{"32 0xff bytes", bytes.Repeat([]byte{0xff}, 32), mask(0x62a8ab43)},
		{"123456789", []byte("123456789"), mask(0xe3069283)},
	} {
		if got := MaskedCRC(tc.data); got != tc.want {
			t.Errorf("%s: MaskedCRC = %#08x, want %#08x", tc.name, got, tc.want)
		}
	}
}

func TestRecordsMatchTensorFlow(t *testing.T) {
	// The wall time of TF's first record, decoded from its bytes.
	wall := math.Float64frombits(0x41d7d69938800000)
	if got := AppendRecord(nil, fileVersionEvent(wall)); !bytes.Equal(got, tfRecord1) {
		t.Errorf("file_version record\n got % x\nwant % x", got, tfRecord1)
	}
	if got := AppendRecord(nil, tfRecord2Data); !bytes.Equal(got, tfRecord2) {
		t.Errorf("framing of TF's scalar record\n got % x\nwant % x", got, tfRecord2)
	}
}

// unixFloat turns seconds since the epoch into a time.Time.
func unixFloat(s float64) time.Time {
	sec := math.Floor(s)
	return time.Unix(int64(sec), int64(math.Round((s-sec)*1e9)))
}

// TestSummaryWriterGolden writes the events of testdata/scalars.json and
// compares the file with testdata/scalars.tfevents, which
// testdata/gen_tfevents.py encodes by hand in Python (and decodes again,
// checking every CRC) from the formats' specifications.
func TestSummaryWriterGolden(t *testing.T) {
	if bits.UintSize == 32 {
		t.Skip("the golden file holds a step of 2^40, which a 32-bit int cannot")
	}
	var in struct {
		FileWallTime float64 `json:"file_wall_time"`
		Scalars      []struct {
			WallTime float64 `json:"wall_time"`
			Step     int     `json:"step"`
			Tag      string  `json:"tag"`
			Value    float64 `json:"value"`
		} `json:"scalars"`
	}
	b, err := os.ReadFile("testdata/scalars.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &in); err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("testdata/scalars.tfevents")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	w, err := newSummaryWriter(dir, func() time.Time { return unixFloat(in.FileWallTime) })
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range in.Scalars {
		if err := w.AddScalarAt(s.Tag, s.Value, s.Step, unixFloat(s.WallTime)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(w.Path())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("event file differs from testdata/scalars.tfevents\n got % x\nwant % x", got, want)
	}
	host, _ := os.Hostname()
	if base := filepath.Base(w.Path()); base != "events.out.tfevents.1700000000."+host {
		t.Errorf("file name %q, want events.out.tfevents.1700000000.%s", base, host)
	}
}

func TestSummaryWriterNames(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "runs", "a") // made on demand
	clock := func() time.Time { return time.Unix(42, 0) }
	var paths []string
	for range 3 {
		w, err := newSummaryWriter(dir, clock)
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, filepath.Base(w.Path()))
		if err := w.AddScalar("loss", 1, 1); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
		if err := w.AddScalar("loss", 1, 2); err == nil || !strings.Contains(err.Error(), "closed") {
			t.Errorf("AddScalar after Close: %v, want an error saying it is closed", err)
		}
	}
	host, _ := os.Hostname()
	base := "events.out.tfevents.0000000042." + host
	want := []string{base, base + ".1", base + ".2"}
	for i := range want {
		if paths[i] != want[i] {
			t.Errorf("file %d: %q, want %q", i, paths[i], want[i])
		}
	}
}

func TestSummaryWriterBadDir(t *testing.T) {
	f := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := NewSummaryWriter(filepath.Join(f, "sub")); err == nil || !strings.HasPrefix(err.Error(), "train: tensorboard: ") {
		t.Errorf("NewSummaryWriter under a file: %v, want a train: tensorboard: error", err)
	}
}
