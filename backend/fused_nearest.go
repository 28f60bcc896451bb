package backend

// NearestInterpolater is the pair of kernels behind
// tensor.InterpolateNearest (F.Interpolate's nearest modes) that a
// backend may have (the CPU's does); package tensor otherwise composes
// the op from one IndexSelect per spatial dim. Along spatial dim d,
// output index o reads input index index[d][o], so
// len(index[d]) is the output's size along d; with one or two spatial
// dims.
type NearestInterpolater interface {
	// InterpolateNearest sets dst, a contiguous [N, C, O…], to the
	// elements of src, [N, C, S…] with any strides, that the indices
	// name: dst[n, c, o…] = src[n, c, index[0][o_0], …]. Float DTypes,
	// dst's and src's alike.
	InterpolateNearest(dst, src View, index [][]int)
	// InterpolateNearestBackward is InterpolateNearest's adjoint: it
	// sets dst, a contiguous [N, C, S…], to the sum of the elements of g,
	// a contiguous [N, C, O…], that read each input element, and 0 where
	// none does. The order of the sums is unspecified.
	InterpolateNearestBackward(dst, g View, index [][]int)
}
