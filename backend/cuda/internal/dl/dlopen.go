//go:build (linux || darwin || freebsd || netbsd) && (amd64 || arm64)

package dl

import "github.com/ebitengine/purego"

// Supported reports whether this platform can load and call C libraries.
const Supported = true

func dlopen(path string) (uintptr, error) {
	return purego.Dlopen(path, purego.RTLD_NOW|purego.RTLD_GLOBAL)
}

func dlsym(h uintptr, name string) (uintptr, error) { return purego.Dlsym(h, name) }

// Call calls the C function at fn with args and returns its result
// register. It is marked uintptrescapes, as purego.SyscallN is: a pointer
// converted to uintptr in its argument list is moved to the heap and kept
// alive until Call returns, so an out-parameter cannot move when the
// goroutine's stack grows during the call.
//
//go:uintptrescapes
func Call(fn uintptr, args ...uintptr) uintptr {
	r, _, _ := purego.SyscallN(fn, args...)
	return r
}
