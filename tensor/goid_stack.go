//go:build !(amd64 || arm64) || purego

package tensor

import "runtime"

// goroutineKey identifies the calling goroutine among live ones: its id,
// read from the header line of its stack trace ("goroutine 123
// [running]:"). It costs about a microsecond; amd64 and arm64 builds
// without the purego tag read the runtime's goroutine pointer instead.
func goroutineKey() uintptr {
	var buf [64]byte
	n := runtime.Stack(buf[:], false)
	b := buf[:n]
	const prefix = "goroutine "
	if len(b) < len(prefix) {
		return 0
	}
	var id uintptr
	for _, c := range b[len(prefix):] {
		if c < '0' || c > '9' {
			break
		}
		id = id*10 + uintptr(c-'0')
	}
	return id
}
