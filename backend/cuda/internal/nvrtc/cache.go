package nvrtc

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
)

// CompileFunc compiles source to PTX.
type CompileFunc func(src, name string, opts []string) ([]byte, error)

// Cache compiles through Compile unless the output is on disk already.
type Cache struct {
	Dir     string      // "" keeps nothing on disk
	Salt    string      // the NVRTC and driver versions, part of every key
	Compile CompileFunc // the compiler

	mu       sync.Mutex
	inflight map[string]*sync.Mutex
	misses   atomic.Int64
}

// CacheEnv names the cache directory's override.
const CacheEnv = "TAPIR_CUDA_CACHE"

// DefaultDir is the cache directory: $TAPIR_CUDA_CACHE ("off": none),
// else os.UserCacheDir()/tapir/cuda, else none.
func DefaultDir(getenv func(string) string) string {
	if d := getenv(CacheEnv); d != "" {
		if d == "off" {
			return ""
		}
		return d
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(d, "tapir", "cuda")
}

// Salt is the version part of cache keys.
func Salt(nvrtcVersion string, driverVersion int) string {
	return fmt.Sprintf("nvrtc %s; driver %d", nvrtcVersion, driverVersion)
}

// Compiles is the number of times Get called the compiler.
func (c *Cache) Compiles() int64 { return c.misses.Load() }

// Key is the cache key of a compilation.
func (c *Cache) Key(src, name string, opts []string) string {
	h := sha256.New()
	for _, s := range []string{"tapir-ptx-v1", c.Salt, name, strings.Join(opts, "\x00"), src} {
		fmt.Fprintf(h, "%d:%s;", len(s), s)
	}
	return hex.EncodeToString(h.Sum(nil))
}

const magic = "TAPIR-PTX1\n"

// Get returns the PTX of src, from disk if a valid entry is there, else
// compiling it and storing the result.
func (c *Cache) Get(src, name string, opts []string) ([]byte, error) {
	key := c.Key(src, name, opts)
	lk := c.lock(key)
	lk.Lock()
	defer lk.Unlock()
	path := ""
	if c.Dir != "" {
		path = filepath.Join(c.Dir, key+".ptx")
		if b, err := os.ReadFile(path); err == nil {
			if ptx, ok := decode(b); ok {
				return ptx, nil
			}
		}
	}
	c.misses.Add(1)
	ptx, err := c.Compile(src, name, opts)
	if err != nil {
		return nil, err
	}
	if path != "" {
		_ = writeAtomic(path, encode(ptx)) // a cache that cannot be written is only slower
	}
	return ptx, nil
}

func (c *Cache) lock(key string) *sync.Mutex {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.inflight == nil {
		c.inflight = map[string]*sync.Mutex{}
	}
	m := c.inflight[key]
	if m == nil {
		m = new(sync.Mutex)
		c.inflight[key] = m
	}
	return m
}

func encode(ptx []byte) []byte {
	sum := sha256.Sum256(ptx)
	var b bytes.Buffer
	b.WriteString(magic)
	b.WriteString(hex.EncodeToString(sum[:]))
	b.WriteByte('\n')
	b.Write(ptx)
	return b.Bytes()
}

func decode(b []byte) ([]byte, bool) {
	if !bytes.HasPrefix(b, []byte(magic)) || len(b) < len(magic)+65 {
		return nil, false
	}
	b = b[len(magic):]
	want, ptx := string(b[:64]), b[65:]
	if b[64] != '\n' {
		return nil, false
	}
	sum := sha256.Sum256(ptx)
	return ptx, hex.EncodeToString(sum[:]) == want
}

func writeAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return err
	}
	_, werr := f.Write(data)
	cerr := f.Close()
	if werr != nil || cerr != nil {
		os.Remove(f.Name())
		if werr != nil {
			return werr
		}
		return cerr
	}
	if err := os.Rename(f.Name(), path); err != nil {
		os.Remove(f.Name())
		return err
	}
	return nil
}
