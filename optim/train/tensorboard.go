package train

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sync"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

// SummaryWriter writes scalars to a TensorBoard event file, as
// torch.utils.tensorboard.SummaryWriter does: point `tensorboard
// --logdir DIR` at its directory to see the curves. The file is named
// events.out.tfevents.TIME.HOST (TIME the Unix time in seconds, ten
// digits; a ".N" suffix is added when a file of that name exists) and is
// a sequence of TFRecords, each
//
//	uint64 length, little-endian
//	uint32 masked CRC-32C of those 8 bytes
//	length bytes: a serialized tensorflow.Event protocol buffer
//	uint32 masked CRC-32C of the data
//
// where a masked CRC is ((crc >> 15) | (crc << 17)) + 0xa282ead8. The
// first event carries file_version "brain.Event:2"; each scalar is an
// Event{wall_time, step, summary{value{tag, simple_value}}}. Every event
// is written with one write call, so a reader never sees half a record
// unless the process dies mid-write, which TensorBoard tolerates. A
// SummaryWriter is safe for concurrent use.
type SummaryWriter struct {
	mu   sync.Mutex
	f    *os.File
	path string
	now  func() time.Time
	err  error
}

// NewSummaryWriter creates dir if needed and a new event file in it, and
// writes the file_version event.
func NewSummaryWriter(dir string) (*SummaryWriter, error) {
	return newSummaryWriter(dir, time.Now)
}

func newSummaryWriter(dir string, now func() time.Time) (*SummaryWriter, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("train: tensorboard: %w", err)
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	t := now()
	base := fmt.Sprintf("events.out.tfevents.%010d.%s", t.Unix(), host)
	var f *os.File
	for i := 0; ; i++ {
		name := base
		if i > 0 {
			name = fmt.Sprintf("%s.%d", base, i)
		}
		f, err = os.OpenFile(filepath.Join(dir, name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil || !errors.Is(err, fs.ErrExist) || i > 1000 {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("train: tensorboard: %w", err)
	}
	w := &SummaryWriter{f: f, path: f.Name(), now: now}
	if err := w.write(fileVersionEvent(wallTime(t))); err != nil {
		f.Close()
		return nil, err
	}
	return w, nil
}

// Path returns the event file's path.
func (w *SummaryWriter) Path() string { return w.path }

// AddScalar records value under tag at step, stamped with the current
// time (torch's add_scalar(tag, scalar_value, global_step)).
func (w *SummaryWriter) AddScalar(tag string, value float64, step int) error {
	return w.AddScalarAt(tag, value, step, w.now())
}

// AddScalarAt is AddScalar with the event's wall time given.
func (w *SummaryWriter) AddScalarAt(tag string, value float64, step int, at time.Time) error {
	return w.write(scalarEvent(wallTime(at), int64(step), tag, float32(value)))
}

// Flush commits the file to stable storage (each event is already
// written to the operating system when AddScalar returns).
func (w *SummaryWriter) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return w.closedErr()
	}
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("train: tensorboard: %w", err)
	}
	return nil
}

// Close syncs and closes the file. Later calls return the first error, or
// nil.
func (w *SummaryWriter) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return w.err
	}
	err := w.f.Sync()
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	w.f = nil
	if err != nil {
		w.err = fmt.Errorf("train: tensorboard: %w", err)
	}
	return w.err
}

func (w *SummaryWriter) closedErr() error {
	return fmt.Errorf("train: tensorboard: %s is closed", w.path)
}

func (w *SummaryWriter) write(event []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return w.closedErr()
	}
	if _, err := w.f.Write(AppendRecord(nil, event)); err != nil {
		return fmt.Errorf("train: tensorboard: %s: %w", w.path, err)
	}
	return nil
}

// wallTime returns t in seconds since the Unix epoch, as the nearest
// float64 to the seconds plus the fraction.
func wallTime(t time.Time) float64 {
	return float64(t.Unix()) + float64(t.Nanosecond())/1e9
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// MaskedCRC returns TFRecord's masked CRC-32C (Castagnoli) of b:
// ((crc >> 15) | (crc << 17)) + 0xa282ead8.
func MaskedCRC(b []byte) uint32 {
	c := crc32.Checksum(b, castagnoli)
	return (c>>15 | c<<17) + 0xa282ead8
}

// AppendRecord appends data framed as one TFRecord to dst: the length as
// a little-endian uint64, its masked CRC, the data and the data's masked
// CRC, each CRC a little-endian uint32.
func AppendRecord(dst, data []byte) []byte {
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(data)))
	dst = append(dst, n[:]...)
	dst = binary.LittleEndian.AppendUint32(dst, MaskedCRC(n[:]))
	dst = append(dst, data...)
	return binary.LittleEndian.AppendUint32(dst, MaskedCRC(data))
}

// Field numbers of tensorflow/core/util/event.proto and
// tensorflow/core/framework/summary.proto.
const (
	eventWallTime    = 1 // double
	eventStep        = 2 // int64
	eventFileVersion = 3 // string
	eventSummary     = 5 // Summary
	summaryValue     = 1 // repeated Summary.Value
	valueTag         = 1 // string
	valueSimpleValue = 2 // float
)

// fileVersionEvent encodes Event{wall_time, file_version: "brain.Event:2"}.
func fileVersionEvent(wall float64) []byte {
	b := protowire.AppendTag(nil, eventWallTime, protowire.Fixed64Type)
	b = protowire.AppendFixed64(b, math.Float64bits(wall))
	b = protowire.AppendTag(b, eventFileVersion, protowire.BytesType)
	return protowire.AppendString(b, "brain.Event:2")
}

// scalarEvent encodes Event{wall_time, step, summary{value{tag,
// simple_value}}}. Fields holding their zero value are left out, as
// proto3 serializers do.
func scalarEvent(wall float64, step int64, tag string, v float32) []byte {
	var value []byte
	if tag != "" {
		value = protowire.AppendTag(value, valueTag, protowire.BytesType)
		value = protowire.AppendString(value, tag)
	}
	value = protowire.AppendTag(value, valueSimpleValue, protowire.Fixed32Type)
	value = protowire.AppendFixed32(value, math.Float32bits(v))
	summary := protowire.AppendTag(nil, summaryValue, protowire.BytesType)
	summary = protowire.AppendBytes(summary, value)

	b := protowire.AppendTag(nil, eventWallTime, protowire.Fixed64Type)
	b = protowire.AppendFixed64(b, math.Float64bits(wall))
	if step != 0 {
		b = protowire.AppendTag(b, eventStep, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(step))
	}
	b = protowire.AppendTag(b, eventSummary, protowire.BytesType)
	return protowire.AppendBytes(b, summary)
}
