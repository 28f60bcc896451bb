// Package text holds Tapir's text models, GPT-2 and BERT, built from
// package nn modules with Hugging Face's parameter names so that their
// checkpoints load as they are, and GPT-2's byte-level BPE tokenizer.
//
// # GPT-2
//
// [NewGPT2] builds Hugging Face's GPT2LMHeadModel from a [GPT2Config]
// (zero fields mean GPT-2 small's values); [LoadGPT2] builds one and loads
// a safetensors checkpoint, and [GPT2.LoadStateDict] loads a state dict
// read by other means (zoo.LoadTorch for .pt files). The keys are
// Hugging Face's — transformer.wte.weight, transformer.h.0.attn.c_attn.weight
// with Conv1D's [in, 3·out] layout, …, lm_head.weight tied to the token
// embedding — and the common variants of saved checkpoints load too
// (with or without the "transformer." prefix, lm_head.weight and the
// attention-mask buffers). [LoadGPT2Config] reads config.json.
//
// [GPT2.Forward] maps token ids [B, T] to logits [B, T, vocab].
// [GPT2.Generate] decodes incrementally through a [KVCache], greedily or
// by sampling with temperature, top-k and top-p (nucleus) filtering as
// Hugging Face's logits warpers do, from a seeded tensor.Generator, and
// stops at end-of-sequence tokens. [GPT2.ForwardCached] is the step it
// is built on: decoding through the cache gives the logits a full pass
// over the whole sequence gives.
//
// # BERT
//
// [NewBERT] and [LoadBERT] build Hugging Face's BertModel from a
// [BERTConfig] (zero fields mean BERT-base's values), with its keys
// (embeddings.word_embeddings.weight, embeddings.LayerNorm.weight,
// encoder.layer.0.attention.self.query.weight, …, pooler.dense.weight).
// [BERT.Forward] takes ids, token types and an attention mask and returns
// the sequence output and the pooled output.
//
// # Tokenizer
//
// [Tokenizer] is GPT-2's byte-level BPE, read from vocab.json and
// merges.txt by [LoadTokenizer]. [Pretokenize] splits text with GPT-2's
// pattern, matched by hand since Go's regexp has no lookahead; each
// piece's bytes are mapped to printable characters and merged by rank.
// Encode and Decode round-trip any string, byte for byte.
//
// # Fidelity
//
// The tests compare with fixtures that testdata/gen_fixtures.py makes
// with PyTorch: torch modules with Hugging Face's names and math (Debian
// has no transformers package), and a restatement of GPT-2's
// encoder.py run with the regex module. Logits agree within rtol 1e-4,
// greedy generations token for token.
//
// Not implemented: attention masks for GPT-2 (batches of prompts of one
// length only), GPT-2's scale_attn_by_inverse_layer_idx and
// reorder_and_upcast_attn options, untied heads, and BERT's relative
// position embeddings and decoder mode.
package text
