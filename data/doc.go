// Package data loads training data: datasets, samplers, a parallel batch
// loader, collate helpers, image transforms and readers for common file
// formats, in the shape of torch.utils.data and torchvision.
//
// # Datasets
//
// A [Dataset] is map-style: Len samples addressed by At(i), which returns
// an error rather than panicking when a sample cannot be made. An
// [IterableDataset] is a stream with no random access. [FromSlice],
// [Indices], [Subset], [Concat], [Map], [RandomSplit], [Iterate] and
// [Batched] build datasets from others. The readers return datasets of
// [Sample], an (Input, Target) pair of tensors:
//
//   - [FashionMNIST] and [MNIST] find the IDX files in a directory, the user
//     cache or Debian's dataset-fashion-mnist install path, or download
//     them from the official mirrors with their published checksums;
//     [ReadIDX] reads any IDX file, gzip-compressed or not;
//   - [CSV] reads a table with a header, numeric features and a label
//     column;
//   - [ImageFolder] indexes root/CLASS/IMAGE folders as torchvision's
//     ImageFolder and decodes PNG and JPEG lazily;
//   - [ReadText] tokenizes a corpus by character or word, with a [Vocab],
//     and [TextCorpus.Windows] cuts it into (input, next-token target)
//     windows for language models.
//
// # Loading batches
//
// A [Loader] turns a dataset into batches with a collate function such as
// [StackSamples]. Each call of [Loader.All] is an epoch:
//
//	loader := data.NewLoader(train, data.LoaderConfig{BatchSize: 64, Shuffle: true, Workers: 2}, data.StackSamples)
//	for epoch := range 10 {
//		for batch, err := range loader.All(ctx) {
//			if err != nil {
//				return err
//			}
//			// batch.Input [64, 1, 28, 28], batch.Target [64]
//		}
//	}
//
// Workers goroutines load up to Prefetch batches ahead of the consumer and
// the batches come out in order. Iteration stops cleanly, with every
// goroutine finished, when the loop breaks, when the context is done, or
// at the first failed sample, whose error ([SampleError]) names its index.
//
// # Randomness
//
// Everything random is reproducible from a seed and changes with the epoch:
// samplers ([RandomSampler], [WeightedRandomSampler],
// [DistributedSampler]) draw each epoch's order from their seed and the
// epoch number, and random transforms draw from a source seeded by the
// dataset's seed, the epoch and the sample's index, so a sample's
// augmentation does not depend on how many workers load it or in which
// order. A Loader tells datasets the epoch through [EpochSetter].
//
// # Transforms
//
// [ToTensor] converts an image.Image to a Float32 tensor [C, H, W] in
// [0, 1]; [Normalize], [CenterCrop], [RandomCrop], [RandomHorizontalFlip]
// and [Resize] work on such tensors as torchvision's transforms do, and
// [Compose] chains them. [WithTransform] applies one to a dataset's inputs.
package data
