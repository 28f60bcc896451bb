package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"os"
	"slices"
	"sync"
	"unicode/utf8"

	"github.com/tapir-ml/tapir/internal/mmap"
	"github.com/tapir-ml/tapir/tensor"
)

// MaxHeaderSize is the largest JSON header Read accepts, in bytes: 100 MB,
// the limit of the reference implementation.
const MaxHeaderSize = 100_000_000

// metadataKey is the header entry that holds the free-form metadata.
const metadataKey = "__metadata__"

// chunkBytes bounds the scratch memory a load uses on top of the tensor
// (a variable so that tests can make it small).
var chunkBytes = 4 << 20

// Info describes one tensor of a file as its header lists it.
type Info struct {
	// DType is the format's name for the element type: "F32", "BF16",
	// "I64", "BOOL"…
	DType string
	// Shape is the list of dims; empty for a 0-d tensor.
	Shape []int
	// Offsets are the first and one-past-the-last byte of the tensor's
	// data, counted from the start of the data buffer (after the header).
	Offsets [2]int64
}

// File is an open safetensors file whose header has been read and
// checked. Tensors are read when asked for, so a program can take the few
// it needs from a large file. A File is safe for concurrent use.
type File struct {
	mu     sync.RWMutex
	r      io.ReaderAt // nil once closed
	mem    []byte      // the whole file when it is memory-mapped
	closer func() error

	dataStart int64 // where the data buffer starts in r
	names     []string
	infos     map[string]Info
	meta      map[string]string
}

// Read parses and checks the header of the safetensors file of size bytes
// that r holds. It reads nothing but the header; [File.Tensor] reads the
// data. A file is rejected, with an error that says why, when it is
// shorter than its header says, its header is larger than MaxHeaderSize or
// is not a JSON object of tensor entries (and an optional "__metadata__"
// object of strings), a name repeats, a dtype is unknown, a shape does not
// match its byte range, or the byte ranges overlap, leave holes or do not
// end where the file does.
func Read(r io.ReaderAt, size int64) (*File, error) {
	return read(r, size, nil)
}

func read(r io.ReaderAt, size int64, mem []byte) (*File, error) {
	if size < 8 {
		return nil, fmt.Errorf("safetensors: file of %d bytes is too short for the 8-byte header length", size)
	}
	var lenBuf [8]byte
	if err := readFull(r, lenBuf[:], 0); err != nil {
		return nil, fmt.Errorf("safetensors: reading the header length: %w", err)
	}
	n := binary.LittleEndian.Uint64(lenBuf[:])
	if n > MaxHeaderSize {
		return nil, fmt.Errorf("safetensors: header length %d is larger than the limit of %d bytes", n, MaxHeaderSize)
	}
	if int64(n) > size-8 {
		return nil, fmt.Errorf("safetensors: header length %d runs past the end of the %d-byte file", n, size)
	}
	hdr := make([]byte, n)
	if err := readFull(r, hdr, 8); err != nil {
		return nil, fmt.Errorf("safetensors: reading the header: %w", err)
	}
	f := &File{r: r, mem: mem, dataStart: 8 + int64(n)}
	if err := f.parseHeader(hdr); err != nil {
		return nil, err
	}
	if err := f.checkOffsets(size - f.dataStart); err != nil {
		return nil, err
	}
	return f, nil
}

// readFull fills p from r at off; a reader may report io.EOF with the
// last bytes.
func readFull(r io.ReaderAt, p []byte, off int64) error {
	n, err := r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// entry is a tensor entry of the header as JSON has it; pointers tell a
// missing field from a zero one.
type entry struct {
	DType   *string   `json:"dtype"`
	Shape   *[]uint64 `json:"shape"`
	Offsets *[]uint64 `json:"data_offsets"`
}

func (f *File) parseHeader(hdr []byte) error {
	if !utf8.Valid(hdr) {
		return errors.New("safetensors: header is not valid UTF-8")
	}
	if len(hdr) == 0 || hdr[0] != '{' {
		return errors.New("safetensors: header does not start with '{'")
	}
	dec := json.NewDecoder(bytes.NewReader(hdr))
	if _, err := dec.Token(); err != nil { // the '{' checked above
		return fmt.Errorf("safetensors: header: %w", jsonErr(err))
	}
	f.infos = make(map[string]Info)
	sawMeta := false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("safetensors: header: %w", jsonErr(err))
		}
		name, ok := tok.(string)
		if !ok {
			return fmt.Errorf("safetensors: header: unexpected %v where a name should be", tok)
		}
		if _, dup := f.infos[name]; dup || (name == metadataKey && sawMeta) {
			return fmt.Errorf("safetensors: header: name %q appears twice", name)
		}
		if name == metadataKey {
			sawMeta = true
			var m map[string]string
			if err := dec.Decode(&m); err != nil {
				return fmt.Errorf("safetensors: header: %s must map strings to strings: %w", metadataKey, jsonErr(err))
			}
			f.meta = m
			continue
		}
		var e entry
		if err := dec.Decode(&e); err != nil {
			return fmt.Errorf("safetensors: tensor %q: %w", name, jsonErr(err))
		}
		info, err := checkEntry(name, e)
		if err != nil {
			return err
		}
		f.infos[name] = info
		f.names = append(f.names, name)
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return fmt.Errorf("safetensors: header: %w", jsonErr(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("safetensors: header: data after the JSON object (only trailing spaces are allowed)")
	}
	return nil
}

// jsonErr names the end of input, which encoding/json reports as a bare
// io.EOF.
func jsonErr(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return errors.New("unexpected end of the header")
	}
	return err
}

// checkEntry checks one tensor entry on its own: the dtype is known, the
// dims fit in an int, and the byte range is as long as the shape needs.
func checkEntry(name string, e entry) (Info, error) {
	switch {
	case e.DType == nil:
		return Info{}, fmt.Errorf("safetensors: tensor %q: no dtype", name)
	case e.Shape == nil:
		return Info{}, fmt.Errorf("safetensors: tensor %q: no shape", name)
	case e.Offsets == nil:
		return Info{}, fmt.Errorf("safetensors: tensor %q: no data_offsets", name)
	}
	fd, ok := dtypes[*e.DType]
	if !ok {
		return Info{}, fmt.Errorf("safetensors: tensor %q: unknown dtype %q", name, *e.DType)
	}
	if len(*e.Offsets) != 2 {
		return Info{}, fmt.Errorf("safetensors: tensor %q: data_offsets has %d numbers, not 2", name, len(*e.Offsets))
	}
	begin, end := (*e.Offsets)[0], (*e.Offsets)[1]
	if begin > end || end > math.MaxInt64 {
		return Info{}, fmt.Errorf("safetensors: tensor %q: invalid data_offsets [%d, %d]", name, begin, end)
	}
	shape := make([]int, len(*e.Shape))
	numel := uint64(1) // the product of the non-zero dims, then 0 if there is a zero one
	empty := false
	for i, d := range *e.Shape {
		if d > uint64(math.MaxInt) {
			return Info{}, fmt.Errorf("safetensors: tensor %q: dim %d of shape %v is too large", name, i, *e.Shape)
		}
		shape[i] = int(d)
		if d == 0 {
			empty = true
			continue
		}
		hi, lo := bits.Mul64(numel, d)
		if hi != 0 || lo > math.MaxInt64 {
			return Info{}, fmt.Errorf("safetensors: tensor %q: shape %v has too many elements", name, *e.Shape)
		}
		numel = lo
	}
	if empty {
		numel = 0
	}
	hi, nbytes := bits.Mul64(numel, uint64(fd.size))
	if hi != 0 {
		return Info{}, fmt.Errorf("safetensors: tensor %q: shape %v of %s has too many bytes", name, *e.Shape, *e.DType)
	}
	if nbytes != end-begin {
		return Info{}, fmt.Errorf("safetensors: tensor %q: shape %v of %s needs %d bytes but data_offsets [%d, %d] hold %d",
			name, *e.Shape, *e.DType, nbytes, begin, end, end-begin)
	}
	return Info{DType: *e.DType, Shape: shape, Offsets: [2]int64{int64(begin), int64(end)}}, nil
}

// checkOffsets checks that the tensors' byte ranges tile the data buffer
// of n bytes exactly: no overlap, no hole, nothing after the last.
func (f *File) checkOffsets(n int64) error {
	byStart := slices.Clone(f.names)
	slices.SortFunc(byStart, func(a, b string) int {
		oa, ob := f.infos[a].Offsets, f.infos[b].Offsets
		if oa[0] != ob[0] {
			return cmpInt64(oa[0], ob[0])
		}
		return cmpInt64(oa[1], ob[1])
	})
	var pos int64
	prev := ""
	for _, name := range byStart {
		o := f.infos[name].Offsets
		switch {
		case o[0] > pos && prev == "":
			return fmt.Errorf("safetensors: tensor %q: data starts at %d, leaving bytes [0, %d) of the buffer unused", name, o[0], o[0])
		case o[0] > pos:
			return fmt.Errorf("safetensors: tensors %q and %q: bytes [%d, %d) between them are unused", prev, name, pos, o[0])
		case o[0] < pos:
			return fmt.Errorf("safetensors: tensors %q and %q: data overlap at byte %d", prev, name, o[0])
		}
		if o[1] > n {
			return fmt.Errorf("safetensors: tensor %q: data_offsets [%d, %d] run past the %d-byte data buffer", name, o[0], o[1], n)
		}
		pos, prev = o[1], name
	}
	if pos != n {
		return fmt.Errorf("safetensors: the tensors cover %d bytes of the %d-byte data buffer", pos, n)
	}
	return nil
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Open opens the safetensors file at path and reads its header. On Unix
// the file is memory-mapped read-only, so the tensors it loads are copied
// from the page cache once and the file is not read twice; elsewhere, or
// when mapping fails, tensors are read with ReadAt. Close releases the
// file. Truncating the file while it is open is undefined, as for any
// memory-mapped reader.
func Open(path string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	st, err := fh.Stat()
	if err != nil {
		fh.Close()
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	if !st.Mode().IsRegular() {
		fh.Close()
		return nil, fmt.Errorf("safetensors: %s is not a regular file", path)
	}
	size := st.Size()
	if mem, err := mmap.File(fh, size); err == nil {
		fh.Close() // the mapping outlives the descriptor
		f, err := read(bytes.NewReader(mem), size, mem)
		if err != nil {
			mmap.Unmap(mem)
			return nil, fmt.Errorf("%w (in %s)", err, path)
		}
		f.closer = func() error { return mmap.Unmap(mem) }
		return f, nil
	}
	f, err := read(fh, size, nil)
	if err != nil {
		fh.Close()
		return nil, fmt.Errorf("%w (in %s)", err, path)
	}
	f.closer = fh.Close
	return f, nil
}

// Close releases the file Open opened; tensors already loaded stay valid.
// For a File from Read it only marks the File closed: r is the caller's.
// Tensor fails after Close; Names, Info and Metadata go on working.
func (f *File) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.r == nil {
		return nil
	}
	f.r, f.mem = nil, nil
	if f.closer != nil {
		if err := f.closer(); err != nil {
			return fmt.Errorf("safetensors: close: %w", err)
		}
	}
	return nil
}

// Names lists the tensors in the order of the file's header.
func (f *File) Names() []string { return slices.Clone(f.names) }

// Metadata returns a copy of the header's "__metadata__" strings; nil when
// the file has none.
func (f *File) Metadata() map[string]string {
	if f.meta == nil {
		return nil
	}
	m := make(map[string]string, len(f.meta))
	for k, v := range f.meta {
		m[k] = v
	}
	return m
}

// Info describes the named tensor; ok is false when the file has no such
// tensor.
func (f *File) Info(name string) (info Info, ok bool) {
	info, ok = f.infos[name]
	info.Shape = slices.Clone(info.Shape)
	return info, ok
}

// Tensor reads the named tensor into a new CPU tensor of its shape. F64,
// F32, F16, BF16, I64, I32, U8 and BOOL become Float64, Float32, Float16,
// BFloat16, Int64, Int32, Uint8 and Bool with the same bits (see the
// package documentation for NaN payloads of 16-bit floats); I16 and I8 are
// widened to Int32. Other dtypes (U16, U32, U64, F8_*) give an error that
// names the dtype and the tensor.
func (f *File) Tensor(name string) (*tensor.Tensor, error) {
	info, ok := f.infos[name]
	if !ok {
		return nil, fmt.Errorf("safetensors: no tensor %q in the file", name)
	}
	fd := dtypes[info.DType]
	if !fd.supported {
		return nil, fmt.Errorf("safetensors: tensor %q: dtype %s is not supported by package tensor", name, info.DType)
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.r == nil {
		return nil, fmt.Errorf("safetensors: tensor %q: file is closed", name)
	}
	var t *tensor.Tensor
	var err error
	if perr := tensor.Try(func() { t, err = f.load(info) }); perr != nil {
		err = perr // out of memory, most likely
	}
	if err != nil {
		return nil, fmt.Errorf("safetensors: tensor %q: %w", name, err)
	}
	return t, nil
}

// load reads a tensor whose dtype is supported, with f.mu held.
func (f *File) load(info Info) (*tensor.Tensor, error) {
	fd := dtypes[info.DType]
	begin, end := f.dataStart+info.Offsets[0], f.dataStart+info.Offsets[1]
	shape := info.Shape

	if f.mem != nil || end-begin <= int64(chunkBytes) {
		// from the mapping, or small: in one piece
		b, err := f.span(begin, end, nil)
		if err != nil {
			return nil, err
		}
		if t, ok := direct(info.DType, b, shape); ok {
			return t, nil
		}
		if end-begin <= int64(chunkBytes) {
			return decode(info.DType, b, shape), nil
		}
	}
	// A large tensor is filled chunk by chunk, so that loading it needs
	// little memory beyond the tensor itself.
	out := tensor.ZerosOf(fd.dt, shape...)
	flat := out.Reshape(-1)
	per := int64(chunkBytes / fd.size)
	var buf []byte
	if f.mem == nil {
		buf = make([]byte, per*int64(fd.size))
	}
	for lo := int64(0); lo < int64(out.Numel()); lo += per {
		m := min(per, int64(out.Numel())-lo)
		off := begin + lo*int64(fd.size)
		b, err := f.span(off, off+m*int64(fd.size), buf)
		if err != nil {
			return nil, err
		}
		piece, ok := direct(info.DType, b, nil)
		if !ok {
			piece = decode(info.DType, b, nil)
		}
		flat.Narrow(0, int(lo), int(m)).CopyIn(piece)
	}
	return out, nil
}

// span returns the file's bytes [begin, end): a slice of the mapping, or
// read into buf (allocated when too small).
func (f *File) span(begin, end int64, buf []byte) ([]byte, error) {
	if f.mem != nil {
		return f.mem[begin:end], nil
	}
	n := int(end - begin)
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if err := readFull(f.r, buf, begin); err != nil {
		return nil, fmt.Errorf("reading data: %w", err)
	}
	return buf, nil
}

// Load reads every tensor of the safetensors file at path. It returns
// them by name, with the names in the file's order.
func Load(path string) (tensors map[string]*tensor.Tensor, order []string, err error) {
	f, err := Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			tensors, order, err = nil, nil, cerr
		}
	}()
	order = f.Names()
	tensors = make(map[string]*tensor.Tensor, len(order))
	for _, name := range order {
		t, err := f.Tensor(name)
		if err != nil {
			return nil, nil, fmt.Errorf("%w (in %s)", err, path)
		}
		tensors[name] = t
	}
	return tensors, order, nil
}
