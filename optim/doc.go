// Package optim holds Tapir's optimizers, learning-rate schedulers and
// gradient clipping, in the shape of torch.optim and
// torch.nn.utils.clip_grad_*: the same algorithms, option names, state
// and schedules, written to give PyTorch 1.13's numbers (the tests
// replay PyTorch trajectories to 1e-9 in float64).
//
// # Optimizers
//
// [NewSGD], [NewAdam], [NewAdamW], [NewRMSprop], [NewAdagrad] and
// [NewAdadelta] take the parameters to train (nn.Parameters(model), say)
// and a config struct. A training step is the familiar
//
//	opt.ZeroGrad()
//	loss := lossFn(model.Forward(x), y)
//	loss.Backward()
//	opt.Step()
//
// Step updates every parameter that has a gradient and skips those whose
// Grad is nil, as torch does. ZeroGrad sets the gradients to nil (torch's
// zero_grad(set_to_none=True), as tensor.Tensor.ZeroGrad does). Step
// records nothing for autograd, and writes the parameters in place, so
// the *nn.Parameter values a model holds see the update; state tensors
// are kept in each parameter's dtype (float32 or float64) and device. An
// optimizer is not safe for concurrent use; other goroutines may run
// forward passes while no Step is running.
//
// # Options
//
// The zero value of every config field means torch's default: an
// AdamConfig{} is Adam(lr=1e-3, betas=(0.9, 0.999), eps=1e-8). Two rules
// make the exceptions explicit:
//
//   - SGD has no default learning rate in torch, so SGDConfig.LR is
//     required: NewSGD panics when it is 0.
//   - Where torch's default is not 0 but 0 is a sensible choice, a No…
//     flag asks for 0: AdamWConfig.NoWeightDecay (torch's default weight
//     decay is 0.01), and ReduceLROnPlateauConfig's NoPatience and
//     NoThreshold. Adam's Betas count as unset only when both are 0, so
//     Betas{0, 0.99} gives β1 = 0.
//
// Like torch's constructors, New… panics on values out of range (a
// negative learning rate, β ≥ 1, Nesterov without momentum, an empty
// parameter list, a parameter in two groups); the panic value is an error
// whose text starts with "optim: ".
//
// # Parameter groups
//
// AddParamGroup (on each optimizer type) adds parameters with their own
// options, as torch's add_param_group; ParamGroups lists them. Unlike
// torch, fields left zero in a group's config take torch's defaults, not
// the first group's values; copy the first config to inherit from it:
//
//	cfg := optim.SGDConfig{LR: 0.1, Momentum: 0.9}
//	opt := optim.NewSGD(body, cfg)
//	cfg.LR = 0.01
//	opt.AddParamGroup(head, cfg)
//
// A [ParamGroup] holds its resolved options, defaults filled in, as a
// pointer to the optimizer's config type; LR, SetLR, Momentum and
// SetMomentum are what schedulers use (the momentum is SGD's and
// RMSprop's Momentum, β1 for Adam and AdamW), and any option may be
// changed between steps through a type assertion.
//
// One deliberate difference from torch 1.13: Adagrad fills a parameter's
// sum with its own group's InitialAccumulatorValue, where torch uses the
// constructor's value for every group (and fails on groups added later).
//
// # State dicts
//
// StateDict flattens torch's optimizer.state_dict() into a
// map[string]*tensor.Tensor, so that it can be written with safetensors
// next to the model's:
//
//	state.0.exp_avg         state tensor of parameter 0, by torch's name
//	state.0.step            its step count (0-d Float64)
//	param_groups.0.lr       an option (0-d Float64; bools 0-d Bool;
//	param_groups.0.betas    Adam's betas a Float64 pair)
//	param_groups.0.params   the group's parameter indices (Int64)
//	param_groups.0.initial_lr  set by the first scheduler
//
// Parameters are numbered across the groups in order, as in torch, and
// only parameters that have been stepped have state (all of them for
// Adagrad). LoadStateDict on an optimizer built the same way restores the
// options and the state exactly, so training resumes bit for bit; it
// checks everything first and returns a [*LoadError] listing every
// missing, unexpected and mismatched key.
//
// # Schedulers
//
// [NewStepLR], [NewMultiStepLR], [NewExponentialLR],
// [NewCosineAnnealingLR], [NewLinearLR] (and [NewLinearWarmup]) and
// [NewOneCycleLR] return [Scheduler]s: call Step after the optimizer's
// Step, once per epoch or per batch as the schedule is meant. Making one
// sets the groups' LRs for epoch 0, as torch's constructors do. They
// follow torch's chainable (recursive) forms, so several schedulers may
// drive one optimizer, each scaling the LR the other left.
// OneCycleLR also cycles the momentum (or Adam's β1). [NewReduceLROnPlateau]
// watches a metric: its Step takes it. Schedulers have StateDict and
// LoadStateDict for their counters; the LRs live in the optimizer's.
//
// # Gradient clipping
//
// [ClipGradNorm] rescales gradients to a maximum global p-norm (2 by
// default, math.Inf(1) for the largest magnitude) and returns the norm
// they had; [ClipGradValue] clamps each element.
//
// # Fused updates
//
// With Fused set in a group's config (torch's fused=True), SGD, Adam and
// AdamW update a parameter in one pass over its elements
// (tensor.FusedSGD, tensor.FusedAdam, which run the device backend's
// backend.FusedOptimizer kernels) when the backend has them and the
// parameter, its gradient and its state are contiguous and of one dtype;
// any other parameter, and every parameter by default, takes the
// composed update described below. The two paths round the same
// operations in the same order, so they give the same bits. A fused step
// allocates nothing below the CPU backend's parallel threshold. On the
// CPU, float32 steps run AVX2/AVX-512 kernels (float64 a Go loop): for
// the 670k parameters of a 784-512-512-10 MLP a fused Adam step took
// 0.44 ms of CPU time against 2.6 ms composed, and SGD with momentum
// 0.24 against 0.64 ms.
//
// # Memory
//
// Step allocates no tensor buffers once the state exists: updates run
// with the in-place ops of package tensor on the state tensors and on
// three scratch tensors per dtype and device, sized for the largest
// parameter and shared by all (the one exception is AMSGrad's running
// maximum, which needs an out-of-place Maximum). The small Go objects
// that each in-place op allocates remain, about ten per op.
package optim
