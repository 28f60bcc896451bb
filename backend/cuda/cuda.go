package cuda

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/tapir-ml/tapir/backend"
	"github.com/tapir-ml/tapir/backend/cuda/internal/alloc"
	"github.com/tapir-ml/tapir/backend/cuda/internal/cu"
	"github.com/tapir-ml/tapir/backend/cuda/internal/cublas"
	"github.com/tapir-ml/tapir/backend/cuda/internal/kernels"
	"github.com/tapir-ml/tapir/backend/cuda/internal/nvrtc"
)

func init() { backend.Register(backend.CUDAType, open) }

var driver struct {
	once    sync.Once
	drv     *cu.Driver
	version int
	count   int
	err     error

	mu   sync.Mutex
	devs map[int]*Backend
}

// loadDriver opens libcuda and initializes it, once per process.
func loadDriver() (*cu.Driver, error) {
	driver.once.Do(func() {
		d, err := cu.Load()
		if err != nil {
			driver.err = err
			return
		}
		if err := d.Init(); err != nil {
			driver.err = fmt.Errorf("cuda: %s: %w", d.Path, err)
			return
		}
		if driver.version, err = d.Version(); err != nil {
			driver.err = err
			return
		}
		if driver.count, err = d.DeviceCount(); err != nil {
			driver.err = err
			return
		}
		driver.drv = d
	})
	return driver.drv, driver.err
}

// Available reports whether a CUDA driver and at least one device can be
// used, and if not, why.
func Available() error {
	if _, err := loadDriver(); err != nil {
		return err
	}
	if driver.count == 0 {
		return errors.New("cuda: the driver reports no device")
	}
	return nil
}

func open(index int) (backend.Backend, error) {
	drv, err := loadDriver()
	if err != nil {
		return nil, err
	}
	if index < 0 || index >= driver.count {
		return nil, fmt.Errorf("cuda: device %d does not exist (%d devices)", index, driver.count)
	}
	driver.mu.Lock()
	defer driver.mu.Unlock()
	if b := driver.devs[index]; b != nil {
		return b, nil
	}
	b, err := newBackend(drv, index)
	if err != nil {
		return nil, err
	}
	if driver.devs == nil {
		driver.devs = map[int]*Backend{}
	}
	driver.devs[index] = b
	return b, nil
}

// Backend runs kernels on one CUDA device; it implements backend.Backend.
type Backend struct {
	dev      backend.Device
	name     string
	drv      *cu.Driver
	cdev     cu.Device
	ctx      cu.Context
	sms      int
	major    int
	minor    int
	alloc    *alloc.Allocator
	compiler *nvrtc.Compiler
	cache    *nvrtc.Cache
	opts     []string
	stream   cu.Stream // the legacy default stream

	mu       sync.Mutex // serializes driver work of this device
	mods     map[string]cu.Module
	fns      map[string]cu.Function
	asyncErr error
	errBlk   *alloc.Block // 16 bytes: the index kernels' error flag and value

	blasOnce sync.Once
	blas     *cublas.Lib
	blasH    cublas.Handle
	blasErr  error
}

func newBackend(drv *cu.Driver, index int) (*Backend, error) {
	b := &Backend{dev: backend.CUDA(index), drv: drv, mods: map[string]cu.Module{}, fns: map[string]cu.Function{}}
	var err error
	if b.cdev, err = drv.DeviceGet(index); err != nil {
		return nil, err
	}
	if b.ctx, err = drv.PrimaryCtxRetain(b.cdev); err != nil {
		return nil, err
	}
	name, err := drv.DeviceName(b.cdev)
	if err != nil {
		return nil, err
	}
	if b.major, err = drv.Attribute(b.cdev, cu.AttrComputeCapMajor); err != nil {
		return nil, err
	}
	if b.minor, err = drv.Attribute(b.cdev, cu.AttrComputeCapMinor); err != nil {
		return nil, err
	}
	if b.sms, err = drv.Attribute(b.cdev, cu.AttrMultiprocessorCount); err != nil {
		return nil, err
	}
	b.compiler, err = nvrtc.Load()
	if err != nil {
		return nil, fmt.Errorf("cuda: NVRTC is needed to compile kernels: %w", err)
	}
	b.cache = &nvrtc.Cache{Dir: nvrtc.DefaultDir(os.Getenv), Salt: nvrtc.Salt(b.compiler.Version(), driver.version), Compile: b.compiler.Compile}
	b.opts = b.compiler.ArchOptions(b.major, b.minor)
	b.name = fmt.Sprintf("cuda:%d (%s, sm_%d%d, driver %d, NVRTC %s)", index, name, b.major, b.minor, driver.version, b.compiler.Version())
	b.alloc = alloc.New(devMem{b})
	b.alloc.SetCollector(collectGarbage, minGCDebt)
	err = b.do(func() error {
		blk, err := b.alloc.Alloc(16, alloc.Stream(b.stream))
		if err != nil {
			return err
		}
		b.errBlk = blk
		return drv.MemsetD8Async(cu.DevPtr(blk.Ptr), 0, 16, b.stream)
	})
	if err != nil {
		return nil, err
	}
	return b, nil
}

// devMem is the allocator's view of the driver; it runs under b.do.
type devMem struct{ b *Backend }

func (m devMem) Malloc(size uint64) (uintptr, error) {
	p, err := m.b.drv.MemAlloc(size)
	if err != nil {
		if errors.Is(err, cu.ErrOutOfMemory) {
			return 0, fmt.Errorf("%w: %w", alloc.ErrDeviceOOM, err)
		}
		return 0, err
	}
	return uintptr(p), nil
}
func (m devMem) Free(p uintptr) error { return m.b.drv.MemFree(cu.DevPtr(p)) }
func (m devMem) Sync() error          { return m.b.drv.CtxSynchronize() }
func (m devMem) MemInfo() (uint64, uint64, error) {
	return m.b.drv.MemGetInfo()
}

// do runs f with the device's context current on a locked OS thread,
// holding the device's lock.
func (b *Backend) do(f func() error) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := b.drv.SetCurrent(b.ctx); err != nil {
		return err
	}
	return f()
}

// run is do for methods without an error result: a failure is kept for
// the next Sync.
func (b *Backend) run(f func() error) {
	if err := b.do(f); err != nil {
		b.mu.Lock()
		if b.asyncErr == nil {
			b.asyncErr = err
		}
		b.mu.Unlock()
	}
}

// Device implements backend.Backend.
func (b *Backend) Device() backend.Device { return b.dev }

// Name implements backend.Backend.
func (b *Backend) Name() string { return b.name }

// buffer is device storage.
type buffer struct {
	blk *alloc.Block // nil for an empty buffer
	dt  backend.DType
	n   int
	dev backend.Device
}

func (s *buffer) DType() backend.DType   { return s.dt }
func (s *buffer) Len() int               { return s.n }
func (s *buffer) Device() backend.Device { return s.dev }

func (s *buffer) base() uintptr {
	if s.blk == nil {
		return 0
	}
	return s.blk.Ptr
}

// Alloc implements backend.Backend.
func (b *Backend) Alloc(dt backend.DType, n int) (backend.Storage, error) {
	s := &buffer{dt: dt, n: n, dev: b.dev}
	if n == 0 {
		return s, nil
	}
	err := b.do(func() error {
		blk, err := b.alloc.Alloc(uint64(n)*uint64(dt.Size()), alloc.Stream(b.stream))
		s.blk = blk
		return err
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Release implements backend.Backend.
func (b *Backend) Release(s backend.Storage) {
	if buf, ok := s.(*buffer); ok && buf.blk != nil {
		b.alloc.Free(buf.blk)
		buf.blk = nil
	}
}

// EmptyCache waits for the device and returns the allocator's cached
// memory to the driver.
func (b *Backend) EmptyCache() error { return b.do(b.alloc.EmptyCache) }

// MemoryStats reports the allocator's counters: bytes in use and cached,
// and driver allocations made.
func (b *Backend) MemoryStats() (inUse, cached uint64, driverAllocs int) {
	st := b.alloc.Stats()
	return st.InUse, st.Cached, st.Mallocs
}

// Sync implements backend.Backend.
func (b *Backend) Sync() error {
	err := b.do(func() error { return b.drv.CtxSynchronize() })
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.asyncErr != nil {
		err, b.asyncErr = errors.Join(b.asyncErr, err), nil
	}
	return err
}

func (b *Backend) pending() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	err := b.asyncErr
	b.asyncErr = nil
	return err
}

func buf(s backend.Storage) *buffer {
	bb, ok := s.(*buffer)
	if !ok {
		panic(fmt.Sprintf("cuda: storage of %T is not CUDA memory", s))
	}
	return bb
}

// ptr is the device address of element off of v's storage.
func ptr(v backend.View, off int) cu.DevPtr {
	return cu.DevPtr(buf(v.Storage).base() + uintptr(off*v.DType().Size()))
}

// Upload implements backend.Backend.
func (b *Backend) Upload(s backend.Storage, src []byte) error {
	if len(src) == 0 {
		return nil
	}
	bb := buf(s)
	if len(src) > bb.n*bb.dt.Size() {
		panic(fmt.Sprintf("cuda: upload of %d bytes into %d elements of %s", len(src), bb.n, bb.dt))
	}
	return b.do(func() error { return b.drv.MemcpyHtoD(cu.DevPtr(bb.base()), src) })
}

// Download implements backend.Backend.
func (b *Backend) Download(dst []byte, v backend.View) error {
	if err := b.pending(); err != nil {
		return err
	}
	n := v.Numel()
	if n == 0 {
		return nil
	}
	if len(dst) != n*v.DType().Size() {
		panic(fmt.Sprintf("cuda: download of %d elements of %s into %d bytes", n, v.DType(), len(dst)))
	}
	if v.IsContiguous() {
		return b.do(func() error { return b.drv.MemcpyDtoH(dst, ptr(v, v.Offset)) })
	}
	tmp, err := b.Alloc(v.DType(), n)
	if err != nil {
		return err
	}
	defer b.Release(tmp)
	tv := backend.View{Storage: tmp, Layout: backend.Contiguous(v.Shape)}
	b.Copy(tv, v)
	if err := b.pending(); err != nil {
		return err
	}
	return b.do(func() error { return b.drv.MemcpyDtoH(dst, ptr(tv, 0)) })
}

// function returns the kernel entry, compiling and loading its module
// on first use. It runs under b.do.
func (b *Backend) function(entry string) (cu.Function, error) {
	if f, ok := b.fns[entry]; ok {
		return f, nil
	}
	modName := kernels.ModuleOf(entry)
	if modName == "" {
		return 0, fmt.Errorf("cuda: no kernel %s", entry)
	}
	mod, ok := b.mods[modName]
	if !ok {
		m, _ := kernels.ModuleByName(modName)
		ptx, err := b.cache.Get(m.Source, m.Name+".cu", b.opts)
		if err != nil {
			return 0, fmt.Errorf("cuda: compiling %s: %w", m.Name, err)
		}
		if mod, err = b.drv.ModuleLoadData(ptx); err != nil {
			return 0, fmt.Errorf("cuda: loading %s: %w", m.Name, err)
		}
		b.mods[modName] = mod
	}
	f, err := b.drv.ModuleGetFunction(mod, entry)
	if err != nil {
		return 0, err
	}
	b.fns[entry] = f
	return f, nil
}

const blockSize = 256

// launch runs a grid-stride kernel over n items.
func (b *Backend) launch(entry string, n int64, args *cu.Args) error {
	grid := (n + blockSize - 1) / blockSize
	if limit := int64(max(b.sms, 1) * 32); grid > limit {
		grid = limit
	}
	return b.launchGrid(entry, uint32(max(grid, 1)), args)
}

// launchGrid runs a kernel on grid blocks of blockSize threads.
func (b *Backend) launchGrid(entry string, grid uint32, args *cu.Args) error {
	f, err := b.function(entry)
	if err != nil {
		return err
	}
	return b.drv.Launch(f, [3]uint32{grid, 1, 1}, [3]uint32{blockSize, 1, 1}, 0, b.stream, args)
}

// minGCDebt is the least device memory handed out, and not freed, since
// the allocator's last collection at which a request that finds no cached
// block runs a collection before asking the driver (see package alloc).
const minGCDebt = 256 << 20

// gcSentinel is an object made only to die, whose cleanup says that the
// cleanups of a GC cycle are running.
type gcSentinel struct {
	_ *int // a pointer keeps it out of the tiny allocator
	_ [8]byte
}

// collectGarbage runs a GC cycle and waits, briefly, for the cleanups it
// queued: tensors' storages give their device blocks back from
// runtime.AddCleanup, and the Go collector, pacing itself by the Go heap,
// never sees the device memory they hold.
func collectGarbage() {
	done := make(chan struct{})
	runtime.AddCleanup(new(gcSentinel), func(c chan struct{}) { close(c) }, done)
	runtime.GC()
	select {
	case <-done:
	case <-time.After(20 * time.Millisecond):
	}
	runtime.Gosched()
}
