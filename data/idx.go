package data

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"

	"github.com/tapir-ml/tapir/tensor"
)

// IDXType is the element type code of an IDX file, the third byte of its
// magic number.
type IDXType byte

// The element types of the IDX format (all multi-byte values big-endian).
const (
	IDXUint8   IDXType = 0x08
	IDXInt8    IDXType = 0x09
	IDXInt16   IDXType = 0x0B
	IDXInt32   IDXType = 0x0C
	IDXFloat32 IDXType = 0x0D
	IDXFloat64 IDXType = 0x0E
)

// Size returns the size of one element in bytes, 0 for an unknown type.
func (t IDXType) Size() int {
	switch t {
	case IDXUint8, IDXInt8:
		return 1
	case IDXInt16:
		return 2
	case IDXInt32, IDXFloat32:
		return 4
	case IDXFloat64:
		return 8
	}
	return 0
}

// String names the type as Go does (uint8, int16, float32, …).
func (t IDXType) String() string {
	switch t {
	case IDXUint8:
		return "uint8"
	case IDXInt8:
		return "int8"
	case IDXInt16:
		return "int16"
	case IDXInt32:
		return "int32"
	case IDXFloat32:
		return "float32"
	case IDXFloat64:
		return "float64"
	}
	return fmt.Sprintf("IDXType(%#02x)", byte(t))
}

// IDX is the content of an IDX file, the format of MNIST and
// Fashion-MNIST: an n-dimensional array of one element type.
type IDX struct {
	Type  IDXType
	Shape []int
	// Data holds the elements in row-major order, as stored: big-endian.
	Data []byte
}

// MaxIDXBytes bounds the data size an IDX header may declare (16 GiB). The
// readers never allocate more than the input actually holds, so a header
// that lies costs nothing; the bound keeps sizes far from overflow.
const MaxIDXBytes = 1 << 34

// ErrIDXFormat is wrapped by every error about a malformed IDX file.
var ErrIDXFormat = errors.New("malformed IDX file")

func idxErr(format string, args ...any) error {
	return fmt.Errorf("data: idx: %w: %s", ErrIDXFormat, fmt.Sprintf(format, args...))
}

// ReadIDX reads an IDX file, gzip-compressed or not (told apart by the
// gzip magic number), from r. It checks the header (magic number, element
// type, dims) against the amount of data, reads r to its end, and returns
// an error wrapping ErrIDXFormat when the file is truncated, longer than
// its header says, or otherwise malformed.
func ReadIDX(r io.Reader) (*IDX, error) {
	return readIDX(r, -1)
}

// ReadIDXFile reads the IDX file at path, gzip-compressed or not. For an
// uncompressed file the declared size is checked against the file's size
// before any data is read.
func ReadIDXFile(path string) (*IDX, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("data: idx: %w", err)
	}
	defer f.Close()
	size := int64(-1)
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
		size = st.Size()
	}
	x, err := readIDX(f, size)
	if err != nil {
		return nil, fmt.Errorf("%w (file %s)", err, path)
	}
	return x, nil
}

// readIDX reads an IDX stream; size is the stream's byte count when known
// (a regular file), else -1.
func readIDX(r io.Reader, size int64) (*IDX, error) {
	br := bufio.NewReader(r)
	head, err := br.Peek(2)
	if err != nil && len(head) < 2 {
		return nil, idxErr("file of %d bytes has no header", len(head))
	}
	var src io.Reader = br
	if head[0] == 0x1f && head[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("data: idx: %w: gzip: %v", ErrIDXFormat, err)
		}
		defer zr.Close()
		src, size = zr, -1
	}
	var magic [4]byte
	if _, err := io.ReadFull(src, magic[:]); err != nil {
		return nil, idxErr("reading the magic number: %v", readErr(err))
	}
	if magic[0] != 0 || magic[1] != 0 {
		return nil, idxErr("bad magic number % x: the first two bytes must be zero", magic)
	}
	typ := IDXType(magic[2])
	esize := typ.Size()
	if esize == 0 {
		return nil, idxErr("unknown element type %#02x", magic[2])
	}
	ndim := int(magic[3])
	dims := make([]byte, 4*ndim)
	if _, err := io.ReadFull(src, dims); err != nil {
		return nil, idxErr("reading %d dims: %v", ndim, readErr(err))
	}
	shape := make([]int, ndim)
	total := uint64(esize)
	for i := range shape {
		d := binary.BigEndian.Uint32(dims[4*i:])
		shape[i] = int(d)
		if d != 0 && total > MaxIDXBytes/uint64(d) {
			return nil, idxErr("shape %v declares more than %d bytes", shape[:i+1], uint64(MaxIDXBytes))
		}
		total *= uint64(d)
	}
	need := int64(total)
	if size >= 0 && size != int64(4+4*ndim)+need {
		return nil, idxErr("header declares shape %v of %v (%d data bytes), but the file has %d data bytes",
			shape, typ, need, size-int64(4+4*ndim))
	}
	data, err := readExactly(src, need)
	if err != nil {
		return nil, err
	}
	// the rest of the stream must be empty; reading to EOF also makes gzip
	// check its CRC
	var one [1]byte
	switch n, err := io.ReadFull(src, one[:]); {
	case n > 0:
		return nil, idxErr("data continues past the %d bytes shape %v of %v declares", need, shape, typ)
	case err != io.EOF:
		return nil, idxErr("after the data: %v", readErr(err))
	}
	return &IDX{Type: typ, Shape: shape, Data: data}, nil
}

func readErr(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return errors.New("unexpected end of file")
	}
	return err
}

// readExactly reads n bytes, growing its buffer only as data arrives, so
// that a header declaring a huge size over a short stream allocates little.
func readExactly(r io.Reader, n int64) ([]byte, error) {
	const chunk = 1 << 20
	buf := make([]byte, 0, min(n, chunk))
	for int64(len(buf)) < n {
		if len(buf) == cap(buf) {
			grown := make([]byte, len(buf), min(n, 2*int64(cap(buf))+chunk))
			copy(grown, buf)
			buf = grown
		}
		m, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, idxErr("reading data: %v", err)
		}
	}
	if int64(len(buf)) < n {
		return nil, idxErr("truncated: the header declares %d data bytes, the file has %d", n, len(buf))
	}
	return buf, nil
}

// Len returns the number of elements.
func (x *IDX) Len() int {
	n := 1
	for _, d := range x.Shape {
		n *= d
	}
	return n
}

// Tensor returns the array as a CPU tensor of its shape: uint8 as Uint8;
// int8, int16 and int32 as Int32; float32 as Float32; float64 as Float64.
func (x *IDX) Tensor() (*tensor.Tensor, error) {
	n := x.Len()
	if es := x.Type.Size(); es == 0 || len(x.Data) != n*es {
		return nil, fmt.Errorf("data: idx: %d bytes of %v do not fill shape %v", len(x.Data), x.Type, x.Shape)
	}
	shape := append([]int{}, x.Shape...)
	d := x.Data
	switch x.Type {
	case IDXUint8:
		return tensor.FromSlice(append([]uint8(nil), d...), shape...), nil
	case IDXInt8:
		v := make([]int32, n)
		for i := range v {
			v[i] = int32(int8(d[i]))
		}
		return tensor.FromSlice(v, shape...), nil
	case IDXInt16:
		v := make([]int32, n)
		for i := range v {
			v[i] = int32(int16(binary.BigEndian.Uint16(d[2*i:])))
		}
		return tensor.FromSlice(v, shape...), nil
	case IDXInt32:
		v := make([]int32, n)
		for i := range v {
			v[i] = int32(binary.BigEndian.Uint32(d[4*i:]))
		}
		return tensor.FromSlice(v, shape...), nil
	case IDXFloat32:
		v := make([]float32, n)
		for i := range v {
			v[i] = math.Float32frombits(binary.BigEndian.Uint32(d[4*i:]))
		}
		return tensor.FromSlice(v, shape...), nil
	default: // IDXFloat64
		v := make([]float64, n)
		for i := range v {
			v[i] = math.Float64frombits(binary.BigEndian.Uint64(d[8*i:]))
		}
		return tensor.FromSlice(v, shape...), nil
	}
}

// WriteIDX writes x in the IDX format, uncompressed.
func WriteIDX(w io.Writer, x *IDX) error {
	es := x.Type.Size()
	if es == 0 {
		return fmt.Errorf("data: idx: unknown element type %v", x.Type)
	}
	if len(x.Shape) > 255 {
		return fmt.Errorf("data: idx: %d dims; the format allows 255", len(x.Shape))
	}
	for _, d := range x.Shape {
		if d < 0 || int64(d) > math.MaxUint32 {
			return fmt.Errorf("data: idx: dim %d of shape %v does not fit the format", d, x.Shape)
		}
	}
	if len(x.Data) != x.Len()*es {
		return fmt.Errorf("data: idx: %d bytes of %v do not fill shape %v", len(x.Data), x.Type, x.Shape)
	}
	var head bytes.Buffer
	head.Write([]byte{0, 0, byte(x.Type), byte(len(x.Shape))})
	for _, d := range x.Shape {
		binary.Write(&head, binary.BigEndian, uint32(d))
	}
	if _, err := w.Write(head.Bytes()); err != nil {
		return fmt.Errorf("data: idx: %w", err)
	}
	if _, err := w.Write(x.Data); err != nil {
		return fmt.Errorf("data: idx: %w", err)
	}
	return nil
}
