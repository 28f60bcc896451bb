package cu

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"unsafe"

	"github.com/tapir-ml/tapir/backend/cuda/internal/dl"
)

// Handles of driver objects.
type (
	Device   int32
	Context  uintptr
	Module   uintptr
	Function uintptr
	Stream   uintptr
	DevPtr   uintptr
)

// Device attributes used by the backend (CUdevice_attribute).
const (
	AttrMaxThreadsPerBlock  = 1
	AttrMultiprocessorCount = 16
	AttrComputeCapMajor     = 75
	AttrComputeCapMinor     = 76
)

// Result codes the backend tests for.
const (
	Success          = 0
	ErrorOutOfMemory = 2
	ErrorNoDevice    = 100
)

// ErrOutOfMemory matches an *Error whose code is CUDA_ERROR_OUT_OF_MEMORY.
var ErrOutOfMemory = errors.New("cuda: out of memory")

// Error is a failed driver call.
type Error struct {
	Call string // e.g. "cuMemAlloc_v2"
	Code int
	Name string // from cuGetErrorName, e.g. "CUDA_ERROR_OUT_OF_MEMORY"
	Msg  string // from cuGetErrorString
}

func (e *Error) Error() string {
	s := fmt.Sprintf("cuda: %s: %s (%d)", e.Call, e.Name, e.Code)
	if e.Msg != "" {
		s += ": " + e.Msg
	}
	return s
}

// Is matches ErrOutOfMemory for CUDA_ERROR_OUT_OF_MEMORY.
func (e *Error) Is(target error) bool { return target == ErrOutOfMemory && e.Code == ErrorOutOfMemory }

// Driver is the bound driver library.
type Driver struct {
	Path string

	cuInit, cuDriverGetVersion, cuDeviceGetCount, cuDeviceGet, cuDeviceGetName uintptr
	cuDeviceGetAttribute, cuDeviceTotalMem, cuDevicePrimaryCtxRetain           uintptr
	cuDevicePrimaryCtxRelease, cuCtxSetCurrent, cuCtxSynchronize               uintptr
	cuMemAlloc, cuMemFree, cuMemGetInfo, cuMemcpyHtoD, cuMemcpyDtoH            uintptr
	cuMemcpyDtoDAsync, cuMemsetD8Async, cuStreamCreate, cuStreamDestroy        uintptr
	cuStreamSynchronize, cuModuleLoadData, cuModuleGetFunction                 uintptr
	cuModuleUnload, cuLaunchKernel, cuGetErrorName, cuGetErrorString           uintptr
}

// Load opens libcuda and binds its functions; it does not call cuInit.
func Load() (*Driver, error) {
	h, err := dl.OpenCached(dl.Driver)
	if err != nil {
		return nil, fmt.Errorf("cuda: no driver: %w", err)
	}
	return bind(h)
}

func bind(h *dl.Handle) (*Driver, error) {
	d := &Driver{Path: h.Path}
	err := h.Bind(map[string]*uintptr{
		"cuInit":                       &d.cuInit,
		"cuDriverGetVersion":           &d.cuDriverGetVersion,
		"cuDeviceGetCount":             &d.cuDeviceGetCount,
		"cuDeviceGet":                  &d.cuDeviceGet,
		"cuDeviceGetName":              &d.cuDeviceGetName,
		"cuDeviceGetAttribute":         &d.cuDeviceGetAttribute,
		"cuDeviceTotalMem_v2":          &d.cuDeviceTotalMem,
		"cuDevicePrimaryCtxRetain":     &d.cuDevicePrimaryCtxRetain,
		"cuDevicePrimaryCtxRelease_v2": &d.cuDevicePrimaryCtxRelease,
		"cuCtxSetCurrent":              &d.cuCtxSetCurrent,
		"cuCtxSynchronize":             &d.cuCtxSynchronize,
		"cuMemAlloc_v2":                &d.cuMemAlloc,
		"cuMemFree_v2":                 &d.cuMemFree,
		"cuMemGetInfo_v2":              &d.cuMemGetInfo,
		"cuMemcpyHtoD_v2":              &d.cuMemcpyHtoD,
		"cuMemcpyDtoH_v2":              &d.cuMemcpyDtoH,
		"cuMemcpyDtoDAsync_v2":         &d.cuMemcpyDtoDAsync,
		"cuMemsetD8Async":              &d.cuMemsetD8Async,
		"cuStreamCreate":               &d.cuStreamCreate,
		"cuStreamDestroy_v2":           &d.cuStreamDestroy,
		"cuStreamSynchronize":          &d.cuStreamSynchronize,
		"cuModuleLoadData":             &d.cuModuleLoadData,
		"cuModuleGetFunction":          &d.cuModuleGetFunction,
		"cuModuleUnload":               &d.cuModuleUnload,
		"cuLaunchKernel":               &d.cuLaunchKernel,
		"cuGetErrorName":               &d.cuGetErrorName,
		"cuGetErrorString":             &d.cuGetErrorString,
	})
	if err != nil {
		return nil, fmt.Errorf("cuda: driver %s: %w", h.Path, err)
	}
	return d, nil
}

// check turns a CUresult into an error naming call.
func (d *Driver) check(call string, r uintptr) error {
	code := int(int32(r))
	if code == Success {
		return nil
	}
	e := &Error{Call: call, Code: code}
	if d != nil && d.cuGetErrorName != 0 {
		var p uintptr
		if rr := dl.Call(d.cuGetErrorName, r, uintptr(unsafe.Pointer(&p))); rr == 0 {
			e.Name = dl.GoString(p)
		}
		if rr := dl.Call(d.cuGetErrorString, r, uintptr(unsafe.Pointer(&p))); rr == 0 {
			e.Msg = dl.GoString(p)
		}
	}
	if e.Name == "" {
		e.Name = fallbackName(code)
	}
	return e
}

// fallbackName names the common codes when cuGetErrorName cannot.
func fallbackName(code int) string {
	switch code {
	case 1:
		return "CUDA_ERROR_INVALID_VALUE"
	case 2:
		return "CUDA_ERROR_OUT_OF_MEMORY"
	case 3:
		return "CUDA_ERROR_NOT_INITIALIZED"
	case 35:
		return "CUDA_ERROR_INSUFFICIENT_DRIVER"
	case 100:
		return "CUDA_ERROR_NO_DEVICE"
	case 101:
		return "CUDA_ERROR_INVALID_DEVICE"
	case 200:
		return "CUDA_ERROR_INVALID_IMAGE"
	case 218:
		return "CUDA_ERROR_INVALID_PTX"
	case 222:
		return "CUDA_ERROR_UNSUPPORTED_PTX_VERSION"
	case 500:
		return "CUDA_ERROR_NOT_FOUND"
	case 700:
		return "CUDA_ERROR_ILLEGAL_ADDRESS"
	case 701:
		return "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES"
	}
	return "CUDA_ERROR_UNKNOWN_CODE"
}

// call calls fn and checks its result. It is marked uintptrescapes, as
// dl.Call is, so that pointers converted to uintptr in its argument list
// stay put (on the heap) and alive during the call.
//
//go:uintptrescapes
func (d *Driver) call(name string, fn uintptr, args ...uintptr) error {
	return d.check(name, dl.Call(fn, args...))
}

// Init calls cuInit(0).
func (d *Driver) Init() error { return d.call("cuInit", d.cuInit, 0) }

// Version is the driver's CUDA version, e.g. 13000 for 13.0.
func (d *Driver) Version() (int, error) {
	var v int32
	err := d.call("cuDriverGetVersion", d.cuDriverGetVersion, uintptr(unsafe.Pointer(&v)))
	return int(v), err
}

// DeviceCount is the number of CUDA devices.
func (d *Driver) DeviceCount() (int, error) {
	var n int32
	err := d.call("cuDeviceGetCount", d.cuDeviceGetCount, uintptr(unsafe.Pointer(&n)))
	return int(n), err
}

// DeviceGet returns device ordinal i.
func (d *Driver) DeviceGet(i int) (Device, error) {
	var dev int32
	err := d.call("cuDeviceGet", d.cuDeviceGet, uintptr(unsafe.Pointer(&dev)), uintptr(i))
	return Device(dev), err
}

// DeviceName is the device's marketing name.
func (d *Driver) DeviceName(dev Device) (string, error) {
	buf := make([]byte, 256)
	if err := d.call("cuDeviceGetName", d.cuDeviceGetName, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), uintptr(dev)); err != nil {
		return "", err
	}
	n := 0
	for n < len(buf) && buf[n] != 0 {
		n++
	}
	return string(buf[:n]), nil
}

// Attribute reads a device attribute.
func (d *Driver) Attribute(dev Device, attr int) (int, error) {
	var v int32
	err := d.call("cuDeviceGetAttribute", d.cuDeviceGetAttribute, uintptr(unsafe.Pointer(&v)), uintptr(attr), uintptr(dev))
	return int(v), err
}

// TotalMem is the device's memory in bytes.
func (d *Driver) TotalMem(dev Device) (uint64, error) {
	var v uint64
	err := d.call("cuDeviceTotalMem_v2", d.cuDeviceTotalMem, uintptr(unsafe.Pointer(&v)), uintptr(dev))
	return v, err
}

// PrimaryCtxRetain retains the device's primary context.
func (d *Driver) PrimaryCtxRetain(dev Device) (Context, error) {
	var c uintptr
	err := d.call("cuDevicePrimaryCtxRetain", d.cuDevicePrimaryCtxRetain, uintptr(unsafe.Pointer(&c)), uintptr(dev))
	return Context(c), err
}

// PrimaryCtxRelease releases it.
func (d *Driver) PrimaryCtxRelease(dev Device) error {
	return d.call("cuDevicePrimaryCtxRelease_v2", d.cuDevicePrimaryCtxRelease, uintptr(dev))
}

// SetCurrent binds c to the calling OS thread.
func (d *Driver) SetCurrent(c Context) error {
	return d.call("cuCtxSetCurrent", d.cuCtxSetCurrent, uintptr(c))
}

// CtxSynchronize waits for the current context's work.
func (d *Driver) CtxSynchronize() error { return d.call("cuCtxSynchronize", d.cuCtxSynchronize) }

// MemAlloc allocates device memory.
func (d *Driver) MemAlloc(size uint64) (DevPtr, error) {
	var p uintptr
	err := d.call("cuMemAlloc_v2", d.cuMemAlloc, uintptr(unsafe.Pointer(&p)), uintptr(size))
	return DevPtr(p), err
}

// MemFree frees device memory.
func (d *Driver) MemFree(p DevPtr) error { return d.call("cuMemFree_v2", d.cuMemFree, uintptr(p)) }

// MemGetInfo returns the free and total device memory of the current context's device.
func (d *Driver) MemGetInfo() (free, total uint64, err error) {
	err = d.call("cuMemGetInfo_v2", d.cuMemGetInfo, uintptr(unsafe.Pointer(&free)), uintptr(unsafe.Pointer(&total)))
	return
}

// MemcpyHtoD copies src to device memory (synchronous).
func (d *Driver) MemcpyHtoD(dst DevPtr, src []byte) error {
	if len(src) == 0 {
		return nil
	}
	return d.call("cuMemcpyHtoD_v2", d.cuMemcpyHtoD, uintptr(dst), uintptr(unsafe.Pointer(&src[0])), uintptr(len(src)))
}

// MemcpyDtoH copies device memory to dst (synchronous).
func (d *Driver) MemcpyDtoH(dst []byte, src DevPtr) error {
	if len(dst) == 0 {
		return nil
	}
	return d.call("cuMemcpyDtoH_v2", d.cuMemcpyDtoH, uintptr(unsafe.Pointer(&dst[0])), uintptr(src), uintptr(len(dst)))
}

// MemcpyDtoDAsync copies n bytes between device buffers on s.
func (d *Driver) MemcpyDtoDAsync(dst, src DevPtr, n uint64, s Stream) error {
	if n == 0 {
		return nil
	}
	return d.call("cuMemcpyDtoDAsync_v2", d.cuMemcpyDtoDAsync, uintptr(dst), uintptr(src), uintptr(n), uintptr(s))
}

// MemsetD8Async sets n bytes to v on s.
func (d *Driver) MemsetD8Async(dst DevPtr, v byte, n uint64, s Stream) error {
	if n == 0 {
		return nil
	}
	return d.call("cuMemsetD8Async", d.cuMemsetD8Async, uintptr(dst), uintptr(v), uintptr(n), uintptr(s))
}

// StreamCreate creates a stream with flags (0 default, 1 non-blocking).
func (d *Driver) StreamCreate(flags uint32) (Stream, error) {
	var s uintptr
	err := d.call("cuStreamCreate", d.cuStreamCreate, uintptr(unsafe.Pointer(&s)), uintptr(flags))
	return Stream(s), err
}

// StreamDestroy destroys s.
func (d *Driver) StreamDestroy(s Stream) error {
	return d.call("cuStreamDestroy_v2", d.cuStreamDestroy, uintptr(s))
}

// StreamSynchronize waits for s.
func (d *Driver) StreamSynchronize(s Stream) error {
	return d.call("cuStreamSynchronize", d.cuStreamSynchronize, uintptr(s))
}

// ModuleLoadData loads a PTX or cubin image (PTX must end in NUL; one is
// added if missing).
func (d *Driver) ModuleLoadData(image []byte) (Module, error) {
	if len(image) == 0 || image[len(image)-1] != 0 {
		image = append(append([]byte(nil), image...), 0)
	}
	var m uintptr
	err := d.call("cuModuleLoadData", d.cuModuleLoadData, uintptr(unsafe.Pointer(&m)), uintptr(unsafe.Pointer(&image[0])))
	return Module(m), err
}

// ModuleGetFunction looks up a kernel by name.
func (d *Driver) ModuleGetFunction(m Module, name string) (Function, error) {
	var f uintptr
	cname := dl.CString(name)
	if err := d.call("cuModuleGetFunction", d.cuModuleGetFunction, uintptr(unsafe.Pointer(&f)), uintptr(m), uintptr(unsafe.Pointer(&cname[0]))); err != nil {
		return 0, fmt.Errorf("%w (kernel %s)", err, name)
	}
	return Function(f), nil
}

// ModuleUnload unloads m.
func (d *Driver) ModuleUnload(m Module) error {
	return d.call("cuModuleUnload", d.cuModuleUnload, uintptr(m))
}

// Launch runs f on a grid of blocks with the packed arguments.
func (d *Driver) Launch(f Function, grid, block [3]uint32, shared uint32, s Stream, args *Args) error {
	params := args.pointers()
	var pp uintptr
	if len(params) > 0 {
		pp = uintptr(unsafe.Pointer(&params[0]))
	}
	r := dl.Call(d.cuLaunchKernel, uintptr(f),
		uintptr(grid[0]), uintptr(grid[1]), uintptr(grid[2]),
		uintptr(block[0]), uintptr(block[1]), uintptr(block[2]),
		uintptr(shared), uintptr(s), pp, 0)
	runtime.KeepAlive(params)
	return d.check("cuLaunchKernel", r)
}

// Args packs kernel arguments. Each value is stored 8-byte aligned in
// one heap buffer (Go's heap objects do not move), and the driver gets
// an array of pointers to them, as cuLaunchKernel's kernelParams.
type Args struct {
	vals [][]byte
}

// Ptr appends a device pointer.
func (a *Args) Ptr(p DevPtr) *Args { return a.U64(uint64(p)) }

// U64 appends a 64-bit integer.
func (a *Args) U64(v uint64) *Args {
	var b [8]byte
	for i := range b {
		b[i] = byte(v >> (8 * i))
	}
	a.vals = append(a.vals, b[:])
	return a
}

// I64 appends a signed 64-bit integer.
func (a *Args) I64(v int64) *Args { return a.U64(uint64(v)) }

// I32 appends a 32-bit integer.
func (a *Args) I32(v int32) *Args {
	u := uint32(v)
	a.vals = append(a.vals, []byte{byte(u), byte(u >> 8), byte(u >> 16), byte(u >> 24)})
	return a
}

// F64 appends a double.
func (a *Args) F64(v float64) *Args { return a.U64(math.Float64bits(v)) }

// F32 appends a float.
func (a *Args) F32(v float32) *Args { return a.I32(int32(math.Float32bits(v))) }

// Raw appends the bytes of a struct passed by value (its C layout).
func (a *Args) Raw(b []byte) *Args {
	a.vals = append(a.vals, append([]byte(nil), b...))
	return a
}

// Len is the number of arguments.
func (a *Args) Len() int { return len(a.vals) }

func (a *Args) pointers() []unsafe.Pointer {
	total := 0
	for _, v := range a.vals {
		total += (len(v) + 7) &^ 7
	}
	buf := make([]uint64, total/8+1) // 8-byte aligned heap block
	raw := unsafe.Slice((*byte)(unsafe.Pointer(&buf[0])), len(buf)*8)
	ps := make([]unsafe.Pointer, len(a.vals))
	off := 0
	for i, v := range a.vals {
		copy(raw[off:], v)
		ps[i] = unsafe.Pointer(&raw[off])
		off += (len(v) + 7) &^ 7
	}
	return ps
}
