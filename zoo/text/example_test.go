package text_test

import (
	"fmt"
	"log"

	"github.com/tapir-ml/tapir/nn"
	"github.com/tapir-ml/tapir/tensor"
	"github.com/tapir-ml/tapir/zoo/text"
)

// The examples use the small fixtures in testdata: a vocabulary of 557
// tokens trained on a few paragraphs, and randomly initialized models. With
// GPT-2's own files the calls are the same.

func ExampleTokenizer() {
	tok, err := text.LoadTokenizer("testdata/vocab.json", "testdata/merges.txt")
	if err != nil {
		log.Fatal(err)
	}
	ids := tok.Encode("Four score and seven years ago")
	// "Ġ" stands for the byte of a space.
	fmt.Println(ids)
	tokens := make([]string, len(ids))
	for i, id := range ids {
		tokens[i] = tok.Token(id)
	}
	fmt.Printf("%q\n", tokens)
	s, err := tok.Decode(ids)
	fmt.Printf("%q %v\n", s, err)
	eot, _ := tok.TokenID(text.EndOfText)
	fmt.Println(tok.EncodeWithSpecial("<|endoftext|>Four"), eot)
	// Output:
	// [37 301 81 266 66 308 275 380 267 77 510 258 70 78]
	// ["F" "ou" "r" "Ġs" "c" "ore" "Ġand" "Ġse" "ve" "n" "Ġyears" "Ġa" "g" "o"]
	// "Four score and seven years ago" <nil>
	// [556 37 301 81] 556
}

func ExamplePretokenize() {
	fmt.Printf("%q\n", text.Pretokenize("I'm 42,  he'll say:\n\tdon't!"))
	// Output:
	// ["I" "'m" " 42" "," " " " he" "'ll" " say" ":" "\n" "\t" "don" "'t" "!"]
}

func ExampleGPT2_Generate() {
	cfg, err := text.LoadGPT2Config("testdata/gpt2_config.json")
	if err != nil {
		log.Fatal(err)
	}
	m, err := text.LoadGPT2("testdata/gpt2.safetensors", cfg) // in eval mode
	if err != nil {
		log.Fatal(err)
	}
	tok, err := text.LoadTokenizer("testdata/vocab.json", "testdata/merges.txt")
	if err != nil {
		log.Fatal(err)
	}
	prompt := tok.EncodeWithSpecial(text.EndOfText)
	ids := make([]int64, len(prompt))
	for i, id := range prompt {
		ids[i] = int64(id)
	}
	out, err := m.Generate(tensor.FromSlice(ids), text.GenerateConfig{MaxNewTokens: 20})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(out.Shape(), out.Int64s())
	// Output:
	// [21] [556 272 272 272 272 138 138 138 138 138 138 138 138 138 138 138 138 138 138 138 138]
}

func ExampleGPT2_ForwardCached() {
	m := text.NewGPT2(text.GPT2Config{VocabSize: 100, NPositions: 64, NEmbd: 32, NLayer: 2, NHead: 4})
	nn.Eval(m)
	cache := m.NewCache()
	tensor.WithGradEnabled(false, func() {
		logits := m.ForwardCached(tensor.FromSlice([]int64{1, 2, 3, 4}, 1, 4), cache) // the prompt
		fmt.Println(logits.Shape(), cache.Len())
		next := logits.Select(1, 3).ArgMax(-1).Unsqueeze(1) // [1, 1]
		logits = m.ForwardCached(next, cache)               // one position's work
		fmt.Println(logits.Shape(), cache.Len())
	})
	// Output:
	// [1 4 100] 4
	// [1 1 100] 5
}

func ExampleNewGPT2() {
	m := text.NewGPT2(text.GPT2Config{VocabSize: 100, NPositions: 64, NEmbd: 32, NLayer: 2, NHead: 4})
	keys := nn.StateDictKeys(m)
	sd := nn.StateDict(m)
	for _, k := range keys[:6] {
		fmt.Println(k, sd[k].Shape())
	}
	fmt.Println(keys[len(keys)-1])
	// Output:
	// transformer.wte.weight [100 32]
	// transformer.wpe.weight [64 32]
	// transformer.h.0.ln_1.weight [32]
	// transformer.h.0.ln_1.bias [32]
	// transformer.h.0.attn.c_attn.weight [32 96]
	// transformer.h.0.attn.c_attn.bias [96]
	// lm_head.weight
}

func ExampleBERT_Forward() {
	cfg, err := text.LoadBERTConfig("testdata/bert_config.json")
	if err != nil {
		log.Fatal(err)
	}
	m, err := text.LoadBERT("testdata/bert.safetensors", cfg)
	if err != nil {
		log.Fatal(err)
	}
	ids := tensor.FromSlice([]int64{5, 17, 33, 2, 0, 0}, 1, 6)
	types := tensor.FromSlice([]int64{0, 0, 0, 1, 1, 1}, 1, 6)
	mask := tensor.FromSlice([]int64{1, 1, 1, 1, 0, 0}, 1, 6) // two padding tokens
	seq, pooled := m.Forward(ids, types, mask)
	fmt.Println(seq.Shape(), pooled.Shape())
	// Output:
	// [1 6 32] [1 32]
}
