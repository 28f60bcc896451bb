// Package alloc is the CUDA backend's caching allocator: device memory
// goes back to a cache on release and is handed out again, so that a
// training loop in steady state makes no driver allocation.
//
// Requests are rounded up to size classes (512 bytes, then four classes
// per power of two: 2^k·{1, 1.25, 1.5, 1.75}), and a released block is
// cached under its class and the stream it was used on. The cache is
// stream-ordered: a block released on stream s may be handed out at once
// for later work on s, because the stream runs that work after what was
// queued before; it is never handed to another stream.
//
// Tensors that die unreferenced give their blocks back from a cleanup,
// after a garbage collection, and Go's collector paces itself by the Go
// heap, which knows nothing of device memory. So the allocator paces
// collections itself ([Allocator.SetCollector]): it counts the bytes
// handed out since its last collection and not freed since, and when a
// request would go to the driver with that debt over a limit, it
// collects first and serves the request from what came back.
//
// When the device reports out of memory, the allocator collects, then
// waits for the
// device (so no queued kernel still uses a cached block), frees every
// cached block, and tries once more; if that fails too the error wraps
// backend.ErrOutOfMemory and states the request, the bytes in use and
// cached, and the device's free and total memory.
//
// The device is an interface ([Device]), so the allocator is tested
// against a fake with no driver.
package alloc
