//go:build !((linux || darwin || freebsd || netbsd) && (amd64 || arm64))

package dl

import (
	"errors"
	"runtime"
)

// Supported reports whether this platform can load and call C libraries:
// purego, which the CUDA backend calls through, needs cgo or its own
// fake runtime support, which exists for amd64 and arm64 only.
const Supported = false

var errUnsupported = errors.New("dynamic loading is not supported on " + runtime.GOOS + "/" + runtime.GOARCH)

func dlopen(string) (uintptr, error)         { return 0, errUnsupported }
func dlsym(uintptr, string) (uintptr, error) { return 0, errUnsupported }

// Call is never reached on this platform: no library opens, so there is
// no function to call.
func Call(uintptr, ...uintptr) uintptr { panic(errUnsupported) }
