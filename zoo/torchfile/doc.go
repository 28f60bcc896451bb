// Package torchfile reads and writes PyTorch's .pt/.pth files: the state
// dicts that torch.save writes and torch.load reads.
//
// # Reading
//
// [Load] and [Read] take both formats of torch.save: the zip format of
// torch 1.6 and later (an archive NAME/ holding data.pkl, one record
// data/KEY per storage, version and, from torch 2.1, byteorder) and the
// legacy format (_use_new_zipfile_serialization=False: pickles of a magic
// number, a protocol version, system information, the object and its
// storage keys, then each storage's element count and elements). The tar
// format of torch before 0.4 and TorchScript archives (torch.jit.save) are
// refused with an error that says so.
//
// The pickle is read with github.com/nlpodyssey/gopickle, and nothing in
// it is executed: torch._utils._rebuild_tensor_v2 and _rebuild_tensor,
// _rebuild_parameter (and _with_state), torch._tensor._rebuild_from_type_v2
// and the typed storage classes are understood; any other class or
// function becomes an opaque value. The file must hold a dict (dict or
// OrderedDict) whose keys are strings and values tensors, or a dict that
// holds one, as training checkpoints do, under the first of the keys
// "state_dict", "model_state_dict", "model", "module" and "net" that has
// one; the other entries of such a checkpoint (optimizer state, epoch,
// arguments) are skipped and their storages never read. Anything else — a list, a
// pickled nn.Module, a dict of dicts — is an error that names the types
// found. Keys are returned in the file's order; a "module." prefix (from
// nn.DataParallel) is kept as it is.
//
// # Dtypes
//
// Float, Double, Half, BFloat16, Long, Int, Byte and Bool storages load as
// Float32, Float64, Float16, BFloat16, Int64, Int32, Uint8 and Bool
// tensors with the file's bits; Short (int16) and Char (int8) storages,
// which package tensor lacks, load widened to Int32, every value exact (so
// saving them again writes int32). Complex, quantized and other storages
// are an error naming the storage class and the tensor. As in package
// tensor/safetensors, a 16-bit float NaN keeps its sign but its payload
// may change; every other value keeps its bits. Zip files written on a
// big-endian machine (byteorder "big") are converted.
//
// # Views and shared storage
//
// A tensor in the file is a storage seen through an offset, a shape and
// strides, and tensors may share a storage (a parameter and a slice of
// it, the same tensor under two names). Each storage is read once.
// Tensors whose layout package tensor's view ops can express — a dense
// block at any offset, transposed or permuted, with dims of stride 0 —
// are views that share the loaded storage, as torch.load's do; other
// layouts (steps, a column of a matrix) are copied into tensors of their
// own. A view that overlaps itself so that it has more elements than its
// storage is refused. Empty tensors are new tensors.
//
// # Memory
//
// [Load] memory-maps the file (on Unix) and copies each storage from the
// mapping into its tensor — aligned float32/64, int32/64 and uint8
// storages in one copy, the others converted a few MB at a time — and on
// Linux gives the mapped pages of each storage back once it is copied.
// Loading a model therefore needs its tensors' memory, plus the largest
// storage's pages while it is copied, plus a few MB; a 47 MB ResNet-18
// loads with a peak resident size of 59 MB. [Read] reads through ReadAt a
// few MB at a time. Storages of a compressed zip record are streamed.
//
// # Malformed files
//
// A file that is truncated, inconsistent or not a PyTorch file gives an
// error, never a panic, and nothing is allocated from a size the file
// claims before that size is checked against the file: every pickle is
// first scanned opcode by opcode (lengths within the file, at most
// [MaxPickleSize] bytes, integers of at most 256 bytes, marks nested at
// most 4096 deep), storages must fit their records (whose CRC-32 is
// checked), views their storages, and element counts must not overflow.
//
// # Writing
//
// [Write] and [Save] write the zip format that torch.load (1.6 and later)
// reads: a protocol-2 data.pkl of an OrderedDict of _rebuild_tensor_v2
// calls, one uncompressed record per tensor whose data starts at a
// multiple of 64 bytes, a byteorder record and a version record, laid out
// as torch's writer lays them out. Apart from the byteorder record, which
// torch 1.13 does not write, a file is byte for byte the one torch 1.13's
// torch.save(OrderedDict(...), f) writes for the same contiguous tensors.
// Every tensor is written contiguous with a storage of its own; views are
// written as copies, tensors that share storage once each, and a tensor
// that requires grad as one that does not. Files and records of 4 GiB and
// more use the zip64 extensions. [Save] replaces a file atomically.
package torchfile
