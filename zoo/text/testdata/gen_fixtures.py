#!/usr/bin/python3
"""Fixtures for package zoo/text, written without Tapir.

Debian has neither transformers nor safetensors, so this script carries
its own oracles:

  * a byte-level BPE trainer and, separately, a reference encoder that
    follows GPT-2's published encoder.py (bytes_to_unicode, get_pairs, the
    bpe() merge loop and the pre-tokenization pattern, run with the
    `regex` module exactly as encoder.py does);
  * GPT-2 and BERT as ~100-line torch modules with Hugging Face's
    parameter names and math (GPT-2: Conv1D = x @ W + b with W [in, out],
    gelu_new, causal mask filled with finfo.min, pre-LN, lm_head tied to
    wte; BERT: post-LN, exact erf gelu, extended attention mask
    (1 - mask) * finfo.min, tanh pooler);
  * Hugging Face's temperature, top-k and top-p logits warpers.

Tensors are written in the safetensors format with struct and json.
Run it with Debian's PyTorch and regex:

    apt-get install python3-torch python3-regex
    /usr/bin/python3 zoo/text/testdata/gen_fixtures.py

It writes, next to this script:

  vocab.json, merges.txt  a byte-level BPE vocabulary (256 byte symbols,
                 MERGES merges, <|endoftext|>) trained on a few paragraphs
                 of public-domain text (the Gettysburg Address, the
                 Preamble of the US Constitution, a Grimm fairy-tale
                 opening), in GPT-2's file formats.
  bpe_cases.json test strings (unicode, spaces, contractions, numbers,
                 emoji, random mixtures) with the pre-tokens of GPT-2's
                 pattern and the token ids of the reference encoder.
  gpt2.safetensors        a small GPT2LMHeadModel's full state dict in
                 Hugging Face's names, with the attn.bias / attn.masked_bias
                 buffers and lm_head.weight, as older transformers saved it.
  gpt2.pt        the same state dict written by torch.save, as
                 pytorch_model.bin files are (zip format).
  gpt2_config.json        its config.json (Hugging Face's field names).
  gpt2_io.safetensors     input ids and logits; greedy generations (20 new
                 tokens, computed with and without the KV cache, which
                 agree); the logits of every cached decoding step.
  bert.safetensors, bert_config.json, bert_io.safetensors  the same for a
                 small BertModel: ids, token types, attention mask (with
                 padding), sequence and pooled output.
  sampling.safetensors    logits rows and, per warper setting, Hugging
                 Face's warped probabilities (0 outside top-k / nucleus).
"""
import collections
import json
import math
import os
import random
import struct

import regex as re
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
MERGES = 300

# --------------------------------------------------------------------------
# GPT-2's encoder.py (openai/gpt-2, src/encoder.py), restated.

PAT = re.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(2 ** 8):
        if b not in bs:
            bs.append(b)
            cs.append(2 ** 8 + n)
            n += 1
    return dict(zip(bs, [chr(n) for n in cs]))


def get_pairs(word):
    pairs = set()
    prev = word[0]
    for ch in word[1:]:
        pairs.add((prev, ch))
        prev = ch
    return pairs


class Encoder:
    def __init__(self, encoder, bpe_merges):
        self.encoder = encoder
        self.decoder = {v: k for k, v in encoder.items()}
        self.byte_encoder = bytes_to_unicode()
        self.byte_decoder = {v: k for k, v in self.byte_encoder.items()}
        self.bpe_ranks = dict(zip(bpe_merges, range(len(bpe_merges))))
        self.cache = {}

    def bpe(self, token):
        if token in self.cache:
            return self.cache[token]
        word = tuple(token)
        pairs = get_pairs(word)
        if not pairs:
            return token
        while True:
            bigram = min(pairs, key=lambda pair: self.bpe_ranks.get(pair, float('inf')))
            if bigram not in self.bpe_ranks:
                break
            first, second = bigram
            new_word = []
            i = 0
            while i < len(word):
                try:
                    j = word.index(first, i)
                    new_word.extend(word[i:j])
                    i = j
                except ValueError:
                    new_word.extend(word[i:])
                    break
                if word[i] == first and i < len(word) - 1 and word[i + 1] == second:
                    new_word.append(first + second)
                    i += 2
                else:
                    new_word.append(word[i])
                    i += 1
            word = tuple(new_word)
            if len(word) == 1:
                break
            pairs = get_pairs(word)
        word = ' '.join(word)
        self.cache[token] = word
        return word

    def encode(self, text):
        bpe_tokens = []
        for token in re.findall(PAT, text):
            token = ''.join(self.byte_encoder[b] for b in token.encode('utf-8'))
            bpe_tokens.extend(self.encoder[bpe_token] for bpe_token in self.bpe(token).split(' '))
        return bpe_tokens

    def decode(self, tokens):
        text = ''.join([self.decoder[token] for token in tokens])
        return bytearray([self.byte_decoder[c] for c in text]).decode('utf-8', errors="replace")


# --------------------------------------------------------------------------
# A plain BPE trainer (the merges it learns only need to be some valid
# merge list; encoding follows encoder.py above, not the trainer).

CORPUS = """\
Four score and seven years ago our fathers brought forth on this continent, a new nation, \
conceived in Liberty, and dedicated to the proposition that all men are created equal.
Now we are engaged in a great civil war, testing whether that nation, or any nation so \
conceived and so dedicated, can long endure. We are met on a great battle-field of that war. \
We have come to dedicate a portion of that field, as a final resting place for those who here \
gave their lives that that nation might live. It is altogether fitting and proper that we \
should do this.
But, in a larger sense, we can not dedicate -- we can not consecrate -- we can not hallow -- \
this ground. The brave men, living and dead, who struggled here, have consecrated it, far \
above our poor power to add or detract. The world will little note, nor long remember what \
we say here, but it can never forget what they did here. It is for us the living, rather, to \
be dedicated here to the unfinished work which they who fought here have thus far so nobly \
advanced. It is rather for us to be here dedicated to the great task remaining before us -- \
that from these honored dead we take increased devotion to that cause for which they gave the \
last full measure of devotion -- that we here highly resolve that these dead shall not have \
died in vain -- that this nation, under God, shall have a new birth of freedom -- and that \
government of the people, by the people, for the people, shall not perish from the earth.
We the People of the United States, in Order to form a more perfect Union, establish Justice, \
insure domestic Tranquility, provide for the common defence, promote the general Welfare, and \
secure the Blessings of Liberty to ourselves and our Posterity, do ordain and establish this \
Constitution for the United States of America.
In olden times when wishing still helped one, there lived a king whose daughters were all \
beautiful, but the youngest was so beautiful that the sun itself, which has seen so much, \
was astonished whenever it shone in her face. Close by the king's castle lay a great dark \
forest, and under an old lime-tree in the forest was a well, and when the day was very warm, \
the king's child went out into the forest and sat down by the side of the cool fountain; and \
when she was bored she took a golden ball, and threw it up on high and caught it; and this \
ball was her favorite plaything. "I'll give you whatever you'd like," she said; "don't cry." \
It's 1863, and they've walked 42 miles in 3 days.
Ein Märchen: Es war einmal ein König, der hatte eine schöne Tochter. Café, naïve, über, façade.
"""


def train_bpe(text, n_merges):
    byte_encoder = bytes_to_unicode()
    words = collections.Counter(
        tuple(byte_encoder[b] for b in tok.encode('utf-8')) for tok in re.findall(PAT, text))
    merges = []
    for _ in range(n_merges):
        counts = collections.Counter()
        for w, c in words.items():
            for pair in zip(w, w[1:]):
                counts[pair] += c
        if not counts:
            break
        best = max(counts, key=lambda p: (counts[p], p))
        merges.append(best)
        merged = collections.Counter()
        for w, c in words.items():
            out, i = [], 0
            while i < len(w):
                if i < len(w) - 1 and (w[i], w[i + 1]) == best:
                    out.append(w[i] + w[i + 1])
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            merged[tuple(out)] += c
        words = merged
    return merges


TEST_STRINGS = [
    "",
    "Hello world",
    "Hello, world!",
    " leading space",
    "trailing space ",
    "trailing spaces   ",
    "two  spaces and three   spaces",
    "tabs\tand\t\ttabs",
    "new\nline\n\nparagraph\n",
    "\r\nwindows\r\n",
    " \n \n x",
    "I'm he's we'll they've you'd she's it'd don't can't",
    "IT'S CAPITAL 'S doesn't split 'S",
    "'s at the start, and ''s doubled, and 'll",
    "the king's castle",
    "numbers 1863 42 3.14159 1,000,000 2024-01-01",
    "abc123def 456ghi",
    "naïve café façade über Märchen",
    "中文字符测试，还有标点。",
    "日本語のテキスト",
    "한국어 텍스트",
    "Ελληνικά και русский текст",
    "emoji 👍🏽 🇺🇸 👨‍👩‍👧 🎉🎉",
    "mixed👍word",
    "superscript x² and roman Ⅻ and arabic ٣٤",
    "nbsp\u00a0here and ideographic\u3000space",
    "em\u2003space and line\u2028separator",
    "combining e\u0301 and a\u0308",
    "punctuation!!! ??? ... --- ***",
    "<|endoftext|>",
    "before<|endoftext|>after <|endoftext|> spaced",
    "    ",
    "\n",
    "a",
    " ",
    "x \t y",
    "Four score and seven years ago our fathers brought forth",
    "dedicated dedicate dedication",
]


def random_strings(n, seed):
    rng = random.Random(seed)
    alphabet = list("abcXYZ'stre lmdv  \t\n0129.,!?-") + \
        ["é", "ß", "中", "٣", "²", "\u00a0", "\u3000", "👍", "\u0301", "<|endoftext|>", "'s", "'ll"]
    out = []
    for _ in range(n):
        k = rng.randint(1, 24)
        out.append(''.join(rng.choice(alphabet) for _ in range(k)))
    return out


def split_special(text, specials):
    """Splits text around the special tokens (longest first), as a tokenizer
    with added tokens does."""
    parts = [(text, False)]
    for sp in sorted(specials, key=len, reverse=True):
        nxt = []
        for s, is_sp in parts:
            if is_sp:
                nxt.append((s, True))
                continue
            pieces = s.split(sp)
            for i, piece in enumerate(pieces):
                if i > 0:
                    nxt.append((sp, True))
                if piece:
                    nxt.append((piece, False))
        parts = nxt
    return parts


def make_bpe():
    merges = train_bpe(CORPUS, MERGES)
    byte_encoder = bytes_to_unicode()
    vocab = {}
    for ch in byte_encoder.values():
        vocab[ch] = len(vocab)
    for a, b in merges:
        if a + b not in vocab:
            vocab[a + b] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    with open(os.path.join(HERE, "vocab.json"), "w") as f:
        json.dump(vocab, f)  # ASCII with \u escapes, as GPT-2's encoder.json
    with open(os.path.join(HERE, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n")
        for a, b in merges:
            f.write(a + " " + b + "\n")
    enc = Encoder(vocab, merges)
    cases = []
    for text in TEST_STRINGS + random_strings(300, 1234):
        ids = enc.encode(text)
        assert enc.decode(ids) == text
        special = []
        for piece, is_sp in split_special(text, ["<|endoftext|>"]):
            special.extend([vocab[piece]] if is_sp else enc.encode(piece))
        cases.append({"text": text, "pretokens": re.findall(PAT, text), "ids": ids,
                      "ids_special": special,
                      "tokens": [enc.decoder[i] for i in ids]})
    with open(os.path.join(HERE, "bpe_cases.json"), "w") as f:
        json.dump({"vocab_size": len(vocab), "merges": len(merges), "cases": cases}, f, indent=0)
    return vocab


# --------------------------------------------------------------------------
# safetensors, written by hand.

ST_DTYPES = {torch.float32: "F32", torch.float64: "F64", torch.int64: "I64", torch.uint8: "U8",
             torch.bool: "BOOL", torch.int32: "I32"}


def save_safetensors(path, tensors, metadata=None):
    header, blobs, off = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, t in tensors.items():
        t = t.detach().contiguous()
        raw = t.numpy().tobytes() if t.dtype != torch.bool else t.to(torch.uint8).numpy().tobytes()
        header[name] = {"dtype": ST_DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


# --------------------------------------------------------------------------
# GPT-2 with Hugging Face's names (transformers' modeling_gpt2.py, restated).

class GPT2Config:
    def __init__(self, **kw):
        self.vocab_size, self.n_positions, self.n_embd = 50257, 1024, 768
        self.n_layer, self.n_head, self.n_inner = 12, 12, None
        self.layer_norm_epsilon = 1e-5
        self.resid_pdrop = self.embd_pdrop = self.attn_pdrop = 0.1
        self.__dict__.update(kw)


class Conv1D(nn.Module):
    def __init__(self, nf, nx):
        super().__init__()
        self.nf = nf
        self.weight = nn.Parameter(torch.empty(nx, nf).normal_(std=0.02))
        self.bias = nn.Parameter(torch.zeros(nf))

    def forward(self, x):
        size_out = x.size()[:-1] + (self.nf,)
        x = torch.addmm(self.bias, x.view(-1, x.size(-1)), self.weight)
        return x.view(size_out)


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


class GPT2Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        n = c.n_positions
        self.register_buffer("bias", torch.tril(torch.ones((n, n), dtype=torch.uint8)).view(1, 1, n, n))
        self.register_buffer("masked_bias", torch.tensor(-1e4))
        self.embed_dim, self.num_heads = c.n_embd, c.n_head
        self.head_dim = c.n_embd // c.n_head
        self.c_attn = Conv1D(3 * c.n_embd, c.n_embd)
        self.c_proj = Conv1D(c.n_embd, c.n_embd)
        self.attn_dropout = nn.Dropout(c.attn_pdrop)
        self.resid_dropout = nn.Dropout(c.resid_pdrop)

    def _attn(self, q, k, v):
        w = torch.matmul(q, k.transpose(-1, -2))
        w = w / torch.full([], v.size(-1) ** 0.5, dtype=w.dtype)
        ql, kl = q.size(-2), k.size(-2)
        causal = self.bias[:, :, kl - ql:kl, :kl].bool()
        w = torch.where(causal, w, torch.full([], torch.finfo(w.dtype).min, dtype=w.dtype))
        w = self.attn_dropout(F.softmax(w, dim=-1))
        return torch.matmul(w, v)

    def _split(self, t):
        return t.view(t.size()[:-1] + (self.num_heads, self.head_dim)).permute(0, 2, 1, 3)

    def forward(self, h, layer_past=None):
        q, k, v = self.c_attn(h).split(self.embed_dim, dim=2)
        q, k, v = self._split(q), self._split(k), self._split(v)
        if layer_past is not None:
            k = torch.cat((layer_past[0], k), dim=-2)
            v = torch.cat((layer_past[1], v), dim=-2)
        a = self._attn(q, k, v).permute(0, 2, 1, 3).contiguous()
        a = a.view(a.size()[:-2] + (self.embed_dim,))
        return self.resid_dropout(self.c_proj(a)), (k, v)


class GPT2MLP(nn.Module):
    def __init__(self, inner, c):
        super().__init__()
        self.c_fc = Conv1D(inner, c.n_embd)
        self.c_proj = Conv1D(c.n_embd, inner)
        self.dropout = nn.Dropout(c.resid_pdrop)

    def forward(self, h):
        return self.dropout(self.c_proj(gelu_new(self.c_fc(h))))


class GPT2Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        inner = c.n_inner if c.n_inner is not None else 4 * c.n_embd
        self.ln_1 = nn.LayerNorm(c.n_embd, eps=c.layer_norm_epsilon)
        self.attn = GPT2Attention(c)
        self.ln_2 = nn.LayerNorm(c.n_embd, eps=c.layer_norm_epsilon)
        self.mlp = GPT2MLP(inner, c)

    def forward(self, h, layer_past=None):
        a, present = self.attn(self.ln_1(h), layer_past)
        h = h + a
        return h + self.mlp(self.ln_2(h)), present


class GPT2Model(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.wte = nn.Embedding(c.vocab_size, c.n_embd)
        self.wpe = nn.Embedding(c.n_positions, c.n_embd)
        self.drop = nn.Dropout(c.embd_pdrop)
        self.h = nn.ModuleList([GPT2Block(c) for _ in range(c.n_layer)])
        self.ln_f = nn.LayerNorm(c.n_embd, eps=c.layer_norm_epsilon)

    def forward(self, ids, past=None):
        past_len = 0 if past is None else past[0][0].size(-2)
        pos = torch.arange(past_len, past_len + ids.size(-1), dtype=torch.long).unsqueeze(0)
        h = self.drop(self.wte(ids) + self.wpe(pos))
        presents = []
        for i, block in enumerate(self.h):
            h, p = block(h, None if past is None else past[i])
            presents.append(p)
        return self.ln_f(h), presents


class GPT2LMHeadModel(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.transformer = GPT2Model(c)
        self.lm_head = nn.Linear(c.n_embd, c.vocab_size, bias=False)
        self.lm_head.weight = self.transformer.wte.weight  # tied

    def forward(self, ids, past=None):
        h, presents = self.transformer(ids, past)
        return self.lm_head(h), presents


def randomize(model, g, scale):
    """Replaces every parameter with random values large enough that the
    logits are well separated (Hugging Face's 0.02 init gives near-ties)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("ln_1.weight") or name.endswith("ln_2.weight") or name.endswith("ln_f.weight") \
                    or name.endswith("LayerNorm.weight"):
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=g))
            elif p.dim() == 1:
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            elif "wte" in name or "wpe" in name or "embeddings" in name:
                p.copy_(scale * torch.randn(p.shape, generator=g))
            else:
                fan_in = p.shape[0] if "c_" in name else p.shape[1]  # Conv1D is [in, out]
                p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(fan_in))


def greedy(model, prompt, n, cached):
    ids = prompt.clone()
    past, step_logits = None, []
    for _ in range(n):
        if cached:
            inp = ids if past is None else ids[:, -1:]
            logits, past = model(inp, past)
            step_logits.append(logits[:, -1])
        else:
            logits, _ = model(ids)
        last = logits[:, -1]
        top2 = torch.topk(last, 2, dim=-1).values
        assert (top2[:, 0] - top2[:, 1]).min() > 1e-3, "greedy step too close to a tie"
        ids = torch.cat([ids, last.argmax(-1, keepdim=True)], dim=1)
    return ids, step_logits


def make_gpt2(vocab_size):
    c = GPT2Config(vocab_size=vocab_size, n_positions=32, n_embd=32, n_layer=2, n_head=2)
    torch.manual_seed(6)
    model = GPT2LMHeadModel(c)
    randomize(model, torch.Generator().manual_seed(2), 0.5)
    model.eval()
    sd = model.state_dict()
    assert "lm_head.weight" in sd and "transformer.h.0.attn.bias" in sd
    save_safetensors(os.path.join(HERE, "gpt2.safetensors"), sd, {"format": "pt"})
    torch.save(sd, os.path.join(HERE, "gpt2.pt"))  # pytorch_model.bin's layout: lm_head shares wte's storage
    with open(os.path.join(HERE, "gpt2_config.json"), "w") as f:
        json.dump({"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2",
                   "activation_function": "gelu_new", "vocab_size": c.vocab_size,
                   "n_positions": c.n_positions, "n_ctx": c.n_positions, "n_embd": c.n_embd,
                   "n_layer": c.n_layer, "n_head": c.n_head, "n_inner": None,
                   "layer_norm_epsilon": c.layer_norm_epsilon, "resid_pdrop": 0.1,
                   "embd_pdrop": 0.1, "attn_pdrop": 0.1, "initializer_range": 0.02,
                   "bos_token_id": vocab_size - 1, "eos_token_id": vocab_size - 1}, f, indent=2)
    g = torch.Generator().manual_seed(3)
    io = {}
    with torch.no_grad():
        ids = torch.randint(0, c.vocab_size, (2, 7), generator=g)
        io["input_ids"] = ids
        io["logits"], _ = model(ids)
        prompt = torch.randint(0, c.vocab_size, (2, 5), generator=g)
        full, _ = greedy(model, prompt, 20, cached=False)
        cached, step_logits = greedy(model, prompt, 20, cached=True)
        assert torch.equal(full, cached)
        io["prompt"] = prompt
        io["greedy"] = full
        io["step_logits"] = torch.stack(step_logits, dim=1)  # [B, 20, V]
        # a one-token prompt, for the example
        p1 = torch.tensor([[vocab_size - 1]])
        io["prompt1"] = p1
        io["greedy1"], _ = greedy(model, p1, 20, cached=False)
    save_safetensors(os.path.join(HERE, "gpt2_io.safetensors"), io)
    return model, io


# --------------------------------------------------------------------------
# BERT with Hugging Face's names (transformers' modeling_bert.py, restated).

class BertEmbeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.word_embeddings = nn.Embedding(c["vocab_size"], c["hidden_size"], padding_idx=0)
        self.position_embeddings = nn.Embedding(c["max_position_embeddings"], c["hidden_size"])
        self.token_type_embeddings = nn.Embedding(c["type_vocab_size"], c["hidden_size"])
        self.LayerNorm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])
        self.dropout = nn.Dropout(c["hidden_dropout_prob"])
        self.register_buffer("position_ids", torch.arange(c["max_position_embeddings"]).expand((1, -1)))

    def forward(self, ids, tt):
        pos = self.position_ids[:, :ids.size(1)]
        e = self.word_embeddings(ids) + self.token_type_embeddings(tt) + self.position_embeddings(pos)
        return self.dropout(self.LayerNorm(e))


class BertSelfAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.h, self.d = c["num_attention_heads"], c["hidden_size"] // c["num_attention_heads"]
        self.query = nn.Linear(c["hidden_size"], c["hidden_size"])
        self.key = nn.Linear(c["hidden_size"], c["hidden_size"])
        self.value = nn.Linear(c["hidden_size"], c["hidden_size"])
        self.dropout = nn.Dropout(c["attention_probs_dropout_prob"])

    def t(self, x):
        return x.view(x.size()[:-1] + (self.h, self.d)).permute(0, 2, 1, 3)

    def forward(self, x, mask):
        q, k, v = self.t(self.query(x)), self.t(self.key(x)), self.t(self.value(x))
        s = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.d) + mask
        p = self.dropout(F.softmax(s, dim=-1))
        ctx = torch.matmul(p, v).permute(0, 2, 1, 3).contiguous()
        return ctx.view(ctx.size()[:-2] + (self.h * self.d,))


class BertSelfOutput(nn.Module):
    def __init__(self, c, inner):
        super().__init__()
        self.dense = nn.Linear(inner, c["hidden_size"])
        self.LayerNorm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])
        self.dropout = nn.Dropout(c["hidden_dropout_prob"])

    def forward(self, h, inp):
        return self.LayerNorm(self.dropout(self.dense(h)) + inp)


class BertAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.self = BertSelfAttention(c)
        self.output = BertSelfOutput(c, c["hidden_size"])

    def forward(self, x, mask):
        return self.output(self.self(x, mask), x)


class BertIntermediate(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c["hidden_size"], c["intermediate_size"])

    def forward(self, x):
        return F.gelu(self.dense(x))  # exact (erf) gelu, Hugging Face's "gelu"


class BertLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.attention = BertAttention(c)
        self.intermediate = BertIntermediate(c)
        self.output = BertSelfOutput(c, c["intermediate_size"])  # BertOutput: same shape of math

    def forward(self, x, mask):
        a = self.attention(x, mask)
        return self.output(self.intermediate(a), a)


class BertEncoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.layer = nn.ModuleList([BertLayer(c) for _ in range(c["num_hidden_layers"])])

    def forward(self, x, mask):
        for l in self.layer:
            x = l(x, mask)
        return x


class BertPooler(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c["hidden_size"], c["hidden_size"])
        self.activation = nn.Tanh()

    def forward(self, h):
        return self.activation(self.dense(h[:, 0]))


class BertModel(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embeddings = BertEmbeddings(c)
        self.encoder = BertEncoder(c)
        self.pooler = BertPooler(c)

    def forward(self, ids, tt, attention_mask):
        ext = attention_mask[:, None, None, :].to(torch.float32)
        ext = (1.0 - ext) * torch.finfo(torch.float32).min
        seq = self.encoder(self.embeddings(ids, tt), ext)
        return seq, self.pooler(seq)


def make_bert():
    c = {"architectures": ["BertModel"], "model_type": "bert", "vocab_size": 97, "hidden_size": 32,
         "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 64,
         "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
         "max_position_embeddings": 40, "type_vocab_size": 2, "initializer_range": 0.02,
         "layer_norm_eps": 1e-12, "pad_token_id": 0, "position_embedding_type": "absolute"}
    torch.manual_seed(7)
    model = BertModel(c)
    randomize(model, torch.Generator().manual_seed(4), 0.5)
    model.eval()
    sd = model.state_dict()
    assert "embeddings.position_ids" in sd
    save_safetensors(os.path.join(HERE, "bert.safetensors"), sd, {"format": "pt"})
    with open(os.path.join(HERE, "bert_config.json"), "w") as f:
        json.dump(c, f, indent=2)
    g = torch.Generator().manual_seed(5)
    ids = torch.randint(1, 97, (2, 9), generator=g)
    tt = torch.zeros(2, 9, dtype=torch.long)
    tt[0, 5:] = 1
    tt[1, 4:] = 1
    mask = torch.ones(2, 9, dtype=torch.long)
    mask[1, 6:] = 0
    ids[1, 6:] = 0
    with torch.no_grad():
        seq, pooled = model(ids, tt, mask)
        seq0, pooled0 = model(ids, torch.zeros_like(tt), torch.ones_like(mask))
    save_safetensors(os.path.join(HERE, "bert_io.safetensors"), {
        "input_ids": ids, "token_type_ids": tt, "attention_mask": mask,
        "sequence_output": seq, "pooled_output": pooled,
        "sequence_output_defaults": seq0, "pooled_output_defaults": pooled0})


# --------------------------------------------------------------------------
# Hugging Face's logits warpers (generation/logits_process.py), restated.

def warp(scores, temperature, top_k, top_p):
    scores = scores.clone()
    if temperature != 1.0:
        scores = scores / temperature
    if top_k > 0:
        k = min(max(top_k, 1), scores.size(-1))
        remove = scores < torch.topk(scores, k)[0][..., -1, None]
        scores = scores.masked_fill(remove, -float("inf"))
    if top_p < 1.0:
        sorted_logits, sorted_idx = torch.sort(scores, descending=False)
        cum = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
        remove_sorted = cum <= (1 - top_p)
        remove_sorted[..., -1:] = 0
        # the nucleus boundary must not be a near-tie, or float rounding decides it
        gap = (cum - (1 - top_p)).abs()
        assert gap.min() > 1e-5, "top-p boundary too close to call"
        remove = remove_sorted.scatter(1, sorted_idx, remove_sorted)
        scores = scores.masked_fill(remove, -float("inf"))
    return F.softmax(scores, dim=-1)


SAMPLING = [  # (temperature, top_k, top_p)
    (1.0, 0, 1.0), (1.0, 5, 1.0), (1.0, 1, 1.0), (1.0, 0, 0.8), (0.7, 10, 0.9),
    (1.5, 0, 0.5), (2.0, 40, 0.95), (0.5, 3, 1.0),
]


def make_sampling(io):
    rows = [io["logits"][0, -1], io["logits"][1, 3], io["step_logits"][0, 10]]
    tie = torch.zeros_like(rows[0])
    tie[[3, 7, 11, 20]] = 2.0  # a four-way tie at the top-k=3 boundary: all kept, as HF does
    tie[[30, 31]] = 1.0
    rows.append(tie)
    logits = torch.stack(rows)
    out = {"logits": logits}
    for i, (t, k, p) in enumerate(SAMPLING):
        probs = []
        for r in range(logits.size(0)):
            if r == 3 and p < 1.0:
                probs.append(torch.full_like(logits[r], float("nan")))  # ties at the nucleus edge: not compared
                continue
            probs.append(warp(logits[r:r + 1], t, k, p)[0])
        out["probs_%d" % i] = torch.stack(probs)
    out["settings"] = torch.tensor(SAMPLING, dtype=torch.float64)
    save_safetensors(os.path.join(HERE, "sampling.safetensors"), out)


def main():
    vocab = make_bpe()
    _, io = make_gpt2(len(vocab))
    make_bert()
    make_sampling(io)


if __name__ == "__main__":
    main()
