package backend

// MSELosser computes the squared-error loss of two tensors, reduced to
// one number, and its gradient in one pass each (tensor.FusedMSELoss);
// without it package tensor composes Sub, Square and Sum or Mean. Like
// the interfaces of fused.go it is optional: the composition is its
// fallback and test oracle.
type MSELosser interface {
	// MSELoss sets dst, a 0-d view of x's DType, to Σ (x − y)² over the
	// elements of x and y, or with mean that sum divided by their number
	// (NaN for none). x and y are contiguous views of one float DType and
	// one shape. Each difference is rounded to the DType, as Binary's Sub
	// rounds it; the squares are summed as Reduce sums (Float32 in
	// float64, where the square of a float32 is exact) and the result
	// rounded once to the DType.
	MSELoss(dst, x, y View, mean bool)
	// MSELossBackward sets dx = (norm·(x − y))·g and dy = −dx per
	// element, each product rounded to the DType in that order (torch's
	// mse_loss_backward), g being the 0-d gradient of the loss and norm
	// (2, or 2/n for the mean) rounded to the DType first. Either of dx
	// and dy may be a view without storage, for an input that needs no
	// gradient. Every view is contiguous and of x's DType; dx and dy have
	// x's shape and overlap no input.
	MSELossBackward(dx, dy, x, y, g View, norm float64)
}
