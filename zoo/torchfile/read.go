package torchfile

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"math/big"
	"os"
	"strings"
	"unicode/utf8"

	"github.com/nlpodyssey/gopickle/types"
	"github.com/tapir-ml/tapir/internal/mmap"
	"github.com/tapir-ml/tapir/tensor"
)

// chunkBytes bounds the scratch memory a load or a write uses beside the
// tensors (a variable so that tests can make it small).
var chunkBytes = 4 << 20

// nestedKeys are the keys under which Load looks for the state dict when
// the file holds a dict that is not itself one (a training checkpoint),
// in this order: the first whose value is a dict of tensors is used.
var nestedKeys = []string{"state_dict", "model_state_dict", "model", "module", "net"}

// legacyMagic is the number a legacy file starts with.
var legacyMagic, _ = new(big.Int).SetString("1950a86a20f9469cfc6c", 16)

const legacyProtocol = 1001

// Load reads the state dict in the PyTorch file at path, written by
// torch.save in the zip format (torch 1.6 and later) or in the legacy
// format (_use_new_zipfile_serialization=False). It returns the tensors by
// name, with the names in the file's order; from a checkpoint, those of
// its "state_dict", "model_state_dict", "model", "module" or "net" entry.
// On Unix the file is memory-mapped and each storage copied from the
// mapping into its tensor, so loading needs the tensors' memory, the
// pages of the storage being copied and a few MB; see the package
// documentation for which tensors share storage.
func Load(path string) (tensors map[string]*tensor.Tensor, order []string, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("torchfile: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("torchfile: %w", err)
	}
	size := st.Size()
	var r io.ReaderAt = f
	mem, merr := mmap.File(f, size)
	if merr == nil {
		defer mmap.Unmap(mem)
		r = bytes.NewReader(mem)
	} else {
		mem = nil
	}
	tensors, order, err = read(r, size, mem)
	if err != nil {
		return nil, nil, fmt.Errorf("torchfile: %s: %w", path, err)
	}
	return tensors, order, nil
}

// Read reads the state dict in the PyTorch file of size bytes that r
// holds; see [Load]. Each storage is read in chunks straight into its
// tensor.
func Read(r io.ReaderAt, size int64) (map[string]*tensor.Tensor, []string, error) {
	tensors, order, err := read(r, size, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("torchfile: %w", err)
	}
	return tensors, order, nil
}

// source is where a storage's bytes lie in the file.
type source struct {
	off, n int64     // a span of the file
	zf     *zip.File // or a compressed zip entry of n bytes
	crc    uint32
	check  bool // whether crc is to be checked
}

// loader holds what reading one file needs.
type loader struct {
	r       io.ReaderAt
	size    int64
	mem     []byte // the whole file when mapped
	little  bool   // the storages' byte order
	sources map[string]source
	loaded  map[string]*tensor.Tensor
}

func read(r io.ReaderAt, size int64, mem []byte) (map[string]*tensor.Tensor, []string, error) {
	var head [4]byte
	if size < int64(len(head)) {
		return nil, nil, fmt.Errorf("a file of %d bytes is not a PyTorch file", size)
	}
	if err := readFull(r, head[:], 0); err != nil {
		return nil, nil, err
	}
	l := &loader{r: r, size: size, mem: mem, little: true,
		sources: map[string]source{}, loaded: map[string]*tensor.Tensor{}}
	var obj any
	var err error
	switch {
	case string(head[:]) == "PK\x03\x04":
		obj, err = l.zipFormat()
	case head[0] == 0x80:
		obj, err = l.legacyFormat()
	default:
		if isTar(r, size) {
			return nil, nil, errors.New("the tar format of torch before 0.4 is not supported")
		}
		return nil, nil, errors.New("not a PyTorch file: it starts with neither a zip header nor a pickle")
	}
	if err != nil {
		return nil, nil, err
	}
	names, refs, err := stateDict(obj)
	if err != nil {
		return nil, nil, err
	}
	for _, name := range names {
		if !utf8.ValidString(name) { // Python would not have decoded it
			return nil, nil, fmt.Errorf("tensor name %q is not valid UTF-8", name)
		}
	}
	out := make(map[string]*tensor.Tensor, len(names))
	for i, name := range names {
		var t *tensor.Tensor
		if perr := tensor.Try(func() { t, err = l.tensor(refs[i]) }); perr != nil {
			err = perr
		}
		if err != nil {
			return nil, nil, fmt.Errorf("tensor %q: %w", name, err)
		}
		out[name] = t
	}
	return out, names, nil
}

func isTar(r io.ReaderAt, size int64) bool {
	var magic [5]byte
	return size >= 512 && readFull(r, magic[:], 257) == nil && string(magic[:]) == "ustar"
}

// zipFormat reads the archive's directory, byte order and pickle.
func (l *loader) zipFormat() (any, error) {
	zr, err := zip.NewReader(l.r, l.size)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		return nil, fmt.Errorf("zip: %w", err)
	}
	prefix := ""
	for _, f := range zr.File {
		dir, base, ok := strings.Cut(f.Name, "/")
		if ok && base == "data.pkl" {
			if prefix != "" {
				return nil, fmt.Errorf("zip: two archives, %q and %q", prefix, dir)
			}
			prefix = dir
		}
	}
	if prefix == "" {
		return nil, errors.New("zip: no data.pkl record: not a file torch.save wrote")
	}
	records := map[string]*zip.File{}
	for _, f := range zr.File {
		if rest, ok := strings.CutPrefix(f.Name, prefix+"/"); ok {
			if _, dup := records[rest]; dup {
				return nil, fmt.Errorf("zip: record %q appears twice", f.Name)
			}
			records[rest] = f
		}
	}
	if records["constants.pkl"] != nil {
		return nil, errors.New("a TorchScript archive (torch.jit.save): load it in PyTorch and save its state_dict()")
	}
	if f := records["byteorder"]; f != nil {
		b, err := l.entryBytes(f, 16)
		if err != nil {
			return nil, err
		}
		switch string(b) {
		case "little":
		case "big":
			l.little = false
		default:
			return nil, fmt.Errorf("zip: byteorder record %q is neither \"little\" nor \"big\"", b)
		}
	}
	p, err := l.entryBytes(records["data.pkl"], MaxPickleSize)
	if err != nil {
		return nil, err
	}
	pk, err := scanPickle(bytes.NewReader(p), 0, int64(len(p)), MaxPickleSize)
	if err != nil {
		return nil, fmt.Errorf("data.pkl: %w", err)
	}
	seen := map[string]*storageRef{}
	obj, err := unpickle(pk, func(pid any) (any, error) { return storageFromID(pid, false, seen) })
	if err != nil {
		return nil, fmt.Errorf("data.pkl: %w", err)
	}
	for key, ref := range seen {
		f := records["data/"+key]
		if f == nil {
			continue // an error only if a tensor of the state dict needs it
		}
		n, ok := mulNonNeg(int64(ref.rootNumel), int64(ref.typ.size))
		if !ok || f.UncompressedSize64 != uint64(n) {
			return nil, fmt.Errorf("storage %q: %d elements of %s, but its record holds %d bytes",
				key, ref.rootNumel, ref.typ.name, f.UncompressedSize64)
		}
		src := source{n: n, crc: f.CRC32, check: true}
		switch f.Method {
		case zip.Store:
			off, err := f.DataOffset()
			if err != nil {
				return nil, fmt.Errorf("storage %q: %w", key, err)
			}
			if f.CompressedSize64 != uint64(n) || off < 0 || off > l.size || n > l.size-off {
				return nil, fmt.Errorf("storage %q: its record runs past the end of the file", key)
			}
			src.off = off
		case zip.Deflate:
			// Deflate expands at most 1032 times: a larger size is a lie.
			if f.CompressedSize64 > uint64(l.size) || uint64(n)/1032 > f.CompressedSize64 {
				return nil, fmt.Errorf("storage %q: compressed record sizes do not add up", key)
			}
			src.zf = f
		default:
			return nil, fmt.Errorf("storage %q: zip compression method %d is not supported", key, f.Method)
		}
		l.sources[key] = src
	}
	return obj, nil
}

// entryBytes reads a small zip record whole, checking its CRC.
func (l *loader) entryBytes(f *zip.File, limit int64) ([]byte, error) {
	if f.UncompressedSize64 > uint64(limit) {
		return nil, fmt.Errorf("zip: record %s of %d bytes is larger than %d", f.Name, f.UncompressedSize64, limit)
	}
	if f.CompressedSize64 > uint64(l.size) || f.Method == zip.Deflate && f.UncompressedSize64/1032 > f.CompressedSize64 {
		return nil, fmt.Errorf("zip: record %s: sizes do not add up", f.Name)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("zip: %s: %w", f.Name, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err == nil && int64(len(b)) > limit {
		err = fmt.Errorf("more than %d bytes", limit)
	}
	if err != nil {
		return nil, fmt.Errorf("zip: %s: %w", f.Name, err)
	}
	return b, nil
}

// legacyFormat reads the pickles of a legacy file and finds its storages:
// magic number, protocol version, system info, the object, the list of
// storage keys, then for each key its element count (int64, little-endian)
// and its elements.
func (l *loader) legacyFormat() (any, error) {
	var pos int64
	next := func(what string, persistent func(any) (any, error)) (any, error) {
		p, err := scanPickle(l.r, pos, l.size, MaxPickleSize)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		pos += int64(len(p))
		v, err := unpickle(p, persistent)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		return v, nil
	}
	magic, err := next("magic number", nil)
	if err != nil {
		return nil, err
	}
	if m, ok := magic.(*big.Int); !ok || m.Cmp(legacyMagic) != 0 {
		return nil, errors.New("not a PyTorch file: the first pickle is not torch's magic number")
	}
	proto, err := next("protocol version", nil)
	if err != nil {
		return nil, err
	}
	if p, ok := proto.(int); !ok || p != legacyProtocol {
		return nil, fmt.Errorf("legacy protocol version is not %d", legacyProtocol)
	}
	if _, err := next("system info", nil); err != nil {
		return nil, err
	}
	seen := map[string]*storageRef{}
	obj, err := next("object", func(pid any) (any, error) { return storageFromID(pid, true, seen) })
	if err != nil {
		return nil, err
	}
	keysObj, err := next("storage keys", nil)
	if err != nil {
		return nil, err
	}
	keys, ok := keysObj.(*types.List)
	if !ok {
		return nil, fmt.Errorf("storage keys are a %s, not a list", typeName(keysObj))
	}
	for _, k := range *keys {
		key, ok := k.(string)
		if !ok {
			return nil, fmt.Errorf("a storage key is a %s", typeName(k))
		}
		ref := seen[key]
		if ref == nil {
			return nil, fmt.Errorf("storage %q has data but no tensor refers to it", key)
		}
		if _, dup := l.sources[key]; dup {
			return nil, fmt.Errorf("storage %q is listed twice", key)
		}
		var nb [8]byte
		if pos > l.size-8 {
			return nil, fmt.Errorf("storage %q: unexpected end of file", key)
		}
		if err := readFull(l.r, nb[:], pos); err != nil {
			return nil, fmt.Errorf("storage %q: %w", key, err)
		}
		numel := int64(le64(nb[:]))
		if numel != int64(ref.rootNumel) {
			return nil, fmt.Errorf("storage %q has %d elements, but its tensors declare %d", key, numel, ref.rootNumel)
		}
		n, ok := mulNonNeg(numel, int64(ref.typ.size))
		if !ok || n > l.size-pos-8 {
			return nil, fmt.Errorf("storage %q: %d elements of %s run past the end of the file", key, numel, ref.typ.name)
		}
		l.sources[key] = source{off: pos + 8, n: n}
		pos += 8 + n
	}
	return obj, nil
}

func le64(b []byte) uint64 {
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}

// mulNonNeg returns a*b for non-negative a and b when it does not overflow.
func mulNonNeg(a, b int64) (int64, bool) {
	if a < 0 || b < 0 {
		return 0, false
	}
	if a != 0 && b > math.MaxInt64/a {
		return 0, false
	}
	return a * b, true
}

// stateDict finds the state dict in the unpickled object: the object
// itself when it is a dict of tensors, else the first of nestedKeys whose
// value is one.
func stateDict(obj any) ([]string, []*tensorRef, error) {
	items, ok := dictItems(obj)
	if !ok {
		return nil, nil, fmt.Errorf("the file holds a %s, not a state dict (a dict of tensors)", typeName(obj))
	}
	if names, refs, ok := tensorDict(items); ok {
		return names, refs, nil
	}
	for _, key := range nestedKeys {
		for _, it := range items {
			if k, _ := it.Key.(string); k == key {
				if sub, ok := dictItems(it.Value); ok {
					if names, refs, ok := tensorDict(sub); ok {
						return names, refs, nil
					}
				}
			}
		}
	}
	var desc []string
	for i, it := range items {
		if i == 8 {
			desc = append(desc, "…")
			break
		}
		k, ok := it.Key.(string)
		if !ok {
			k = "<" + typeName(it.Key) + ">"
		}
		desc = append(desc, fmt.Sprintf("%q: %s", k, typeName(it.Value)))
	}
	return nil, nil, fmt.Errorf("the file holds a dict {%s} that is neither a state dict nor has one under any of the keys %q",
		strings.Join(desc, ", "), nestedKeys)
}

// dictItems lists the entries of a dict or OrderedDict in order.
func dictItems(v any) ([]types.DictEntry, bool) {
	switch d := v.(type) {
	case *types.Dict:
		return *d, true
	case *types.OrderedDict:
		out := make([]types.DictEntry, 0, d.Len())
		for e := d.List.Front(); e != nil; e = e.Next() {
			oe := e.Value.(*types.OrderedDictEntry)
			out = append(out, types.DictEntry{Key: oe.Key, Value: oe.Value})
		}
		return out, true
	}
	return nil, false
}

// tensorDict returns the names and tensors of a dict whose keys are all
// strings and values all tensors. A key repeated (which a dict pickle can
// do) keeps its first place and its last value, as in Python.
func tensorDict(items []types.DictEntry) ([]string, []*tensorRef, bool) {
	names := make([]string, 0, len(items))
	refs := make([]*tensorRef, 0, len(items))
	at := make(map[string]int, len(items))
	for _, it := range items {
		k, ok := it.Key.(string)
		t, ok2 := it.Value.(*tensorRef)
		if !ok || !ok2 {
			return nil, nil, false
		}
		if i, dup := at[k]; dup {
			refs[i] = t
			continue
		}
		at[k] = len(names)
		names = append(names, k)
		refs = append(refs, t)
	}
	return names, refs, true
}

// tensor makes the tensor ref describes, loading its storage if no tensor
// has yet.
func (l *loader) tensor(ref *tensorRef) (*tensor.Tensor, error) {
	st := ref.st
	numel := 1
	var extent int64 // the largest element offset within the view
	for i, n := range ref.shape {
		if n != 0 && numel > math.MaxInt/n {
			return nil, fmt.Errorf("shape %v overflows", ref.shape)
		}
		numel *= n
		if n > 0 {
			d, ok := mulNonNeg(int64(n-1), int64(ref.strides[i]))
			if !ok || d > math.MaxInt64-extent {
				return nil, fmt.Errorf("shape %v with strides %v overflows", ref.shape, ref.strides)
			}
			extent += d
		}
	}
	if numel == 0 {
		return tensor.ZerosOf(st.typ.dt, ref.shape...), nil
	}
	if ref.offset >= st.numel || extent >= int64(st.numel-ref.offset) {
		return nil, fmt.Errorf("shape %v, strides %v at offset %d reach beyond the storage's %d elements",
			ref.shape, ref.strides, ref.offset, st.numel)
	}
	storage, err := l.storage(st)
	if err != nil {
		return nil, err
	}
	return makeView(storage, st.offset+ref.offset, ref.shape, ref.strides, st.offset+st.numel)
}

// storage returns the whole storage st refers to as a 1-d tensor, loading
// it once.
func (l *loader) storage(st *storageRef) (*tensor.Tensor, error) {
	if t, ok := l.loaded[st.key]; ok {
		return t, nil
	}
	src, ok := l.sources[st.key]
	if !ok {
		return nil, fmt.Errorf("storage %q has no data in the file", st.key)
	}
	t, err := l.load(src, st.typ, st.rootNumel)
	if l.mem != nil && src.zf == nil {
		release(l.mem, src.off, src.n)
	}
	if err != nil {
		return nil, fmt.Errorf("storage %q: %w", st.key, err)
	}
	l.loaded[st.key] = t
	return t, nil
}

// load reads numel elements of type st from src into a new 1-d tensor.
func (l *loader) load(src source, st storageType, numel int) (*tensor.Tensor, error) {
	if src.zf == nil && l.mem != nil {
		b := l.mem[src.off : src.off+src.n]
		if src.check && crc32.ChecksumIEEE(b) != src.crc {
			return nil, errors.New("CRC-32 mismatch: the file is corrupt")
		}
		if t, ok := direct(st, b, l.little); ok {
			return t, nil
		}
	}
	// In chunks: beside the tensor, one chunk of scratch memory.
	out := tensor.ZerosOf(st.dt, numel)
	per := max(chunkBytes/st.size, 1)
	var rc io.ReadCloser
	if src.zf != nil {
		var err error
		if rc, err = src.zf.Open(); err != nil {
			return nil, err
		}
		defer rc.Close()
	}
	var buf []byte
	if l.mem == nil || rc != nil {
		buf = make([]byte, min(per, numel)*st.size)
	}
	crc := uint32(0)
	for lo := 0; lo < numel; lo += per {
		m := min(per, numel-lo)
		nb := int64(m * st.size)
		off := src.off + int64(lo*st.size)
		var b []byte
		switch {
		case rc != nil:
			b = buf[:nb]
			if _, err := io.ReadFull(rc, b); err != nil {
				return nil, fmt.Errorf("reading data: %w", unexpected(err))
			}
		case l.mem != nil:
			b = l.mem[off : off+nb]
		default:
			b = buf[:nb]
			if err := readFull(l.r, b, off); err != nil {
				return nil, fmt.Errorf("reading data: %w", err)
			}
			if src.check {
				crc = crc32.Update(crc, crc32.IEEETable, b)
			}
		}
		piece, ok := direct(st, b, l.little)
		if !ok {
			piece = decodeChunk(st, b, l.little)
		}
		out.Narrow(0, lo, m).CopyIn(piece)
	}
	if rc != nil {
		// The zip reader checks the size and CRC when it reaches the end.
		if n, err := rc.Read(make([]byte, 1)); n != 0 || err != io.EOF {
			if err == nil || err == io.EOF {
				err = errors.New("more data than the record's size")
			}
			return nil, fmt.Errorf("reading data: %w", err)
		}
	} else if l.mem == nil && src.check && crc != src.crc {
		return nil, errors.New("CRC-32 mismatch: the file is corrupt")
	}
	return out, nil
}
