//go:build ignore

// make_subset writes the small Fashion-MNIST subset that the fashion-mnist
// example embeds, so that it runs on a machine with neither the dataset
// nor a network: the first 300 training images of each class (3000) and
// the first 100 test images of each class (1000), in their original
// order, as gzip-compressed IDX files beside this program, with the
// dataset's MIT license. It reads the full dataset where
// data.FashionMNIST finds it (Debian's dataset-fashion-mnist, the cache,
// or -data DIR). The output is deterministic: run it again and the files
// do not change.
//
//	go run ./examples/fashion-mnist/subset/make_subset.go
package main

import (
	"compress/gzip"
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"runtime"

	"github.com/tapir-ml/tapir/data"
)

func main() {
	dir := flag.String("data", "", "directory holding the full Fashion-MNIST files (searched before the cache and Debian's path)")
	perTrain := flag.Int("train", 300, "training images per class")
	perTest := flag.Int("test", 100, "test images per class")
	flag.Parse()
	_, self, _, _ := runtime.Caller(0)
	out := filepath.Dir(self)
	for _, split := range []struct {
		train  bool
		prefix string
		per    int
	}{{true, "train", *perTrain}, {false, "t10k", *perTest}} {
		ds, err := data.LoadFashionMNIST(context.Background(), data.MNISTConfig{Dir: *dir, Train: split.train, NoDownload: true})
		if err != nil {
			log.Fatal(err)
		}
		var idx []int
		count := make([]int, len(ds.Classes))
		for i, l := range ds.Labels {
			if count[l] < split.per {
				count[l]++
				idx = append(idx, i)
			}
		}
		px := ds.Rows * ds.Cols
		images := make([]byte, 0, len(idx)*px)
		labels := make([]byte, 0, len(idx))
		for _, i := range idx {
			images = append(images, ds.Image(i)...)
			labels = append(labels, ds.Labels[i])
		}
		write(filepath.Join(out, split.prefix+"-images-idx3-ubyte.gz"), &data.IDX{Type: data.IDXUint8, Shape: []int{len(idx), ds.Rows, ds.Cols}, Data: images})
		write(filepath.Join(out, split.prefix+"-labels-idx1-ubyte.gz"), &data.IDX{Type: data.IDXUint8, Shape: []int{len(idx)}, Data: labels})
		fmt.Printf("%s: %d images from %s\n", split.prefix, len(idx), ds.Dir)
	}
	if err := os.WriteFile(filepath.Join(out, "LICENSE"), []byte(license), 0o644); err != nil {
		log.Fatal(err)
	}
}

func write(path string, x *data.IDX) {
	f, err := os.Create(path)
	if err != nil {
		log.Fatal(err)
	}
	zw, err := gzip.NewWriterLevel(f, gzip.BestCompression)
	if err != nil {
		log.Fatal(err)
	}
	if err := data.WriteIDX(zw, x); err != nil {
		log.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		log.Fatal(err)
	}
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}
}

// license is Fashion-MNIST's, as its README states it
// (github.com/zalandoresearch/fashion-mnist; Debian:
// /usr/share/doc/dataset-fashion-mnist/copyright).
const license = `The images and labels in this directory are a subset of Fashion-MNIST
(https://github.com/zalandoresearch/fashion-mnist), by Zalando Research:
the first 300 training and the first 100 test images of each class,
selected by make_subset.go. They are distributed under the dataset's
license:

The MIT License (MIT) Copyright © [2017] Zalando SE, https://tech.zalando.com

Permission is hereby granted, free of charge, to any person obtaining a copy of this software and associated documentation files (the “Software”), to deal in the Software without restriction, including without limitation the rights to use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies of the Software, and to permit persons to whom the Software is furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED “AS IS”, WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
`
