package nvrtc

import (
	"fmt"
	"runtime"
	"strings"
	"unsafe"

	"github.com/tapir-ml/tapir/backend/cuda/internal/dl"
)

// Compiler is the bound NVRTC library.
type Compiler struct {
	Path         string
	Major, Minor int

	nvrtcCreateProgram, nvrtcCompileProgram, nvrtcGetPTXSize, nvrtcGetPTX uintptr
	nvrtcGetProgramLogSize, nvrtcGetProgramLog, nvrtcDestroyProgram       uintptr
	nvrtcGetErrorString, nvrtcVersion                                     uintptr
	nvrtcGetNumSupportedArchs, nvrtcGetSupportedArchs                     uintptr
}

// Load finds and binds NVRTC.
func Load() (*Compiler, error) {
	h, err := dl.OpenCached(dl.NVRTC)
	if err != nil {
		return nil, fmt.Errorf("nvrtc: %w", err)
	}
	c := &Compiler{Path: h.Path}
	if err := h.Bind(map[string]*uintptr{
		"nvrtcCreateProgram":        &c.nvrtcCreateProgram,
		"nvrtcCompileProgram":       &c.nvrtcCompileProgram,
		"nvrtcGetPTXSize":           &c.nvrtcGetPTXSize,
		"nvrtcGetPTX":               &c.nvrtcGetPTX,
		"nvrtcGetProgramLogSize":    &c.nvrtcGetProgramLogSize,
		"nvrtcGetProgramLog":        &c.nvrtcGetProgramLog,
		"nvrtcDestroyProgram":       &c.nvrtcDestroyProgram,
		"nvrtcGetErrorString":       &c.nvrtcGetErrorString,
		"nvrtcVersion":              &c.nvrtcVersion,
		"nvrtcGetNumSupportedArchs": &c.nvrtcGetNumSupportedArchs,
		"nvrtcGetSupportedArchs":    &c.nvrtcGetSupportedArchs,
	}, "nvrtcGetNumSupportedArchs", "nvrtcGetSupportedArchs"); err != nil {
		return nil, fmt.Errorf("nvrtc: %w", err)
	}
	var maj, min int32
	if err := c.check("nvrtcVersion", c.call(c.nvrtcVersion, uintptr(unsafe.Pointer(&maj)), uintptr(unsafe.Pointer(&min)))); err != nil {
		return nil, err
	}
	c.Major, c.Minor = int(maj), int(min)
	return c, nil
}

// call calls fn. Like dl.Call it is marked uintptrescapes: a
// pointer converted to uintptr in its argument list is moved to the heap
// and kept alive until call returns. Without it, an out-parameter on the
// goroutine stack (&prog) could move when the stack grows inside the
// call, and NVRTC would write to the old copy.
//
//go:uintptrescapes
func (c *Compiler) call(fn uintptr, args ...uintptr) uintptr {
	return dl.Call(fn, args...)
}

// Error is a failed NVRTC call.
type Error struct {
	Call string
	Code int
	Msg  string
	Log  string // the compiler's log, for nvrtcCompileProgram
}

func (e *Error) Error() string {
	s := fmt.Sprintf("nvrtc: %s: %s (%d)", e.Call, e.Msg, e.Code)
	if e.Log != "" {
		s += "\n" + e.Log
	}
	return s
}

func (c *Compiler) check(call string, r uintptr) error {
	code := int(int32(r))
	if code == 0 {
		return nil
	}
	return &Error{Call: call, Code: code, Msg: dl.GoString(c.call(c.nvrtcGetErrorString, r))}
}

// Version is "major.minor".
func (c *Compiler) Version() string { return fmt.Sprintf("%d.%d", c.Major, c.Minor) }

// SupportedArchs lists the SM versions this NVRTC compiles for (e.g. 80,
// 90), or nil if the library cannot tell (before 11.2).
func (c *Compiler) SupportedArchs() []int {
	if c.nvrtcGetNumSupportedArchs == 0 || c.nvrtcGetSupportedArchs == 0 {
		return nil
	}
	var n int32
	if c.call(c.nvrtcGetNumSupportedArchs, uintptr(unsafe.Pointer(&n))) != 0 || n <= 0 {
		return nil
	}
	a := make([]int32, n)
	if c.call(c.nvrtcGetSupportedArchs, uintptr(unsafe.Pointer(&a[0]))) != 0 {
		return nil
	}
	out := make([]int, n)
	for i, v := range a {
		out[i] = int(v)
	}
	return out
}

// Compile compiles CUDA C source to PTX with the given options. On a
// compile error the returned *Error carries the log.
func (c *Compiler) Compile(src, name string, opts []string) ([]byte, error) {
	csrc, cname := dl.CString(src), dl.CString(name)
	var prog uintptr
	if err := c.check("nvrtcCreateProgram", c.call(c.nvrtcCreateProgram, uintptr(unsafe.Pointer(&prog)),
		uintptr(unsafe.Pointer(&csrc[0])), uintptr(unsafe.Pointer(&cname[0])), 0, 0, 0)); err != nil {
		return nil, err
	}
	defer c.call(c.nvrtcDestroyProgram, uintptr(unsafe.Pointer(&prog)))

	copts := make([][]byte, len(opts))
	ptrs := make([]uintptr, len(opts)+1)
	for i, o := range opts {
		copts[i] = dl.CString(o)
		ptrs[i] = uintptr(unsafe.Pointer(&copts[i][0]))
	}
	r := c.call(c.nvrtcCompileProgram, prog, uintptr(len(opts)), uintptr(unsafe.Pointer(&ptrs[0])))
	runtime.KeepAlive(copts)
	if err := c.check("nvrtcCompileProgram", r); err != nil {
		err.(*Error).Log = c.log(prog)
		return nil, err
	}
	var size uintptr
	if err := c.check("nvrtcGetPTXSize", c.call(c.nvrtcGetPTXSize, prog, uintptr(unsafe.Pointer(&size)))); err != nil {
		return nil, err
	}
	ptx := make([]byte, size)
	if size > 0 {
		if err := c.check("nvrtcGetPTX", c.call(c.nvrtcGetPTX, prog, uintptr(unsafe.Pointer(&ptx[0])))); err != nil {
			return nil, err
		}
	}
	return ptx, nil
}

func (c *Compiler) log(prog uintptr) string {
	var size uintptr
	if c.call(c.nvrtcGetProgramLogSize, prog, uintptr(unsafe.Pointer(&size))) != 0 || size <= 1 {
		return ""
	}
	b := make([]byte, size)
	if c.call(c.nvrtcGetProgramLog, prog, uintptr(unsafe.Pointer(&b[0]))) != 0 {
		return ""
	}
	return strings.TrimRight(string(b), "\x00\n")
}

// ArchOptions returns the options for compiling to PTX for compute
// capability major.minor, capped at the newest arch this NVRTC supports
// (the driver JIT-compiles PTX for newer devices).
func (c *Compiler) ArchOptions(major, minor int) []string {
	sm := major*10 + minor
	if archs := c.SupportedArchs(); len(archs) > 0 {
		best := archs[0]
		for _, a := range archs {
			if a <= sm && a > best {
				best = a
			}
		}
		sm = best
	}
	return Options(sm, c.Major)
}

// Options are the compile options for PTX of compute_<sm>: device code
// by default, C++14 (which NVRTC 11.x and later all accept).
func Options(sm, nvrtcMajor int) []string {
	std := "--std=c++14"
	if nvrtcMajor >= 12 {
		std = "--std=c++17"
	}
	return []string{fmt.Sprintf("--gpu-architecture=compute_%d", sm), "-default-device", std}
}
