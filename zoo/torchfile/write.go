package torchfile

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/tapir-ml/tapir/tensor"
	"github.com/tapir-ml/tapir/tensor/safetensors"
)

// writeByteOrder is whether Write adds the byteorder record, as torch 2
// does; torch 1.13 does not (tests turn it off to compare with its files).
var writeByteOrder = true

// archiveName is the top directory of the archive, as torch.save names it
// when it writes to a file object.
const archiveName = "archive"

// Write writes tensors to w as torch.save(OrderedDict, f) does in the zip
// format, for torch.load (1.6 and later) to read: a protocol-2 data.pkl
// holding an OrderedDict of the tensors in order (which must name every
// key of tensors once; nil means the names sorted), a "byteorder" record
// ("little"), one uncompressed record data/N per tensor, each starting at
// a multiple of 64 bytes in the file, and a "version" record ("3").
// Every tensor gets a storage of its own, contiguous, in row-major order,
// so views are written as copies and tensors that share storage are
// written once each. Tensors may be on any device; they load in torch as
// CPU tensors that do not require grad. Int8 and int16 tensors do not
// exist in package tensor, so a file read with int8 or int16 tensors is
// written back with int32 ones.
func Write(w io.Writer, tensors map[string]*tensor.Tensor, order []string) error {
	order, err := checkOrder(tensors, order)
	if err != nil {
		return err
	}
	pk := newPickler()
	pk.global("collections", "OrderedDict")
	pk.b.WriteByte(')')
	pk.b.WriteByte('R')
	pk.put()
	type rec struct {
		key string
		t   *tensor.Tensor
		n   int64
	}
	recs := make([]rec, len(order))
	for i := 0; i < len(order); i += batchSize {
		batch := order[i:min(i+batchSize, len(order))]
		if len(batch) > 1 {
			pk.b.WriteByte('(')
		}
		for j, name := range batch {
			t := tensors[name]
			class, _ := storageName(t.DType())
			key := strconv.Itoa(i + j)
			pk.str(name)
			pk.tensor(class, key, t.Numel(), t.Shape())
			recs[i+j] = rec{key, t, int64(t.Numel()) * int64(t.DType().Size())}
		}
		if len(batch) > 1 {
			pk.b.WriteByte('u') // SETITEMS
		} else {
			pk.b.WriteByte('s') // SETITEM
		}
	}
	pk.b.WriteByte('.')

	zw := &zipWriter{w: w}
	write := func(name string, data []byte) error {
		if err := zw.create(archiveName+"/"+name, uint64(len(data))); err != nil {
			return err
		}
		if _, err := zw.Write(data); err != nil {
			return err
		}
		return zw.closeEntry()
	}
	if err := write("data.pkl", pk.b.Bytes()); err != nil {
		return fmt.Errorf("torchfile: write: %w", err)
	}
	if writeByteOrder {
		if err := write("byteorder", []byte("little")); err != nil {
			return fmt.Errorf("torchfile: write: %w", err)
		}
	}
	// torch writes the records in the order of their keys as strings
	slices.SortFunc(recs, func(a, b rec) int {
		switch {
		case a.key < b.key:
			return -1
		case a.key > b.key:
			return 1
		}
		return 0
	})
	for _, r := range recs {
		if err := zw.create(archiveName+"/data/"+r.key, uint64(r.n)); err != nil {
			return fmt.Errorf("torchfile: write: %w", err)
		}
		var err error
		if perr := tensor.Try(func() { err = writeTensor(zw, r.t) }); perr != nil {
			err = perr // a device that cannot be read from
		}
		if err != nil {
			return fmt.Errorf("torchfile: write: %w", err)
		}
		if err := zw.closeEntry(); err != nil {
			return fmt.Errorf("torchfile: write: %w", err)
		}
	}
	if err := write("version", []byte("3\n")); err != nil {
		return fmt.Errorf("torchfile: write: %w", err)
	}
	if err := zw.close(); err != nil {
		return fmt.Errorf("torchfile: write: %w", err)
	}
	return nil
}

// checkOrder checks Write's arguments and returns the order to write in.
func checkOrder(tensors map[string]*tensor.Tensor, order []string) ([]string, error) {
	if order == nil {
		order = make([]string, 0, len(tensors))
		for name := range tensors {
			order = append(order, name)
		}
		slices.Sort(order)
	} else {
		seen := make(map[string]bool, len(order))
		for _, name := range order {
			if seen[name] {
				return nil, fmt.Errorf("torchfile: write: %q is twice in the order", name)
			}
			seen[name] = true
			if _, ok := tensors[name]; !ok {
				return nil, fmt.Errorf("torchfile: write: %q is in the order but not among the tensors", name)
			}
		}
		for name := range tensors {
			if !seen[name] {
				return nil, fmt.Errorf("torchfile: write: tensor %q is missing from the order", name)
			}
		}
	}
	for _, name := range order {
		t := tensors[name]
		if t == nil {
			return nil, fmt.Errorf("torchfile: write: tensor %q is nil", name)
		}
		if !utf8.ValidString(name) {
			return nil, fmt.Errorf("torchfile: write: tensor name %q is not valid UTF-8", name)
		}
		if _, ok := storageName(t.DType()); !ok {
			return nil, fmt.Errorf("torchfile: write: tensor %q: dtype %v has no torch storage", name, t.DType())
		}
	}
	return order, nil
}

// writeTensor writes t's elements in row-major order, little-endian, a
// chunk at a time so that a large or 16-bit tensor needs little scratch
// memory.
func writeTensor(w io.Writer, t *tensor.Tensor) error {
	n := t.Numel()
	if n == 0 {
		return nil
	}
	flat := t.Detach().Contiguous().Reshape(-1)
	size := t.DType().Size()
	per := max(chunkBytes/size, 1)
	buf := make([]byte, min(per, n)*size)
	for lo := 0; lo < n; lo += per {
		m := min(per, n-lo)
		piece := flat.Narrow(0, lo, m)
		b := buf[:m*size]
		switch t.DType() {
		case tensor.Float64:
			for i, v := range piece.Float64s() {
				binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(v))
			}
		case tensor.Float32:
			for i, v := range piece.Float32s() {
				binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
			}
		case tensor.Float16, tensor.BFloat16:
			brain := t.DType() == tensor.BFloat16
			for i, v := range piece.Float32s() {
				binary.LittleEndian.PutUint16(b[2*i:], float32ToHalf(v, brain))
			}
		case tensor.Int64:
			for i, v := range piece.Int64s() {
				binary.LittleEndian.PutUint64(b[8*i:], uint64(v))
			}
		case tensor.Int32:
			for i, v := range piece.Int64s() {
				binary.LittleEndian.PutUint32(b[4*i:], uint32(v))
			}
		case tensor.Uint8:
			for i, v := range piece.Int64s() {
				b[i] = uint8(v)
			}
		case tensor.Bool:
			for i, v := range piece.Bools() {
				b[i] = 0
				if v {
					b[i] = 1
				}
			}
		default:
			return fmt.Errorf("dtype %v cannot be written", t.DType())
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return nil
}

// A record whose size or whose header's offset reaches these limits needs
// the zip64 extensions (variables so that tests can exercise them on
// small files).
var (
	zip64SizeLimit   uint64 = math.MaxUint32
	zip64OffsetLimit uint64 = math.MaxUint32
)

// zipWriter writes an archive the way torch's writer (miniz) does:
// uncompressed records with zeroed times, sizes in a data descriptor
// after the data, an "FB" extra field that pads each record's data to a
// multiple of 64 bytes, and zip64 end records.
type zipWriter struct {
	w       io.Writer
	off     uint64 // bytes written so far
	entries []zipEntry
	cur     *zipEntry
	err     error
}

type zipEntry struct {
	name      string
	off       uint64 // of the local header
	size      uint64 // as announced
	written   uint64
	crc       uint32
	zip64     bool // sizes need 64 bits
	zip64Offs bool // the header offset needs 64 bits
}

const fieldAlignment = 64

// flags are the record's general-purpose bits: UTF-8 names, and a data
// descriptor after the data unless it is empty.
func (e *zipEntry) flags() uint16 {
	if e.size == 0 {
		return 0x0800
	}
	return 0x0808
}

func (z *zipWriter) raw(p []byte) {
	if z.err != nil {
		return
	}
	n, err := z.w.Write(p)
	z.off += uint64(n)
	z.err = err
}

// create starts a record of size bytes.
func (z *zipWriter) create(name string, size uint64) error {
	if z.err != nil {
		return z.err
	}
	e := zipEntry{name: name, off: z.off, size: size, zip64: size >= zip64SizeLimit, zip64Offs: z.off >= zip64OffsetLimit}
	var extra []byte
	if e.zip64 || e.zip64Offs {
		var x []byte
		if e.zip64 {
			x = binary.LittleEndian.AppendUint64(x, size)
			x = binary.LittleEndian.AppendUint64(x, size)
		}
		if e.zip64Offs {
			x = binary.LittleEndian.AppendUint64(x, e.off)
		}
		extra = binary.LittleEndian.AppendUint16(extra, 1) // zip64 extended information
		extra = binary.LittleEndian.AppendUint16(extra, uint16(len(x)))
		extra = append(extra, x...)
	}
	start := e.off + 30 + uint64(len(name)) + uint64(len(extra)) + 4
	pad := (fieldAlignment - start%fieldAlignment) % fieldAlignment
	extra = append(extra, 'F', 'B')
	extra = binary.LittleEndian.AppendUint16(extra, uint16(pad))
	for range pad {
		extra = append(extra, 'Z')
	}
	var sz uint32
	if e.zip64 {
		sz = math.MaxUint32
	}
	h := make([]byte, 0, 30+len(name)+len(extra))
	h = binary.LittleEndian.AppendUint32(h, 0x04034b50)
	h = binary.LittleEndian.AppendUint16(h, 0) // version needed
	h = binary.LittleEndian.AppendUint16(h, e.flags())
	h = binary.LittleEndian.AppendUint16(h, 0) // stored
	h = binary.LittleEndian.AppendUint32(h, 0) // time and date
	h = binary.LittleEndian.AppendUint32(h, 0) // CRC-32: in the descriptor
	h = binary.LittleEndian.AppendUint32(h, sz)
	h = binary.LittleEndian.AppendUint32(h, sz)
	h = binary.LittleEndian.AppendUint16(h, uint16(len(name)))
	h = binary.LittleEndian.AppendUint16(h, uint16(len(extra)))
	h = append(h, name...)
	h = append(h, extra...)
	z.raw(h)
	z.entries = append(z.entries, e)
	z.cur = &z.entries[len(z.entries)-1]
	return z.err
}

// Write writes data of the current record.
func (z *zipWriter) Write(p []byte) (int, error) {
	if z.err != nil {
		return 0, z.err
	}
	z.cur.crc = crc32.Update(z.cur.crc, crc32.IEEETable, p)
	z.cur.written += uint64(len(p))
	before := z.off
	z.raw(p)
	return int(z.off - before), z.err
}

// closeEntry ends the current record with its data descriptor.
func (z *zipWriter) closeEntry() error {
	e := z.cur
	z.cur = nil
	if z.err == nil && e.written != e.size {
		z.err = fmt.Errorf("record %s: %d bytes written, %d announced", e.name, e.written, e.size)
	}
	if e.size == 0 {
		return z.err // miniz writes no descriptor for an empty record
	}
	d := binary.LittleEndian.AppendUint32(nil, 0x08074b50)
	d = binary.LittleEndian.AppendUint32(d, e.crc)
	if e.zip64 {
		d = binary.LittleEndian.AppendUint64(d, e.size)
		d = binary.LittleEndian.AppendUint64(d, e.size)
	} else {
		d = binary.LittleEndian.AppendUint32(d, uint32(e.size))
		d = binary.LittleEndian.AppendUint32(d, uint32(e.size))
	}
	z.raw(d)
	return z.err
}

// close writes the central directory and the end records.
func (z *zipWriter) close() error {
	cdStart := z.off
	for _, e := range z.entries {
		var x []byte
		sz, off := uint32(e.size), uint32(e.off)
		if e.zip64 {
			x = binary.LittleEndian.AppendUint64(x, e.size)
			x = binary.LittleEndian.AppendUint64(x, e.size)
			sz = math.MaxUint32
		}
		if e.zip64Offs {
			x = binary.LittleEndian.AppendUint64(x, e.off)
			off = math.MaxUint32
		}
		var extra []byte
		if len(x) > 0 {
			extra = binary.LittleEndian.AppendUint16(extra, 1)
			extra = binary.LittleEndian.AppendUint16(extra, uint16(len(x)))
			extra = append(extra, x...)
		}
		h := make([]byte, 0, 46+len(e.name)+len(extra))
		h = binary.LittleEndian.AppendUint32(h, 0x02014b50)
		h = binary.LittleEndian.AppendUint16(h, 0) // version made by
		h = binary.LittleEndian.AppendUint16(h, 0) // version needed
		h = binary.LittleEndian.AppendUint16(h, e.flags())
		h = binary.LittleEndian.AppendUint16(h, 0) // stored
		h = binary.LittleEndian.AppendUint32(h, 0) // time and date
		h = binary.LittleEndian.AppendUint32(h, e.crc)
		h = binary.LittleEndian.AppendUint32(h, sz)
		h = binary.LittleEndian.AppendUint32(h, sz)
		h = binary.LittleEndian.AppendUint16(h, uint16(len(e.name)))
		h = binary.LittleEndian.AppendUint16(h, uint16(len(extra)))
		h = binary.LittleEndian.AppendUint16(h, 0) // comment
		h = binary.LittleEndian.AppendUint16(h, 0) // disk
		h = binary.LittleEndian.AppendUint16(h, 0) // internal attributes
		h = binary.LittleEndian.AppendUint32(h, 0) // external attributes
		h = binary.LittleEndian.AppendUint32(h, off)
		h = append(h, e.name...)
		h = append(h, extra...)
		z.raw(h)
	}
	cdSize := z.off - cdStart
	n := uint64(len(z.entries))
	eocd64 := z.off
	r := binary.LittleEndian.AppendUint32(nil, 0x06064b50) // zip64 end of central directory
	r = binary.LittleEndian.AppendUint64(r, 44)
	r = binary.LittleEndian.AppendUint16(r, 0x031e) // made by: Unix, 3.0
	r = binary.LittleEndian.AppendUint16(r, 0x002d) // needed: 4.5
	r = binary.LittleEndian.AppendUint32(r, 0)
	r = binary.LittleEndian.AppendUint32(r, 0)
	r = binary.LittleEndian.AppendUint64(r, n)
	r = binary.LittleEndian.AppendUint64(r, n)
	r = binary.LittleEndian.AppendUint64(r, cdSize)
	r = binary.LittleEndian.AppendUint64(r, cdStart)
	r = binary.LittleEndian.AppendUint32(r, 0x07064b50) // its locator
	r = binary.LittleEndian.AppendUint32(r, 0)
	r = binary.LittleEndian.AppendUint64(r, eocd64)
	r = binary.LittleEndian.AppendUint32(r, 1)
	r = binary.LittleEndian.AppendUint32(r, 0x06054b50) // end of central directory
	r = binary.LittleEndian.AppendUint16(r, 0)
	r = binary.LittleEndian.AppendUint16(r, 0)
	r = binary.LittleEndian.AppendUint16(r, uint16(min(n, math.MaxUint16)))
	r = binary.LittleEndian.AppendUint16(r, uint16(min(n, math.MaxUint16)))
	r = binary.LittleEndian.AppendUint32(r, uint32(min(cdSize, math.MaxUint32)))
	r = binary.LittleEndian.AppendUint32(r, uint32(min(cdStart, math.MaxUint32)))
	r = binary.LittleEndian.AppendUint16(r, 0)
	z.raw(r)
	return z.err
}

// Save writes tensors (as [Write] does) to the file at path, atomically:
// it writes a temporary file in the same directory, syncs and closes it,
// renames it over path and syncs the directory. On an error before the
// rename the temporary file is removed and an existing file at path is
// left as it was. A new file gets the permissions os.Create would give
// it; a replaced one keeps its own.
func Save(path string, tensors map[string]*tensor.Tensor, order []string) error {
	if _, err := checkOrder(tensors, order); err != nil {
		return err
	}
	return safetensors.WriteFileAtomic(path, "torchfile: save", func(w io.Writer) error { return Write(w, tensors, order) })
}
