package safetensors

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"unicode/utf8"
	"unsafe"

	"github.com/tapir-ml/tapir/tensor"
)

// planned is one tensor on its way to a file.
type planned struct {
	name   string
	t      *tensor.Tensor
	dtype  string
	size   int // element size
	nbytes int64
}

// Write writes tensors and metadata to w in the safetensors format. The
// header lists the tensors in order, which must name every key of tensors
// once; a nil order means the names sorted. The data of the widest dtypes
// comes first, as the reference writer lays it out, and the header is
// padded with spaces so that the data starts at a multiple of 8 bytes:
// every tensor is then aligned for its dtype in a memory-mapped file.
// Tensors may be views of any layout and on any device; their elements
// are written in row-major order. Metadata may be nil.
func Write(w io.Writer, tensors map[string]*tensor.Tensor, order []string, metadata map[string]string) error {
	plan, header, err := prepare(tensors, order, metadata)
	if err != nil {
		return err
	}
	return emit(w, plan, header)
}

// emit writes a prepared file.
func emit(w io.Writer, plan []planned, header []byte) error {
	var lenBuf [8]byte
	binary.LittleEndian.PutUint64(lenBuf[:], uint64(len(header)))
	if _, err := w.Write(lenBuf[:]); err != nil {
		return fmt.Errorf("safetensors: write: %w", err)
	}
	if _, err := w.Write(header); err != nil {
		return fmt.Errorf("safetensors: write: %w", err)
	}
	for _, p := range plan {
		if err := writeData(w, p); err != nil {
			return fmt.Errorf("safetensors: write %q: %w", p.name, err)
		}
	}
	return nil
}

// prepare checks the arguments, lays the data out and builds the header.
// plan is in data order.
func prepare(tensors map[string]*tensor.Tensor, order []string, metadata map[string]string) (plan []planned, header []byte, err error) {
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
				return nil, nil, fmt.Errorf("safetensors: write: %q is twice in the order", name)
			}
			seen[name] = true
			if _, ok := tensors[name]; !ok {
				return nil, nil, fmt.Errorf("safetensors: write: %q is in the order but not among the tensors", name)
			}
		}
		if len(order) != len(tensors) {
			for name := range tensors {
				if !seen[name] {
					return nil, nil, fmt.Errorf("safetensors: write: tensor %q is missing from the order", name)
				}
			}
		}
	}
	plan = make([]planned, len(order))
	for i, name := range order {
		t := tensors[name]
		switch {
		case t == nil:
			return nil, nil, fmt.Errorf("safetensors: write: tensor %q is nil", name)
		case name == metadataKey:
			return nil, nil, fmt.Errorf("safetensors: write: a tensor cannot be named %q", metadataKey)
		case !utf8.ValidString(name):
			return nil, nil, fmt.Errorf("safetensors: write: tensor name %q is not valid UTF-8", name)
		}
		dt, ok := fileName(t.DType())
		if !ok {
			return nil, nil, fmt.Errorf("safetensors: write: tensor %q: dtype %v has no safetensors name", name, t.DType())
		}
		size := dtypes[dt].size
		plan[i] = planned{name: name, t: t, dtype: dt, size: size, nbytes: int64(t.Numel()) * int64(size)}
	}
	for k, v := range metadata {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return nil, nil, fmt.Errorf("safetensors: write: metadata %q: %q is not valid UTF-8", k, v)
		}
	}

	// Data: widest elements first, the order otherwise kept, so that each
	// tensor starts at a multiple of its element size.
	data := slices.Clone(plan)
	slices.SortStableFunc(data, func(a, b planned) int { return b.size - a.size })
	var pos int64
	begins := make(map[string]int64, len(data))
	for i := range data {
		begins[data[i].name] = pos
		pos += data[i].nbytes
	}

	var h bytes.Buffer
	h.WriteByte('{')
	if len(metadata) > 0 {
		keys := make([]string, 0, len(metadata))
		for k := range metadata {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		h.WriteString(`"` + metadataKey + `":{`)
		for i, k := range keys {
			if i > 0 {
				h.WriteByte(',')
			}
			writeJSONString(&h, k)
			h.WriteByte(':')
			writeJSONString(&h, metadata[k])
		}
		h.WriteByte('}')
	}
	for i, p := range plan {
		if i > 0 || len(metadata) > 0 {
			h.WriteByte(',')
		}
		writeJSONString(&h, p.name)
		h.WriteString(`:{"dtype":"` + p.dtype + `","shape":[`)
		for j, d := range p.t.Shape() {
			if j > 0 {
				h.WriteByte(',')
			}
			h.WriteString(strconv.Itoa(d))
		}
		b := begins[p.name]
		h.WriteString(`],"data_offsets":[` + strconv.FormatInt(b, 10) + "," + strconv.FormatInt(b+p.nbytes, 10) + "]}")
	}
	h.WriteByte('}')
	for h.Len()%8 != 0 {
		h.WriteByte(' ')
	}
	if h.Len() > MaxHeaderSize {
		return nil, nil, fmt.Errorf("safetensors: write: the header would be %d bytes, more than the limit of %d", h.Len(), MaxHeaderSize)
	}
	return data, h.Bytes(), nil
}

// writeJSONString writes s as a JSON string, escaping only what JSON
// requires (no HTML escapes, so names stay readable).
func writeJSONString(b *bytes.Buffer, s string) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	enc.Encode(s)           // cannot fail for a string
	b.Truncate(b.Len() - 1) // Encode's newline
}

// writeChunk is how many elements writeData converts at a time.
const writeChunk = 1 << 16

// writeData writes p's elements in row-major order, little-endian.
func writeData(w io.Writer, p planned) error {
	if p.nbytes == 0 {
		return nil
	}
	t := p.t
	switch t.DType() {
	case tensor.Float64:
		return writeLE(w, t.Float64s(), 8, func(b []byte, v float64) { binary.LittleEndian.PutUint64(b, math.Float64bits(v)) })
	case tensor.Float32:
		return writeLE(w, t.Float32s(), 4, func(b []byte, v float32) { binary.LittleEndian.PutUint32(b, math.Float32bits(v)) })
	case tensor.Int64:
		return writeLE(w, t.Int64s(), 8, func(b []byte, v int64) { binary.LittleEndian.PutUint64(b, uint64(v)) })
	case tensor.Float16, tensor.BFloat16:
		brain := t.DType() == tensor.BFloat16
		// Float32s widens exactly; float32ToHalf narrows back exactly.
		return writeConverted(w, t.Float32s(), 2, func(b []byte, v float32) {
			binary.LittleEndian.PutUint16(b, float32ToHalf(v, brain))
		})
	case tensor.Int32:
		// Int64s widens exactly, and the values fit back.
		return writeConverted(w, t.Int64s(), 4, func(b []byte, v int64) { binary.LittleEndian.PutUint32(b, uint32(v)) })
	case tensor.Uint8:
		return writeConverted(w, t.Int64s(), 1, func(b []byte, v int64) { b[0] = uint8(v) })
	case tensor.Bool:
		return writeConverted(w, t.Bools(), 1, func(b []byte, v bool) {
			b[0] = 0
			if v {
				b[0] = 1
			}
		})
	}
	return fmt.Errorf("dtype %v cannot be written", t.DType())
}

// writeLE writes vs, whose elements have size bytes: as they are in memory
// on a little-endian host, else through put.
func writeLE[T any](w io.Writer, vs []T, size int, put func([]byte, T)) error {
	if littleEndian && len(vs) > 0 {
		_, err := w.Write(unsafe.Slice((*byte)(unsafe.Pointer(&vs[0])), len(vs)*size))
		return err
	}
	return writeConverted(w, vs, size, put)
}

// writeConverted writes vs through put, size bytes each, a chunk at a time.
func writeConverted[T any](w io.Writer, vs []T, size int, put func([]byte, T)) error {
	buf := make([]byte, min(len(vs), writeChunk)*size)
	for len(vs) > 0 {
		n := min(len(vs), writeChunk)
		for i, v := range vs[:n] {
			put(buf[i*size:], v)
		}
		if _, err := w.Write(buf[:n*size]); err != nil {
			return err
		}
		vs = vs[n:]
	}
	return nil
}

// Save writes tensors and metadata (as [Write] does) to the file at path,
// atomically: it writes a temporary file in the same directory, syncs and
// closes it, renames it over path and syncs the directory. On an error
// before the rename the temporary file is removed and an existing file at
// path is left as it was; readers see the old file or the new one, never
// a part. (An error syncing the directory after the rename is reported
// with the new file in place.) A new
// file gets the permissions os.Create would give it; a replaced one keeps
// its own.
func Save(path string, tensors map[string]*tensor.Tensor, order []string, metadata map[string]string) error {
	return save(path, tensors, order, metadata, nil)
}

// save is Save with a hook that wraps the temporary file's writer, for
// tests to inject failures.
func save(path string, tensors map[string]*tensor.Tensor, order []string, metadata map[string]string, wrap func(io.Writer) io.Writer) error {
	plan, header, err := prepare(tensors, order, metadata)
	if err != nil {
		return err
	}
	return writeFileAtomic(path, "safetensors: save", wrap, func(w io.Writer) error { return emit(w, plan, header) })
}

// WriteFileAtomic writes the file at path with write, atomically: write
// fills a buffered writer on a temporary file in the same directory,
// which is then synced, closed and renamed over path, and the directory
// is synced. On an error before the rename the temporary file is removed
// and an existing file at path is left as it was; readers see the old
// file or the new one, never a part. (An error syncing the directory
// after the rename is reported with the new file in place.) A new file
// gets the permissions os.Create would give it; a replaced one keeps its
// own. Errors from write are returned as they are; the others start with
// op (e.g. "torchfile: save").
//
// Save uses it, and so do the other file writers of the project
// (zoo/torchfile, optim/train's plots).
func WriteFileAtomic(path, op string, write func(w io.Writer) error) error {
	return writeFileAtomic(path, op, nil, write)
}

func writeFileAtomic(path, op string, wrap func(io.Writer) io.Writer, write func(w io.Writer) error) (err error) {
	fail := func(err error) error { return fmt.Errorf("%s: %w", op, err) }
	dir := filepath.Dir(path)
	tmp, err := createTemp(dir, filepath.Base(path))
	if err != nil {
		return fail(err)
	}
	closed := false
	defer func() {
		if err != nil {
			if !closed {
				tmp.Close()
			}
			os.Remove(tmp.Name())
		}
	}()
	var w io.Writer = tmp
	if wrap != nil {
		w = wrap(w)
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	if err := write(bw); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return fail(err)
	}
	if st, err := os.Stat(path); err == nil && st.Mode().IsRegular() {
		if err := tmp.Chmod(st.Mode().Perm()); err != nil {
			return fail(err)
		}
	}
	if err := tmp.Sync(); err != nil {
		return fail(err)
	}
	closed = true
	if err := tmp.Close(); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fail(err)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("%s: %s is written but syncing its directory failed: %w", op, path, err)
	}
	return nil
}

// createTemp makes a new file in dir with a name derived from base and
// the permissions os.Create gives (0666 less the umask).
func createTemp(dir, base string) (*os.File, error) {
	for range 10000 {
		name := filepath.Join(dir, "."+base+".tmp-"+strconv.FormatUint(rand.Uint64(), 36))
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return f, err
	}
	return nil, fmt.Errorf("cannot find a free temporary name in %s", dir)
}
